"""Learning quality: does a learned instruction beat its starting point on held-out data?

Tasks x arms x seeds on one LLM (the embedded SmolLM2-135M, ``--llm local``, by default):

* ``p0``: the LLM's initial instruction (the promptlearn recipe's p_init answer, seeded);
* ``human``: the task's human-written instruction;
* ``paper-loop``: the paper's loop, one proposal per step, always taken, the last kept: the
  ``paper`` recipe on ORES; on the word tasks (the paper recipe's templates are ORES-only) the
  ``single`` recipe, the same loop shape with promptlearn's templates;
* ``promptlearn-start``: the promptlearn arm's starting instruction, as its recipe's ``start``
  chose it (``--start``; promptlearn's default ``best``: p_0 (the same text as ``p0``) and the
  task's human-written instruction, each with and without the recipe's demonstrations drawn from
  the training split (``--demos``), scored on validation, the best kept); so that what the start
  does and what the learning does are told apart;
* ``promptlearn``: the promptlearn recipe (k proposals, each with demonstrations, accept only if
  better on the mini-batch, the best on validation among the accepted ones).

Both learning arms get the same budget in LLM calls (``--calls``; a run stops at the first step
boundary past it) and start from the same data. Every arm is scored on the task's **test**
split (never seen while fitting) with the task's strict scorer (reported) and, where the task
declares one, its graded scorer. The validation score of every step's instruction is measured
after the fit for both learning arms (outside their budget; the cache makes promptlearn's own
validation calls free) and plotted per step.

Written to ``--out`` (docs/results/learning_quality by default): results.json, table.md (test
score mean +- std per arm and task, calls and wall time per arm), val_per_step.png and the
command. The full configuration (3 tasks x 3 seeds) is hours on 2 shared cores:

    .venv/bin/python bench/learning_quality.py --tasks ores,antonyms,plurals --seeds 0,1,2 --calls 120

A reduced configuration for a quick look:

    .venv/bin/python bench/learning_quality.py --tasks plurals --seeds 0 --calls 24 --batch-size 3 \\
        --candidates 2 --val-limit 4 --test-limit 10 --predict-max-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ARMS = ("p0", "human", "promptlearn-start", "paper-loop", "promptlearn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="ores,antonyms,plurals")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--calls", type=int, default=120, help="LLM-call budget of each learning arm")
    parser.add_argument("--llm", default="local")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=None, help="k of the promptlearn arm [default: its recipe's]")
    parser.add_argument("--demos", type=int, default=None, help="demonstrations of the promptlearn arm [default: its recipe's]")
    parser.add_argument("--start", default=None, help="start of the promptlearn arm: p0, human or best [default: its recipe's]")
    parser.add_argument("--val-limit", type=int, default=0, help="use only the first N validation examples (0: all)")
    parser.add_argument("--test-limit", type=int, default=0, help="score only the first N test examples (0: all)")
    parser.add_argument("--predict-max-tokens", type=int, default=None, help="cap of every answer's length [default: the project's, 64]")
    parser.add_argument("--meta-max-tokens", type=int, default=None, help="cap of every proposal's length [default: the project's, 160]")
    parser.add_argument("--out", default="docs/results/learning_quality")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--api-base", default=None, help="an OpenAI-compatible server (with --llm openai/<name>)")
    parser.add_argument("--report-only", action="store_true", help="rebuild table.md and the plot from --out's results.json (also a partial one)")
    args = parser.parse_args(argv)
    if args.report_only:
        return report_only(Path(args.out), args)

    from promptlearn.data import load_examples
    from promptlearn.llm import load_llm
    from promptlearn.optimizer import InstructionLearner, MaxCalls, Predictor
    from promptlearn.tasks.registry import get_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python bench/learning_quality.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    predict_params = {"max_tokens": args.predict_max_tokens} if args.predict_max_tokens else None
    meta_params = {"max_tokens": args.meta_max_tokens} if args.meta_max_tokens else None
    started = time.perf_counter()
    llm = load_llm(args.llm, cache_dir=args.cache_dir, api_base=args.api_base)
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[list[float | None]]]] = {}
    try:
        for seed, task_name in [(int(s), t) for s in args.seeds.split(",") for t in args.tasks.split(",")]:
            task = get_task(task_name)
            train = load_examples(task.default_trainset, task)
            val = load_examples(task.default_valset, task)[: args.val_limit or None]
            test = load_examples(task.default_testset, task)[: args.test_limit or None]

            def score(instruction: str) -> dict[str, Any]:
                evaluation = Predictor(llm, task, instruction, params=predict_params).evaluate(test)
                outputs = [p.output for p in evaluation.predictions]
                graded = None
                if task.graded_scorer is not None:
                    values = [s.value for s in task.graded_scorer.score(test, outputs)]
                    graded = sum(values) / len(values)
                examples = [{"input": dict(p.example.inputs), "answer": p.text.strip()[:120], "score": p.score.value if p.score else None} for p in evaluation.predictions[:3]]
                return {"test_strict": evaluation.score, "test_graded": graded, "examples": examples}

            def val_curve(result) -> list[float | None]:
                versions = [result.initial_instruction] + [s.instruction_after for s in result.steps if getattr(s, "kind", "") == "step"]
                cache: dict[str, float] = {}
                curve = []
                for instruction in versions:
                    if instruction not in cache:
                        predictor = Predictor(llm, task, instruction, params=predict_params)
                        predictions = predictor.predict(val)
                        scorer = task.graded_scorer or task.scorer
                        values = [s.value for s in scorer.score(val, [p.output for p in predictions])]
                        cache[instruction] = sum(values) / len(values)
                    curve.append(cache[instruction])
                return curve

            print(f"[{time.perf_counter() - started:6.0f}s] {task_name} seed {seed}", flush=True)
            arms: dict[str, dict[str, Any]] = {}
            t0, u0 = time.perf_counter(), llm.usage.snapshot()
            p0 = InstructionLearner(llm, task, recipe="promptlearn", epochs=0, seed=seed, demos=0, predict_params=predict_params, meta_params=meta_params).fit(train).instruction
            arms["p0"] = {"instruction": p0, "calls": llm.usage.since(u0).calls, "seconds": time.perf_counter() - t0}
            arms["human"] = {"instruction": task.human_instruction, "calls": 0, "seconds": 0.0}
            for arm, recipe, kwargs in (
                ("paper-loop", "paper" if task_name == "ores" else "single", {}),
                ("promptlearn", "promptlearn", {"candidates": args.candidates, "start": args.start, "demos": args.demos}),
            ):
                t0, u0 = time.perf_counter(), llm.usage.snapshot()
                learner = InstructionLearner(llm, task, recipe=recipe, epochs=50, batch_size=args.batch_size if recipe != "paper" else None,
                                             seed=seed, stop=MaxCalls(args.calls), predict_params=predict_params, meta_params=meta_params, **kwargs)
                print(f"  [{time.perf_counter() - started:6.0f}s] {arm} ({recipe}) fitting, budget {args.calls} calls", flush=True)
                result = learner.fit(train, valset=val if arm == "promptlearn" else None)
                steps = [s for s in result.steps if getattr(s, "kind", "") == "step"]
                arms[arm] = {
                    "instruction": result.instruction, "recipe": recipe, "calls": llm.usage.since(u0).calls, "cache_hits": llm.usage.since(u0).cache_hits,
                    "seconds": time.perf_counter() - t0, "steps": len(steps), "stop": result.stop_reason,
                    "accepted": sum(1 for s in steps if s.accepted) if arm == "promptlearn" else None,
                    "scorers": result.scorers, "notes": result.notes,
                }
                if arm == "promptlearn":  # its start: the candidate that won on validation (recipe start)
                    init = next((s for s in result.steps if getattr(s, "kind", "") == "init"), None)
                    arms["promptlearn-start"] = {"instruction": result.initial_instruction, "recipe": "promptlearn (step 0)", "calls": 0, "seconds": 0.0,
                                                 "start": getattr(init, "start", None), "start_scores": getattr(init, "start_scores", None)}
                arms[arm]["val_curve"] = val_curve(result)
                curves.setdefault(task_name, {}).setdefault(arm, []).append(arms[arm]["val_curve"])
            for arm in ARMS:
                arms[arm].update(score(arms[arm]["instruction"]))
                row = {"task": task_name, "seed": seed, "arm": arm, **arms[arm]}
                rows.append(row)
                partial = {"command": command, "partial": True, "wall_time_s": time.perf_counter() - started, "llm": args.llm, "rows": rows}
                (out / "results.json").write_text(json.dumps(partial, indent=2, ensure_ascii=False) + "\n")  # what is done so far
                print(f"  {arm:<12} test strict {row['test_strict']:.3f} graded {row['test_graded'] if row['test_graded'] is not None else 'n/a'} calls {row['calls']} {row['seconds']:.0f}s :: {row['instruction'][:90]!r}", flush=True)
    finally:
        llm.close()
    wall = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps({"command": command, "wall_time_s": wall, "llm": args.llm, "rows": rows}, indent=2, ensure_ascii=False) + "\n")
    (out / "table.md").write_text(table(rows, command, wall, args))
    plot(curves, out / "val_per_step.png")
    print((out / "table.md").read_text())
    return 0


def report_only(out: Path, args: argparse.Namespace) -> int:
    """table.md and val_per_step.png from a results.json, also one a stopped run left (partial)."""
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    curves: dict[str, dict[str, list[list[float | None]]]] = {}
    for row in rows:
        if row.get("val_curve"):
            curves.setdefault(row["task"], {}).setdefault(row["arm"], []).append(row["val_curve"])
    args.llm = results.get("llm", args.llm)
    args.seeds = ",".join(str(s) for s in dict.fromkeys(r["seed"] for r in rows))
    text = table(rows, results["command"], results.get("wall_time_s", 0.0), args)
    if results.get("partial"):
        text = text.replace("\n\n", "\n\n**Partial**: the run was stopped before its last seed; the table holds the seeds it finished.\n\n", 1)
    (out / "table.md").write_text(text)
    plot(curves, out / "val_per_step.png")
    print(text)
    return 0


def _mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f}"


def table(rows: list[dict[str, Any]], command: str, wall: float, args: argparse.Namespace) -> str:
    lines = [
        "# Learning quality (bench/learning_quality.py)",
        "",
        f"Command: `{command}` (wall time {wall:.0f} s, LLM `{args.llm}`, seeds {args.seeds}).",
        "Test score: the task's strict scorer (reported) and its graded scorer (learning signal; n/a where the task has none), "
        "mean ± std over seeds, on the task's test split (never seen while fitting). Calls and wall time: mean per fit.",
        "",
        "| task | arm | recipe | seeds | test strict | test graded | calls | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        for arm in ARMS:
            sel = [r for r in rows if r["task"] == task and r["arm"] == arm]
            if not sel:
                continue
            graded = [r["test_graded"] for r in sel if r["test_graded"] is not None]
            lines.append(
                f"| {task} | {arm} | {sel[0].get('recipe', '-')} | {len(sel)} | {_mean_std([r['test_strict'] for r in sel])} | {_mean_std(graded)} | "
                f"{statistics.fmean(r['calls'] for r in sel):.0f} | {statistics.fmean(r['seconds'] for r in sel):.0f} |"
            )
    lines += ["", "## Instructions and example answers (first seed)", ""]
    for task in dict.fromkeys(r["task"] for r in rows):
        for arm in ARMS:
            r = next((r for r in rows if r["task"] == task and r["arm"] == arm), None)
            if r is None:
                continue
            shown = r["instruction"][:400].replace("\n", " ⏎ ")  # one line (demonstrations are one JSON object a line)
            lines.append(f"- **{task} / {arm}**: `{shown}`")
            for e in r["examples"]:
                lines.append(f"  - {e['input']} -> `{e['answer']}` (strict {e['score']})")
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, dict[str, list[list[float | None]]]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * max(1, len(curves)), 3.2))
    FigureCanvasAgg(fig)
    for i, (task, arms) in enumerate(curves.items()):
        ax = fig.add_subplot(1, len(curves), i + 1)
        for arm, runs in arms.items():
            for j, curve in enumerate(runs):
                ax.plot(range(len(curve)), curve, marker="o", label=arm if j == 0 else None, color="tab:blue" if arm == "promptlearn" else "tab:orange")
        ax.set_title(f"{task}: validation score per step")
        ax.set_xlabel("step (0: starting instruction)")
        ax.set_ylabel("val score (graded if declared)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
