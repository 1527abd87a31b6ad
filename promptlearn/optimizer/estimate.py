"""``--estimate``: what a fit will use, computed from the data and the recipe without any LLM call.

Calls are counted exactly for the loop's structure and as an upper bound where the loop decides
at run time (every proposal accepted, so every step validates). Tokens are approximate: prompts
at 4 characters a token (rendered from the real templates and examples), completions at their
``max_tokens`` cap (an upper bound). The cost is litellm's price table times those tokens where
the model's price is known; ``None`` otherwise (a local model, an unpriced API).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..tasks.base import Example

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class FitEstimate:
    """Projected usage of a fit (see the module docstring for how each figure is reached)."""

    llm: str
    recipe: str
    steps: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    price: str  # where the cost comes from, or why there is none
    train: int
    val: int
    val_source: str  # "given", "held out" or "none"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def summary(self) -> str:
        cost = f"${self.cost_usd:.4f}" if self.cost_usd is not None else f"unknown ({self.price})"
        return "\n".join([
            f"estimate (no LLM call made): recipe {self.recipe}, llm {self.llm}",
            f"data: {self.train} training examples, {self.val} validation ({self.val_source})",
            f"steps: {self.steps}",
            f"calls: at most {self.calls} (every proposal accepted; cache hits included)",
            f"tokens: about {self.tokens} ({self.prompt_tokens} prompt at {CHARS_PER_TOKEN} characters a token, {self.completion_tokens} completion at the max_tokens caps)",
            f"cost: {cost}",
        ])

    def to_json(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "tokens": self.tokens}


def estimate_fit(learner: Any, trainset: Sequence[Example], valset: Sequence[Example] | None = None) -> FitEstimate:
    """The projected calls, tokens and cost of ``learner.fit(trainset, valset=valset)``.

    ``learner`` is an :class:`~promptlearn.optimizer.InstructionLearner` (its LLM is never
    called; only its spec names the price)."""
    train, val = learner._check_data(trainset, valset)
    given = val is not None
    train, val = learner._split_holdout(train, val)
    n_val = len(val or [])
    tokens = _Tokens(learner)
    predict_cap = learner.predict_params.max_tokens or 64
    meta_cap = learner.meta_params.max_tokens or 160
    instruction_chars = 400  # an instruction of ~100 words, the meta cap's size
    calls = prompt = completion = 0
    demos = getattr(learner, "demos", 0) if learner.baseline is None else 0
    # demonstrations travel with every prediction as chat turns: a prompt and an answer each
    demo_tokens = demos * (sum(tokens.predict(e) for e in train[:demos]) // max(1, min(demos, len(train))) + predict_cap // 2) if train else 0

    def predictions(examples: Sequence[Example], count: int = 1) -> None:
        nonlocal calls, prompt, completion
        calls += count * len(examples)
        prompt += count * sum(tokens.predict(e) + demo_tokens + instruction_chars // CHARS_PER_TOKEN for e in examples)
        completion += count * predict_cap * len(examples)

    steps = 0
    if learner.baseline is None:
        if learner.start in ("p0", "best"):
            calls, prompt, completion = 1, tokens.text(learner._init_prompt()), meta_cap
        # the start's candidates, each scored on validation: p_0 (and with start "best" the task's
        # human-written instruction, when it has one), each with and without demonstrations
        starts = 2 if learner.start == "best" and (learner.task.human_instruction or "").strip() else 1
        predictions(val or [], starts * (2 if demos else 1) if val else 1)
        steps = learner.epochs * math.ceil(len(train) / learner.batch_size) if train else 0
        proposals = learner.candidates if (learner.candidates > 1 or learner.accept == "improve") else 1
        scored = proposals if (learner.candidates > 1 or learner.accept == "improve") else 0
        for step in range(steps):
            start = (step * learner.batch_size) % max(len(train), 1)
            batch = train[start : start + learner.batch_size]
            predictions(batch, 1 + scored)
            update = tokens.text(learner._task_description()) + (len(batch) * 3 + 1) * instruction_chars // CHARS_PER_TOKEN
            calls += proposals
            prompt += proposals * update
            completion += proposals * meta_cap
            predictions(val or [])
    elif learner.baseline is not None:
        predictions(val or [])
    cost, price = _price(learner.llm.spec, prompt, completion)
    return FitEstimate(
        llm=learner.llm.spec, recipe=learner.recipe.name, steps=steps, calls=calls, prompt_tokens=prompt,
        completion_tokens=completion, cost_usd=cost, price=price, train=len(train), val=n_val,
        val_source="given" if given else ("held out" if val else "none"),
    )


class NoCallLLM:
    """Stands in for the LLM while estimating: it has a spec (for the price) and refuses calls."""

    def __init__(self, spec: str):
        from ..llm import Usage

        self.spec = spec
        self.usage = Usage()

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("an estimate makes no LLM call")

    complete_many = complete

    def close(self) -> None:
        pass


class _Tokens:
    def __init__(self, learner: Any):
        self.learner = learner

    @staticmethod
    def text(text: str) -> int:
        return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))

    def predict(self, example: Example) -> int:
        learner = self.learner
        message = learner.task.render_predict(learner.prompts, example, template=learner.recipe.template("predict"), strip=not learner.exact,
                                              **({"instruction": "", "task_description": learner._task_description()} if learner.recipe.instruction_in == "prompt" else {}))
        return self.text(message)


def _price(spec: str, prompt_tokens: int, completion_tokens: int) -> tuple[float | None, str]:
    """litellm's price for the tokens, or ``None`` and why not."""
    from ..llm.forms import parse_spec

    parsed = parse_spec(spec)
    if parsed.kind != "litellm":
        return None, f"{spec} runs on this machine: no price"
    try:
        import litellm

        prompt_cost, completion_cost = litellm.cost_per_token(model=parsed.target, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:  # litellm raises several kinds for a model it has no price for
        return None, f"no price known for {parsed.target}"
    return float(prompt_cost + completion_cost), "litellm's price table"


__all__ = ["FitEstimate", "NoCallLLM", "estimate_fit"]
