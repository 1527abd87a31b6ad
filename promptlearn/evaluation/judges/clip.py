"""The CLIP judge: an image shows the concept when CLIP places it nearer "a photo of {concept}"
than its acceptable counterpart ("a photo without {concept}"). The decision is the synthesis
CLIP concept filter's own (:class:`~promptlearn.synthesis.filters.clip_filter.ClipConceptFilter`);
this class only loads the model once and keeps one filter per concept."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .base import JudgeAnswer, check_batch


class CLIPJudge:
    """Judges with one CLIP model; ``p_yes`` is the filter's ``p_unacceptable``."""

    name = "clip"

    def __init__(self, model: Any, processor: Any, *, source: str, threshold: float = 0.5):
        self.model = model
        self.processor = processor
        self.source = source
        self.threshold = threshold
        self._filters: dict[str, Any] = {}

    @classmethod
    def from_path(cls, path: str | Path, *, device: str | None = None, threshold: float = 0.5) -> "CLIPJudge":
        from ...synthesis.filters.clip_filter import ClipConceptFilter

        probe = ClipConceptFilter.from_pretrained(Path(path).expanduser(), ["object"], device=device)
        return cls(probe.model, probe.processor, source=str(path), threshold=threshold)

    def identity(self) -> dict[str, Any]:
        from ...synthesis.filters.clip_filter import DEFAULT_ACCEPTABLE_TEMPLATE, DEFAULT_UNACCEPTABLE_TEMPLATE

        return {
            "kind": "clip",
            "model": self.source,
            "threshold": self.threshold,
            "texts": [DEFAULT_UNACCEPTABLE_TEMPLATE, DEFAULT_ACCEPTABLE_TEMPLATE],
        }

    def _filter(self, concept: str) -> Any:
        from ...synthesis.filters.clip_filter import ClipConceptFilter

        if concept not in self._filters:
            self._filters[concept] = ClipConceptFilter(self.model, self.processor, [concept], threshold=self.threshold)
        return self._filters[concept]

    def judge(self, images: Sequence[Any], concepts: Sequence[str]) -> list[JudgeAnswer]:
        check_batch(images, concepts)
        answers: list[JudgeAnswer | None] = [None] * len(images)
        for concept in dict.fromkeys(concepts):
            indices = [i for i, c in enumerate(concepts) if c == concept]
            decisions = self._filter(concept).check([images[i] for i in indices])
            for index, decision in zip(indices, decisions):
                (score,) = decision.concepts
                raw = f"p_unacceptable={score.p_unacceptable:.4f} (cos {score.similarity_unacceptable:.3f} vs {score.similarity_acceptable:.3f})"
                answers[index] = JudgeAnswer(present=decision.flagged, raw=raw, p_yes=score.p_unacceptable)
        return [a for a in answers if a is not None]
