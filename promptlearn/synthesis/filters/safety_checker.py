"""diffusers' ``StableDiffusionSafetyChecker`` as an :class:`~.base.ImageFilter`, for checkpoints that ship one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError
from ..model_index import has_component, read_model_index
from .base import FilterDecision, to_pil_images


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
