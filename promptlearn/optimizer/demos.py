"""Demonstrations: worked examples that travel with an instruction (promptlearn's recipe).

A small model follows worked examples far better than abstract instructions: with the embedded
SmolLM2-135M, the plurals task's human-written instruction scores 0.0 on 10 test words and 0.5
with three demonstrations shown as earlier conversation turns; antonyms 0.0 -> 0.8 (the same
demonstrations pasted into the system message as text score 0.0; see
docs/results/learning_quality/README.md). DSPy's BootstrapFewShot / MIPROv2 learn instruction and
demonstration sets together; promptlearn's recipe does the same with ``demos: N``.

A learned instruction with demonstrations is one text: the instruction, then a line
:data:`DEMOS_HEADER`, then one JSON object per line, ``{"inputs": {...}, "output": "..."}``.
It is visible as such in ``instruction.txt``, the history and every output, it goes wherever an
instruction goes (rewrite, generate, bench, a warm start), and :class:`~.predictor.Predictor`
sends its demonstrations as user/assistant turns (the task's own prompt for the inputs, the
output as the answer) between the system message and the example's prompt; so they are part of
every request and of its cache key. Demonstrations are drawn, seeded, from the **training** split
only (after a hold-out share is split off), from examples with a reference (the first one is the
demonstrated output).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..tasks.base import Example

DEMOS_HEADER = "Demonstrations (shown to the model as earlier turns of the conversation):"


@dataclass(frozen=True)
class Demo:
    """One worked example: the task's input fields and the answer shown for them."""

    inputs: Mapping[str, str]
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"inputs": dict(self.inputs), "output": self.output}

    def example(self, index: int) -> Example:
        return Example(id=f"demo-{index}", inputs=dict(self.inputs), references=(self.output,))


def split_demos(instruction: str) -> tuple[str, list[Demo]]:
    """The instruction's text and its demonstrations (none when it has no well-formed block: then
    the text is the instruction whole)."""
    marker = "\n" + DEMOS_HEADER + "\n"
    at = instruction.rfind(marker)
    if at < 0:
        return instruction, []
    demos: list[Demo] = []
    for line in instruction[at + len(marker) :].splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            return instruction, []
        if not (isinstance(data, dict) and isinstance(data.get("inputs"), dict) and isinstance(data.get("output"), str)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in data["inputs"].items())):
            return instruction, []
        demos.append(Demo(inputs=data["inputs"], output=data["output"]))
    if not demos:
        return instruction, []
    return instruction[:at].rstrip(), demos


def join_demos(text: str, demos: Sequence[Demo]) -> str:
    """An instruction with its demonstrations (``text`` alone when there are none)."""
    text = split_demos(text)[0].rstrip()
    if not demos:
        return text
    lines = [json.dumps(d.to_json(), ensure_ascii=False) for d in demos]
    return "\n".join([text, "", DEMOS_HEADER, *lines])


def draw_demos(train: Sequence[Example], count: int, key: str) -> list[Demo]:
    """``count`` demonstrations drawn from ``train`` (examples with a reference), seeded by
    ``key``: the same key and data give the same demonstrations."""
    usable = [e for e in train if e.references]
    if count <= 0 or not usable:
        return []
    chosen = random.Random(key).sample(usable, min(count, len(usable)))
    return [Demo(inputs=dict(e.inputs), output=e.references[0]) for e in chosen]


__all__ = ["DEMOS_HEADER", "Demo", "draw_demos", "join_demos", "split_demos"]
