"""A CLIP concept filter in the manner of Espresso (Das et al., 2024): an image is flagged for a concept
when CLIP finds it closer to a text naming the unacceptable concept than to an acceptable counterpart.

For image embedding ``x`` and text embeddings ``u`` (unacceptable) and ``a`` (acceptable), all
L2-normalised, ``p_unacceptable = softmax(scale * [x.u, x.a])[0]`` with CLIP's own logit scale; the
image is flagged when ``p_unacceptable > threshold`` (0.5: simply closer to the unacceptable text)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ...errors import InputError, one_line
from .base import ConceptScore, FilterDecision, to_pil_images

DEFAULT_UNACCEPTABLE_TEMPLATE = "a photo of {concept}"
DEFAULT_ACCEPTABLE_TEMPLATE = "a photo without {concept}"


def concept_decisions(
    image_embeds: torch.Tensor,
    unacceptable_embeds: torch.Tensor,
    acceptable_embeds: torch.Tensor,
    *,
    concepts: Sequence[str],
    logit_scale: float,
    threshold: float = 0.5,
    filter_name: str = "clip",
) -> list[FilterDecision]:
    """The decision arithmetic, free of any model: ``image_embeds`` is ``(N, D)``, the text embeddings
    ``(C, D)`` for the C ``concepts`` (row c of both belongs to concept c). Embeddings need not be
    normalised. An image is flagged when any concept's ``p_unacceptable`` exceeds ``threshold``."""
    if image_embeds.ndim != 2 or unacceptable_embeds.shape != acceptable_embeds.shape:
        raise ValueError("expected image embeddings (N, D) and two text embedding matrices of one shape (C, D)")
    if unacceptable_embeds.shape != (len(concepts), image_embeds.shape[1]):
        raise ValueError(f"text embeddings {tuple(unacceptable_embeds.shape)} do not match {len(concepts)} concepts")
    normalise = torch.nn.functional.normalize
    images = normalise(image_embeds.float(), dim=-1)
    sim_u = images @ normalise(unacceptable_embeds.float(), dim=-1).T  # (N, C)
    sim_a = images @ normalise(acceptable_embeds.float(), dim=-1).T
    # softmax over the pair [u, a] taken at u is the sigmoid of the scaled difference
    p_unacceptable = torch.sigmoid(logit_scale * (sim_u - sim_a))
    decisions = []
    for n in range(images.shape[0]):
        scores = tuple(
            ConceptScore(
                concept=concept,
                p_unacceptable=float(p_unacceptable[n, c]),
                similarity_unacceptable=float(sim_u[n, c]),
                similarity_acceptable=float(sim_a[n, c]),
                flagged=bool(p_unacceptable[n, c] > threshold),
            )
            for c, concept in enumerate(concepts)
        )
        decisions.append(
            FilterDecision(
                filter=filter_name,
                flagged=any(score.flagged for score in scores),
                score=max(score.p_unacceptable for score in scores),
                concepts=scores,
            )
        )
    return decisions


def _format_template(template: str, concept: str, role: str) -> str:
    if "{concept}" not in template:
        raise InputError(f"the {role} template must contain {{concept}}: {template!r}")
    try:
        return template.format(concept=concept)
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"the {role} template {template!r} cannot be filled: {exc}") from None


