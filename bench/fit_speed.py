"""Fit speed: promptlearn's learner vs a strictly sequential loop making the same LLM calls.

Both fits run against the local OpenAI-compatible test server (promptlearn.testing.openai_server)
with a fixed latency per call (200 ms by default) and scripted replies (the toy task's
``ToyReply``), through the same litellm backend:

* ``promptlearn``: the InstructionLearner as shipped (a mini-batch's predictions, and a
  validation pass, are one concurrent batch call);
* ``sequential``: the same learner on an LLM that makes one call at a time and has no cache,
  which is the shape of the original research code.

The server's request log checks that both made the same calls. Run:

    .venv/bin/python bench/fit_speed.py                  # batch size 4, 16 train, 8 val
    .venv/bin/python bench/fit_speed.py --val 0          # no validation set

With batch size B and V validation examples, a step makes B + 1 + V calls; the learner needs
3 rounds of latency for them (2 without a validation set), the sequential loop B + 1 + V.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptlearn.llm import load_llm  # noqa: E402
from promptlearn.llm.client import DEFAULT_CONCURRENCY  # noqa: E402
from promptlearn.optimizer import InstructionLearner  # noqa: E402
from promptlearn.testing.openai_server import OpenAIServer, scripted_replies  # noqa: E402
from promptlearn.testing.toy import ToyReply, toy_examples, toy_prompts, toy_task  # noqa: E402


def run_fit(server: OpenAIServer, *, concurrency: int, args: argparse.Namespace) -> tuple[float, Counter, str]:
    """One fit; returns its wall time, the multiset of requests the server saw and the instruction."""
    server.clear()
    llm = load_llm("openai/test", api_base=server.url, cache=False, concurrency=concurrency)
    try:
        llm.complete("warm-up")  # litellm's first call sets up its client; not part of the fit
        server.clear()
        learner = InstructionLearner(
            llm, toy_task(), prompts=toy_prompts(), epochs=args.epochs, batch_size=args.batch_size, seed=0,
            select="best" if args.val else "last",
        )
        train = toy_examples(args.train)
        val = toy_examples(args.val, prefix="v", start=1000) if args.val else None
        started = time.perf_counter()
        result = learner.fit(train, valset=val)
        seconds = time.perf_counter() - started
    finally:
        llm.close()
    calls = Counter(json.dumps(r.messages, sort_keys=True) for r in server.requests)
    return seconds, calls, result.instruction


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per call on the server (default 0.2)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train", type=int, default=16, help="training examples")
    parser.add_argument("--val", type=int, default=8, help="validation examples (0: none, select last)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight for promptlearn")
    args = parser.parse_args(argv)

    with OpenAIServer(latency=args.latency, reply=scripted_replies({"warm-up": "ok"}, default=ToyReply())) as server:
        fast, fast_calls, fast_instruction = run_fit(server, concurrency=args.concurrency, args=args)
        slow, slow_calls, slow_instruction = run_fit(server, concurrency=1, args=args)
    if fast_calls != slow_calls or fast_instruction != slow_instruction:
        print("error: the two fits made different calls", file=sys.stderr)
        return 1
    calls = sum(fast_calls.values())
    print(f"fit: {args.epochs} epoch(s), {args.train} train, {args.val} val, batch size {args.batch_size}, "
          f"{calls} LLM calls, {args.latency * 1000:.0f} ms per call")
    print(f"sequential (one call at a time, no cache): {slow:7.2f} s")
    print(f"promptlearn (concurrency {args.concurrency}):            {fast:7.2f} s")
    print(f"speed-up: {slow / fast:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
