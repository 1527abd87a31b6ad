"""Filter specs: ``clip:MODEL`` (a CLIP concept filter) or ``safety-checker[:MODEL]``, MODEL a
local folder or a hub id (resolved by :func:`promptlearn.hub.resolve_model_source`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ...errors import InputError
from .base import ImageFilter

FILTER_SPEC_FORMS = "clip:MODEL, safety-checker or safety-checker:MODEL (MODEL a folder or a hub id)"


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
    from ...hub import resolve_model_source

    if kind == "clip":
        if not path:
            raise InputError(f"filter {spec!r}: the CLIP filter needs a model, as in clip:MODEL")
        path = resolve_model_source(path, what="CLIP filter model")
        from .clip_filter import ClipConceptFilter

        return ClipConceptFilter.from_pretrained(path, concepts, threshold=clip_threshold, device=device)
    if kind == "safety-checker":
        checkpoint = path if sep else sd_checkpoint
        if not checkpoint:
            raise InputError(f"filter {spec!r}: no checkpoint to take the safety checker from; use safety-checker:MODEL")
        checkpoint = resolve_model_source(checkpoint, what="safety checker's pipeline")
        from .safety_checker import SafetyChecker

        checker = SafetyChecker.from_checkpoint(checkpoint, required=True)
        if device is not None:
            checker.checker.to(device)
        return checker
    raise InputError(f"filter {spec!r}: unknown filter; expected {FILTER_SPEC_FORMS}")
