"""diffusers' ``StableDiffusionSafetyChecker`` as an :class:`~.base.ImageFilter`, for checkpoints that ship one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError
from ..model_index import has_component, read_model_index
from .base import FilterDecision, to_pil_images


SPECIAL_CARE_ADJUSTMENT = 0.01
"""What diffusers' checker adds to every later score once a special-care concept fires."""


@dataclass(frozen=True)
class SafetyScores:
    """The safety checker's numbers for one image, as its ``forward`` computes them (Rando et al.,
    "Red-Teaming the Stable Diffusion Safety Filter", 2022, describe them): for each of the 3
    special-care and 17 concept embeddings, ``cosine(image, concept) - threshold + adjustment``,
    where ``adjustment`` starts at 0 and becomes the special-care adjustment (0.01) as soon as a
    special-care score is positive (so it also raises the special-care scores after that one). The
    image is flagged when any concept score is positive."""

    special_scores: tuple[float, ...]
    concept_scores: tuple[float, ...]
    adjustment: float
    special_care: tuple[int, ...]  # special-care concepts with a positive score
    bad_concepts: tuple[int, ...]  # concepts with a positive score
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


class SafetyChecker:
    """Per-image NSFW flags from a Stable Diffusion checkpoint's own safety checker.

    ``checker`` is a ``StableDiffusionSafetyChecker``, ``feature_extractor`` the ``CLIPImageProcessor``
    saved beside it. Unlike the pipeline, :meth:`check` never blacks out images; it only reports."""

    name = "safety-checker"

    def __init__(self, checker: Any, feature_extractor: Any):
        self.checker = checker.eval()
        self.feature_extractor = feature_extractor

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, required: bool = False) -> SafetyChecker | None:
        """Load the safety checker of a diffusers pipeline folder. Returns None when the checkpoint has
        none (``safety_checker`` null in model_index.json or no such folder), or raises InputError
        naming the checkpoint when ``required``."""
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import AutoImageProcessor

        folder = Path(path)
        index = read_model_index(str(folder), local_files_only=True)
        if not has_component(str(folder), index, "safety_checker"):
            if required:
                raise InputError(f"{folder}: this checkpoint has no safety checker; use a CLIP filter (clip:MODEL) instead")
            return None
        if not (folder / "feature_extractor").is_dir():
            raise InputError(f"{folder}: has a safety_checker/ but no feature_extractor/ to prepare its images")
        checker = StableDiffusionSafetyChecker.from_pretrained(folder / "safety_checker")
        feature_extractor = AutoImageProcessor.from_pretrained(folder / "feature_extractor")
        return cls(checker, feature_extractor)

    @torch.no_grad()
    def check(self, images: Any) -> list[FilterDecision]:
        """One decision per image; ``flagged`` is the checker's ``has_nsfw_concept``."""
        pil = to_pil_images(images)
        if not pil:
            return []
        param = next(self.checker.parameters())
        clip_input = self.feature_extractor(pil, return_tensors="pt")["pixel_values"].to(param.device, param.dtype)
        # The checker blacks out flagged images in the array it is handed; it gets placeholders so the
        # caller's images stay untouched and only the flags come back.
        placeholders = np.zeros((len(pil), 1, 1, 3), dtype=np.float32)
        _, has_nsfw = self.checker(clip_input=clip_input, images=placeholders)
        return [FilterDecision(filter=self.name, flagged=bool(flag)) for flag in has_nsfw]

    @torch.no_grad()
    def scores(self, images: Any, *, special_care_adjustment: float = SPECIAL_CARE_ADJUSTMENT) -> list[SafetyScores]:
        """Per image, the per-concept scores and the special-care adjustment behind the flag (the
        checker's own arithmetic, unrounded; ``special_care_adjustment`` 0.01 as diffusers, settable
        to study it). With the default, ``flagged`` equals :meth:`check`'s."""
        pil = to_pil_images(images)
        if not pil:
            return []
        param = next(self.checker.parameters())
        clip_input = self.feature_extractor(pil, return_tensors="pt")["pixel_values"].to(param.device, param.dtype)
        pooled = self.checker.vision_model(clip_input)[1]
        embeds = torch.nn.functional.normalize(self.checker.visual_projection(pooled).float(), dim=-1)
        special = embeds @ torch.nn.functional.normalize(self.checker.special_care_embeds.float(), dim=-1).T
        concepts = embeds @ torch.nn.functional.normalize(self.checker.concept_embeds.float(), dim=-1).T
        special_thresholds = self.checker.special_care_embeds_weights.float().tolist()
        concept_thresholds = self.checker.concept_embeds_weights.float().tolist()
        out = []
        for i in range(len(pil)):
            adjustment = 0.0
            special_scores, special_care = [], []
            for c, threshold in enumerate(special_thresholds):
                value = float(special[i, c]) - threshold + adjustment
                special_scores.append(value)
                if round(value, 3) > 0:  # diffusers compares the score rounded to 3 decimals
                    special_care.append(c)
                    adjustment = special_care_adjustment
            concept_scores = [float(concepts[i, c]) - threshold + adjustment for c, threshold in enumerate(concept_thresholds)]
            bad = tuple(c for c, v in enumerate(concept_scores) if round(v, 3) > 0)
            out.append(SafetyScores(tuple(special_scores), tuple(concept_scores), adjustment, tuple(special_care), bad, bool(bad)))
        return out
