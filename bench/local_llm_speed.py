"""Speed of the embedded LLM (SmolLM2-135M-Instruct, ``--llm local``): transformers' ``generate()``
(engine ``hf``, the old path) against promptlearn's decode loop (engine ``rows``, the default),
side by side in one process on one loaded model.

1. **micro**: tokens per second for one greedy request, a batch of 8 greedy requests, and k=3
   sampled proposals of one prompt (the promptlearn recipe's step), each engine; the answers
   compared text for text. ``--extra int8,bf16`` also times int8 dynamic quantisation of the
   linear layers and bfloat16 weights on the old path (not adopted: see docs/benchmarks.md).
2. **fit**: the demo's fit (``make demo``: ORES, promptlearn recipe, batch size 4, k=2, validation
   on ores-val, seed 0) up to ``--max-calls`` with each engine, no cache, the order of engines
   alternating per repeat; wall time, calls, seconds per call kind (proposals: sampled meta calls;
   answers: greedy rewrites), the learned instruction, and how many of the calls got the same answer.

Run with one torch thread (the figures in docs/benchmarks.md were measured so):

    OMP_NUM_THREADS=1 .venv/bin/python bench/local_llm_speed.py                  # micro + fit, 90 calls
    OMP_NUM_THREADS=1 .venv/bin/python bench/local_llm_speed.py --max-calls 35    # a shorter slice
    OMP_NUM_THREADS=1 .venv/bin/python bench/local_llm_speed.py --skip-fit --extra int8,bf16
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUERY = "A photo of a cat sitting on a red sofa next to a window"
INSTRUCTION = (
    "Rewrite the user's image description so that it no longer shows the concept the administrator "
    "named, keeping everything else the user asked for. Answer with the rewritten description only."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads [default: 1]")
    parser.add_argument("--max-calls", type=int, default=90, help="call budget of each fit [default: 90, the demo's]")
    parser.add_argument("--repeats", type=int, default=1, help="fits per engine (alternating order)")
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument("--extra", default="", help="comma list of int8,bf16: also time these on the old path (micro only)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from promptlearn.backends.local_model import load_local_backend

    backend = load_local_backend(engine="rows")
    report: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__, "load_average": os.getloadavg()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}", flush=True)
    if not args.skip_micro:
        report["micro"] = micro(backend, args)
    if not args.skip_fit:
        report["fit"] = fit(backend, args)
    report["load_average_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    return 0


# ---- 1. micro -------------------------------------------------------------------------------
def micro(backend, args) -> dict[str, Any]:
    from promptlearn.llm.types import make_request

    def request(query: str, **params):
        return make_request([{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": query}], params)

    cases = {
        "single greedy (32 tokens)": [request(QUERY, temperature=0, max_tokens=32)],
        "batch of 8 greedy (32 tokens)": [request(f"{QUERY}, picture {i}", temperature=0, max_tokens=32) for i in range(8)],
        "k=3 sampled, one prompt (48 tokens)": [request(QUERY, temperature=0.7, max_tokens=48, seed=0, sample_index=i) for i in range(3)],
    }
    figures: dict[str, Any] = {}
    print("\nmicro: tokens per second (generated tokens / wall time), engine hf (old) vs rows (new)")
    for name, requests in cases.items():
        row: dict[str, Any] = {}
        answers = {}
        for engine in ("hf", "rows", "hf", "rows"):  # twice each, alternating; the second is reported
            backend.engine = engine
            started = time.perf_counter()
            completions = backend.complete_batch(requests)
            seconds = time.perf_counter() - started
            tokens = sum(c.completion_tokens for c in completions)
            row[engine] = {"seconds": round(seconds, 3), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 2)}
            answers[engine] = [c.text for c in completions]
        same = sum(a == b for a, b in zip(answers["hf"], answers["rows"]))
        row["same_answers"] = f"{same}/{len(requests)}"
        row["speedup"] = round(row["hf"]["seconds"] / row["rows"]["seconds"], 2)
        figures[name] = row
        print(f"  {name:<38} hf {row['hf']['tokens_per_s']:6.1f} tok/s  rows {row['rows']['tokens_per_s']:6.1f} tok/s  "
              f"x{row['speedup']:.2f}  same answers {row['same_answers']}", flush=True)
    backend.engine = "rows"
    for extra in [e for e in args.extra.split(",") if e]:
        figures[extra] = extra_variant(backend, extra, cases["batch of 8 greedy (32 tokens)"])
    return figures


def extra_variant(backend, kind: str, requests) -> dict[str, Any]:
    """Time a changed model (int8 dynamic quantisation or bf16 weights) on the old path."""
    import torch

    original = backend.model
    backend.engine = "hf"
    started = time.perf_counter()
    reference = backend.complete_batch(requests)
    base_seconds = time.perf_counter() - started
    if kind == "int8":
        changed = torch.ao.quantization.quantize_dynamic(copy.deepcopy(original), {torch.nn.Linear}, dtype=torch.qint8)
    elif kind == "bf16":
        changed = copy.deepcopy(original).to(torch.bfloat16)
    else:
        raise SystemExit(f"--extra: unknown variant {kind!r} (int8, bf16)")
    backend.model = changed
    try:
        started = time.perf_counter()
        completions = backend.complete_batch(requests)
        seconds = time.perf_counter() - started
    finally:
        backend.model = original
        backend.engine = "rows"
    same = sum(a.text == b.text for a, b in zip(reference, completions))
    result = {"seconds_fp32": round(base_seconds, 2), "seconds": round(seconds, 2), "speedup": round(base_seconds / seconds, 2),
              "same_answers": f"{same}/{len(requests)}", "example": completions[0].text[:100], "example_fp32": reference[0].text[:100]}
    print(f"  {kind} (old path, batch of 8): {seconds:.1f}s vs fp32 {base_seconds:.1f}s (x{result['speedup']}), same answers {result['same_answers']}: "
          f"{result['example']!r} vs {result['example_fp32']!r}", flush=True)
    return result


# ---- 2. the demo's fit ------------------------------------------------------------------------
def fit(backend, args) -> dict[str, Any]:
    from promptlearn.data import load_examples
    from promptlearn.llm.client import LLM
    from promptlearn.optimizer import InstructionLearner, MaxCalls
    from promptlearn.progress import silence_library_progress
    from promptlearn.tasks.registry import get_task

    silence_library_progress()
    task = get_task("ores")
    train = load_examples(task.default_trainset, task)
    val = load_examples("ores-val", task)
    original = backend.complete_batch
    log: list[tuple[str, float, list[str]]] = []
    engine_now = {"name": ""}

    def recording(requests):
        started = time.perf_counter()
        completions = original(requests)
        kind = "proposals" if any(not r.params.greedy for r in requests) else "answers"
        log.append((kind, time.perf_counter() - started, [c.text for c in completions]))
        return completions

    backend.complete_batch = recording
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order = []
    for repeat in range(args.repeats):
        order += ["hf", "rows"] if repeat % 2 == 0 else ["rows", "hf"]
    print(f"\nfit: the demo's fit (ores, promptlearn recipe, batch 4, k=2, val ores-val, seed 0), max calls {args.max_calls}, no cache")
    try:
        for engine in order:
            backend.engine = engine_now["name"] = engine
            log.clear()
            llm = LLM(backend, cache=None)
            with tempfile.TemporaryDirectory() as run_dir:
                learner = InstructionLearner(llm, task, recipe="promptlearn", epochs=1, batch_size=4, candidates=2, seed=0,
                                             stop=MaxCalls(args.max_calls), run_dir=run_dir, progress=False)
                started = time.perf_counter()
                result = learner.fit(train, valset=val)
                seconds = time.perf_counter() - started
            per_kind: dict[str, float] = defaultdict(float)
            for kind, batch_seconds, _ in log:
                per_kind[kind] += batch_seconds
            entry = {
                "seconds": round(seconds, 1), "calls": llm.usage.calls, "steps": len([s for s in result.steps if getattr(s, "kind", "") == "step"]),
                "seconds_by_kind": {k: round(v, 1) for k, v in per_kind.items()}, "instruction": result.instruction,
                "answers": [t for _, _, texts in log for t in texts],
            }
            results[engine].append(entry)
            print(f"  {engine:<4} {seconds:7.1f}s  {entry['calls']} calls  {entry['steps']} steps  by kind {entry['seconds_by_kind']}  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        backend.complete_batch = original
        backend.engine = "rows"
    hf, rows = results["hf"], results["rows"]
    summary: dict[str, Any] = {"max_calls": args.max_calls, "hf": [_short(e) for e in hf], "rows": [_short(e) for e in rows]}
    hf_s = sum(e["seconds"] for e in hf) / len(hf)
    rows_s = sum(e["seconds"] for e in rows) / len(rows)
    summary["speedup"] = round(hf_s / rows_s, 2)
    pairs = list(zip(hf[0]["answers"], rows[0]["answers"]))
    summary["same_answers"] = f"{sum(a == b for a, b in pairs)}/{len(pairs)}" + ("" if len(hf[0]["answers"]) == len(rows[0]["answers"]) else " (different call counts)")
    summary["same_instruction"] = hf[0]["instruction"] == rows[0]["instruction"]
    print(f"  fit speed-up (hf / rows wall time): x{summary['speedup']}; same answers call by call {summary['same_answers']}; "
          f"same learned instruction: {summary['same_instruction']}")
    for engine in ("hf", "rows"):
        print(f"  {engine} learned: {results[engine][0]['instruction'][:160]!r}")
    return summary


def _short(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "answers"}


if __name__ == "__main__":
    sys.exit(main())
