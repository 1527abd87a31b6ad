"""``--filter`` values: ``clip:PATH`` (a CLIP concept filter) or ``safety-checker[:PATH]``."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...errors import InputError
from .base import ImageFilter

FILTER_SPEC_FORMS = "clip:PATH, safety-checker or safety-checker:PATH"


def parse_filter_spec(
    spec: str,
    *,
    concepts: Sequence[str] = (),
    sd_checkpoint: str | os.PathLike[str] | None = None,
    clip_threshold: float = 0.5,
    device: str | None = None,
) -> ImageFilter:
    """Build the filter a ``--filter`` value names.

    ``clip:PATH`` loads a transformers CLIP checkpoint and filters ``concepts`` (the admin's
    unacceptable concepts) at ``clip_threshold``; ``safety-checker`` uses the safety checker of
    ``sd_checkpoint`` (the pipeline being sampled), ``safety-checker:PATH`` that of another pipeline folder."""
    kind, sep, path = spec.strip().partition(":")
    kind = kind.strip().lower()
    path = path.strip()
    if kind == "clip":
        if not path:
            raise InputError(f"--filter {spec!r}: the CLIP filter needs a model folder, as in clip:PATH")
        if not os.path.isdir(path):
            raise InputError(f"--filter {spec!r}: {path} is not a folder")
        from .clip_filter import ClipConceptFilter

        return ClipConceptFilter.from_pretrained(path, concepts, threshold=clip_threshold, device=device)
    if kind == "safety-checker":
        checkpoint = path if sep else sd_checkpoint
        if not checkpoint:
            raise InputError(
                f"--filter {spec!r}: no checkpoint to take the safety checker from; use safety-checker:PATH"
            )
        if not os.path.isdir(checkpoint):
            raise InputError(f"--filter {spec!r}: {checkpoint} is not a folder")
        from .safety_checker import SafetyChecker

        checker = SafetyChecker.from_checkpoint(checkpoint, required=True)
        if device is not None:
            checker.checker.to(device)
        return checker
    raise InputError(f"--filter {spec!r}: unknown filter; expected {FILTER_SPEC_FORMS}")