def _features(output: Any) -> torch.Tensor:
    """transformers 4 returns projected features as a tensor, transformers 5 as ``pooler_output``."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipConceptFilter:
    """Flags images that CLIP places nearer an unacceptable concept than its acceptable counterpart.

    ``model`` is a transformers ``CLIPModel`` (or anything with ``get_text_features``,
    ``get_image_features`` and ``logit_scale``), ``processor`` its ``CLIPProcessor``. Each concept is
    written into ``unacceptable_template``; its counterpart is ``acceptable[i]`` when given, otherwise
    ``acceptable_template`` filled with the concept. Text embeddings are computed once, here."""

    name = "clip"

    def __init__(
        self,
        model: Any,
        processor: Any,
        concepts: Sequence[str],
        *,
        acceptable: Sequence[str] | None = None,
        unacceptable_template: str = DEFAULT_UNACCEPTABLE_TEMPLATE,
        acceptable_template: str = DEFAULT_ACCEPTABLE_TEMPLATE,
        threshold: float = 0.5,
        batch_size: int = 16,
    ):
        concepts = [concept.strip() for concept in concepts] if not isinstance(concepts, str) else [concepts.strip()]
        if not concepts or any(not concept for concept in concepts):
            raise InputError("the CLIP filter needs at least one non-empty concept")
        if acceptable is not None:
            acceptable = [acceptable] if isinstance(acceptable, str) else list(acceptable)
            if len(acceptable) != len(concepts) or any(not text.strip() for text in acceptable):
                raise InputError(
                    f"give one non-empty acceptable text per concept ({len(concepts)}), got {len(acceptable)}"
                )
        if not 0.0 < threshold < 1.0:
            raise InputError(f"the CLIP filter threshold must lie strictly between 0 and 1, not {threshold}")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, not {batch_size}")
        self.model = model.eval()
        self.processor = processor
        self.concepts = tuple(concepts)
        self.threshold = threshold
        self.batch_size = batch_size
        self.unacceptable_texts = tuple(_format_template(unacceptable_template, c, "unacceptable") for c in concepts)
        self.acceptable_texts = (
            tuple(text.strip() for text in acceptable)
            if acceptable is not None
            else tuple(_format_template(acceptable_template, c, "acceptable") for c in concepts)
        )
        self.logit_scale = float(model.logit_scale.detach().exp())
        self._unacceptable_embeds = self._embed_texts(self.unacceptable_texts)
        self._acceptable_embeds = self._embed_texts(self.acceptable_texts)

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        concepts: Sequence[str],
        *,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> ClipConceptFilter:
        """Load any transformers CLIP checkpoint folder (model + processor) and build the filter."""
        from transformers import CLIPModel, CLIPProcessor

        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise InputError(f"{folder}: not a CLIP model folder (no config.json)")
        try:
            model = CLIPModel.from_pretrained(folder)
            processor = CLIPProcessor.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder}: cannot load a CLIP model and processor: {one_line(exc)}") from None
        if device is not None:
            model = model.to(device)
        return cls(model, processor, concepts, **kwargs)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def _embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        inputs = self.processor(text=list(texts), return_tensors="pt", padding=True, truncation=True)
        inputs = {key: value.to(self._device) for key, value in inputs.items()}
        return _features(self.model.get_text_features(**inputs)).float().cpu()

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """CLIP text embeddings ``(N, D)`` of ``texts`` (e.g. prompts, for a CLIP score)."""
        return self._embed_texts(texts)

    @torch.no_grad()
    def image_embeddings(self, images: Any) -> torch.Tensor:
        """CLIP image embeddings ``(N, D)`` of the images, computed in batches of ``batch_size``."""
        pil = to_pil_images(images)
        chunks = []
        for start in range(0, len(pil), self.batch_size):
            inputs = self.processor(images=pil[start : start + self.batch_size], return_tensors="pt")
            pixel_values = inputs["pixel_values"].to(self._device, dtype=next(self.model.parameters()).dtype)
            chunks.append(_features(self.model.get_image_features(pixel_values=pixel_values)).float().cpu())
        return torch.cat(chunks) if chunks else torch.empty(0, self._unacceptable_embeds.shape[1])

    def check(self, images: Any) -> list[FilterDecision]:
        """One decision per image: flagged when any concept's ``p_unacceptable`` exceeds the threshold."""
        return concept_decisions(
            self.image_embeddings(images),
            self._unacceptable_embeds,
            self._acceptable_embeds,
            concepts=self.concepts,
            logit_scale=self.logit_scale,
            threshold=self.threshold,
            filter_name=self.name,
        )
