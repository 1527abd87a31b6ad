"""The Pareto front of per-validation-example bests (GEPA-style, promptlearn's recipe).

Every instruction scored on the validation set keeps its per-example scores. For each
validation example, the front holds the instructions that score best on it. An instruction on
the front is good on *some* examples even when its mean is not the best, so later proposals
start from it too: with recipe ``parents: pareto`` each step draws its parent (the instruction it
improves on, p_j) from the front, seeded, each member weighted by the number of examples it is
best on (GEPA's ``select_program_candidate_from_pareto_front``). Members whose examples are a
strict subset of another member's are dropped first (dominated); examples that no instruction
gets any credit on are left out (they tell the members apart by nothing). An empty front (no
validation set, or no credit anywhere) leaves the parent at the current instruction.
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence


def front(pool: Mapping[str, Mapping[str, Any]], example_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per validation example (with some credit), the instructions of ``pool`` (instruction ->
    {"version", "scores": {example id: score}}) that score best on it."""
    out: dict[str, list[str]] = {}
    for example in example_ids:
        scored = [(entry["scores"][example], text) for text, entry in pool.items() if example in entry.get("scores", {})]
        best = max((score for score, _ in scored), default=0.0)
        if best > 0:
            out[example] = [text for score, text in scored if score == best]
    return out


def members(fronts: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """The non-dominated members of the front and the number of examples each is best on."""
    wins: dict[str, set[str]] = {}
    for example, texts in fronts.items():
        for text in texts:
            wins.setdefault(text, set()).add(example)
    kept = {text: won for text, won in wins.items() if not any(won < other for other_text, other in wins.items() if other_text != text)}
    return {text: len(won) for text, won in kept.items()}


def pick_parent(pool: Mapping[str, Mapping[str, Any]], example_ids: Sequence[str], key: str) -> str | None:
    """A parent drawn from the front (seeded by ``key``, weighted by examples won), or ``None``
    when the front is empty. Members are taken in the order they joined the pool."""
    counts = members(front(pool, example_ids))
    if not counts:
        return None
    texts = sorted(counts, key=lambda text: pool[text]["version"])
    return random.Random(key).choices(texts, weights=[counts[t] for t in texts])[0]


__all__ = ["front", "members", "pick_parent"]
