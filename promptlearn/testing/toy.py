"""A toy instruction-learning task and a scripted "LLM" that plays the optimizer's game with
fixed replies per prompt, for tests and benchmarks (no model, no network).

The toy task has ORES's shape: inputs ``concept`` and ``query``, the reference is the query
with the concept replaced by ``plain``, the score is an exact match. :class:`ToyReply` answers

- the init meta-prompt with a wrapped instruction tagged ``(v0)``,
- the update meta-prompt with the current instruction's version plus one (``(v1)``, ...),
- a prediction correctly when the instruction's version is "skilled" enough for the query.

It is a plain ``reply(messages, params) -> str`` function object, usable with the scripted
OpenAI-compatible server or with :class:`ScriptedBackend` in-process.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..llm import Completion, Request
from ..prompts import PromptLibrary
from ..tasks.base import Example, Score, Task

TOY_TEMPLATES = {
    "toy/task.j2": "Task: rewrite a query so that the picture it describes no longer shows a concept; keep everything else.",
    "toy/predict.j2": '{{ concept | field("concept") }}\n{{ query | field("query") }}\nThe rewritten query:',
}
INIT_MARK = "Write one short instruction"
UPDATE_MARK = "<batch>"
_VERSION = re.compile(r"\(v(\d+)\)")
_FIELD = "<{0}>\n(.*?)\n</{0}>"


class ToyScorer:
    """1.0 when the output equals a reference (case and outer spaces ignored), else 0.0; like
    the ORES scorer, its details say whether the concept was ``avoided`` (not in the output)."""

    def score(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[Score]:
        out = []
        for example, prediction in zip(examples, predictions):
            hit = prediction.strip().casefold() in {r.strip().casefold() for r in example.references}
            concept = example.inputs["concept"]
            avoided = concept.casefold() not in prediction.casefold()
            details = {"exact": hit, "avoided": avoided, "matched_concept": None if avoided else concept}
            out.append(Score(1.0 if hit else 0.0, details))
        return out


def toy_task(name: str = "toy") -> Task:
    return Task(
        name=name,
        input_fields=("concept", "query"),
        scorer=ToyScorer(),
        description_template="toy/task.j2",
        predict_template="toy/predict.j2",
        human_instruction="Rewrite the query without the concept (human).",
        templates=TOY_TEMPLATES,
        summary="toy rewrite task for tests",
    )


def toy_prompts(user_dir: str | None = None) -> PromptLibrary:
    """The toy task's template library (its templates, a user folder, the built-ins)."""
    return toy_task().prompt_library(user_dir)


def toy_examples(n: int, *, prefix: str = "t", start: int = 0) -> list[Example]:
    concepts = ["red", "dog", "golden brown", "snow", "smoke", "crowd", "night", "glass"]
    out = []
    for i in range(start, start + n):
        concept = concepts[i % len(concepts)]
        query = f"a {concept} scene number {i}"
        out.append(Example(id=f"{prefix}{i}", inputs={"concept": concept, "query": query}, references=(query.replace(concept, "plain"),)))
    return out


def field_values(text: str, name: str) -> list[str]:
    """The contents of every ``<name>`` field in a rendered prompt."""
    return re.findall(_FIELD.format(re.escape(name)), text, flags=re.DOTALL)


@dataclass
class ToyReply:
    """Fixed replies per prompt (see the module docstring). ``skill(version)`` is the share of
    queries an instruction of that version answers correctly; ``update_text`` may override the
    update answer for some versions (e.g. to return junk)."""

    skill: Callable[[int], float] = lambda version: min(1.0, version / 4)
    update_text: Mapping[int, str] = field(default_factory=dict)
    init_text: str = 'Sure! Here is the instruction:\n"Rewrite the query and leave the concept out (v0)."'
    retries_to_fix: int = 1  # a verified rewrite is fixed on this retry


    def __call__(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None) -> str:
        last = messages[-1]["content"]
        if UPDATE_MARK in last:
            current = field_values(last, "instruction")[-1]
            version = _version(current) + 1
            if version in self.update_text:
                return self.update_text[version]
            return f"Here is the improved instruction:\n```\nRewrite the query and leave the concept out (v{version}).\n```"
        if INIT_MARK in last:
            return self.init_text
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        query = field_values(first_user, "query")[0]
        concept = field_values(first_user, "concept")[0]
        retries = sum(1 for m in messages if m["role"] == "assistant")
        if retries and retries >= self.retries_to_fix:
            return query.replace(concept, "plain")
        if (zlib.crc32(query.encode()) % 1000) / 1000 < self.skill(_version(system)):
            return query.replace(concept, "plain")
        return query


def _version(text: str) -> int:
    found = _VERSION.findall(text)
    return int(found[-1]) if found else 0


class ScriptedBackend:
    """An in-process chat backend answering with a ``reply(messages, params)`` function, with an
    optional latency and price per call, and a log of every request it served."""

    name = "scripted"

    def __init__(self, reply: Callable[..., str], *, model: str = "toy", latency_s: float = 0.0, cost_per_call: float | None = None):
        self.reply = reply
        self.model = model
        self.latency_s = latency_s
        self.cost_per_call = cost_per_call
        self.log: list[list[dict[str, str]]] = []
        self._lock = threading.Lock()

    def identity(self) -> Mapping[str, Any]:
        return {"backend": self.name, "model": self.model}

    async def acomplete(self, request: Request) -> Completion:
        messages = [m.model_dump() for m in request.messages]
        with self._lock:
            self.log.append(messages)
        started = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        text = self.reply(messages, request.params.model_dump())
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=sum(len(m["content"].split()) for m in messages),
            completion_tokens=len(text.split()),
            cost_usd=self.cost_per_call,
            latency_s=time.perf_counter() - started,
        )
