"""Fit the project's parts to the harness's Protocols: the optimizer's :class:`Predictor`
as a :class:`QueryRewriter`, and the synthesis :class:`Synthesizer` as an
:class:`ImageGenerator`. Imports happen on construction, so the evaluation package loads
without diffusers or the optimizer."""

from __future__ import annotations

import logging
from typing import Any, Sequence

from ..tasks.base import Example
from .cells import Rewrite, error_text
from .protocols import GenerationRequest

logger = logging.getLogger(__name__)


class PredictorRewriter:
    """Rewrites rows with the optimizer's :class:`~promptlearn.optimizer.Predictor` (the
    instruction as system message, the task's predict template as user message, the task's
    parser on the answer). An LLM error fails its row only. Give it a
    :class:`~promptlearn.rewriter.Rewriter` (its Predictor is used: the messages are those of
    ``promptlearn rewrite``) or a Predictor."""

    def __init__(self, rewriter: Any, *, progress: bool = True, per_image_temperature: float | None = None):
        self.predictor = getattr(rewriter, "predictor", rewriter)
        self.progress = progress
        self.per_image_temperature = per_image_temperature

    def identity(self) -> dict[str, Any]:
        out = {
            "llm": self.predictor.llm.spec,
            "task": self.predictor.task.name,
            "predict_template": self.predictor.task.predict_template,
            "sampling": self.predictor.params.model_dump(mode="json"),
        }
        if self.per_image_temperature is not None:
            out["per_image_temperature"] = self.per_image_temperature
        return out

    def rewrite(self, rows: Sequence[Example], instruction: str, *, seed: int | None = None) -> list[Rewrite]:
        """One rewrite per row; with ``seed`` (a per-image draw) sampled at
        ``per_image_temperature`` (default: the predictor's) with the seed in the request, so the
        draws differ across seeds and a rerun hits the LLM cache."""
        predictor = self.predictor.with_instruction(instruction)
        if seed is not None:
            update: dict[str, Any] = {"seed": int(seed)}
            if self.per_image_temperature is not None:
                update["temperature"] = float(self.per_image_temperature)
            predictor = type(predictor)(predictor.llm, predictor.task, instruction, prompts=predictor.prompts,
                                        params=predictor.params.model_copy(update=update))
        requests = [predictor.request(row) for row in rows]
        label = f"rewrite {len(rows)} queries" if self.progress else False
        answers = predictor.llm.complete_many(requests, progress=label, return_exceptions=True)
        out: list[Rewrite] = []
        for row, answer in zip(rows, answers):
            if isinstance(answer, BaseException):
                out.append(Rewrite(None, error=error_text(answer)))
                continue
            parsed = predictor.finish([row], [answer], score=False)[0]
            text = parsed.output.strip()
            out.append(Rewrite(text or None, error=None if text else "the LLM's answer held no rewrite", raw=answer.text))
        return out


class ReferenceRewriter:
    """Answers every rewrite with the row's own reference rewrite (its ``index``-th, default the
    first): the upper bound of what an instruction can give, with no LLM. A row without references
    fails alone. The instruction is ignored (every instruction gets the same rewrite)."""

    REFERENCE_INSTRUCTION = "(the dataset's reference rewrite)"

    def __init__(self, index: int = 0):
        self.index = index

    def identity(self) -> dict[str, Any]:
        return {"kind": "reference", "index": self.index}

    def rewrite(self, rows: Sequence[Example], instruction: str) -> list[Rewrite]:
        out = []
        for row in rows:
            if len(row.references) > self.index:
                out.append(Rewrite(row.references[self.index]))
            else:
                out.append(Rewrite(None, error=f"row {row.id} has no reference rewrite {self.index + 1}"))
        return out


class SynthesizerGenerator:
    """Makes one image per request with a :class:`~promptlearn.synthesis.sampler.Synthesizer`
    and the interventions of the request's method in the registry
    (:func:`~promptlearn.synthesis.methods.get_method`). A rewrite longer than the text encoder's
    window is reported once (method and token count)."""

    def __init__(
        self,
        synthesizer: Any,
        *,
        model: str,
        steps: int = 20,
        guidance_scale: float = 7.5,
        height: int | None = None,
        width: int | None = None,
        sld_preset: str = "medium",
        added_prompt: str | None = None,
        negative_prompt: str | None = None,
        negative_weight: float | None = None,
    ):
        self.synthesizer = synthesizer
        self.added_prompt = added_prompt.strip() if added_prompt and added_prompt.strip() else None
        self.negative_prompt = negative_prompt.strip() if negative_prompt and negative_prompt.strip() else None
        self.model = model
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.height = height
        self.width = width
        self.sld_preset = sld_preset
        self.negative_weight = negative_weight
        self._reported: set[tuple[str, str]] = set()

    def identity(self) -> dict[str, Any]:
        components = self.synthesizer.components
        return {
            "model": self.model,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "height": self.height or components.default_size,
            "width": self.width or components.default_size,
            "scheduler": type(components.scheduler).__name__,
            "dtype": str(components.dtype).removeprefix("torch."),
            "sld_preset": self.sld_preset,
            **({"added_prompt": self.added_prompt} if self.added_prompt else {}),
            **({"negative_prompt": self.negative_prompt} if self.negative_prompt else {}),
            **({"negative_weight": self.negative_weight} if self.negative_weight is not None else {}),
        }

    def _with_added(self, text: str | None) -> str | None:
        """``text, added prompt`` as the official demo conditions both query and rewrite."""
        return text if text is None or not self.added_prompt else f"{text}, {self.added_prompt}"

    def generate(self, request: GenerationRequest) -> Any:
        from ..synthesis.methods import get_method
        from ..tasks.concept_match import split_concepts

        if request.rewrite is not None:
            self._report_long(request.method, request.rewrite)
        interventions = get_method(request.method).interventions(
            concepts=split_concepts(request.concept),
            rewrite=self._with_added(request.rewrite),
            switch_step=request.switch_step,
            sld_preset=self.sld_preset,
            negative_weight=self.negative_weight,
        )
        result = self.synthesizer.generate(
            self._with_added(request.query),
            seeds=[request.seed],
            interventions=interventions,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            negative_prompt=self.negative_prompt,
            height=self.height,
            width=self.width,
        )
        return result.images[0]

    def _report_long(self, method: str, rewrite: str) -> None:
        from ..synthesis.conditioning import prompt_window, too_long

        if (method, rewrite) in self._reported:
            return
        self._reported.add((method, rewrite))
        count = too_long(self.synthesizer.components, rewrite)
        if count is not None:
            logger.warning("%s: the rewrite is %d tokens; the text encoder reads %d, the rest is cut: %s",
                           method, count, prompt_window(self.synthesizer.components), rewrite)
