"""Filter specs: ``clip:MODEL`` (a CLIP concept filter) or ``safety-checker[:MODEL]``, MODEL a
local folder or a hub id (resolved by :func:`promptlearn.hub.resolve_model_source`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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
    acceptable: Mapping[str, str] | None = None,
) -> ImageFilter:
    """Build the filter a ``--filter`` value names.

    ``clip:PATH`` loads a transformers CLIP checkpoint and filters ``concepts`` (the admin's
    unacceptable concepts) at ``clip_threshold``, each against ``acceptable[concept]`` when given
    (else "a photo without {concept}"; see :func:`parse_acceptable`); ``safety-checker`` uses the safety checker of
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

        texts = None
        if acceptable:
            from .clip_filter import DEFAULT_ACCEPTABLE_TEMPLATE

            unknown = sorted(set(acceptable) - set(concepts))
            if unknown:
                raise InputError(f"acceptable counterpart given for {', '.join(unknown)}, which is not a concept to filter ({', '.join(concepts)})")
            texts = [acceptable.get(c) or DEFAULT_ACCEPTABLE_TEMPLATE.format(concept=c) for c in concepts]
        return ClipConceptFilter.from_pretrained(path, concepts, threshold=clip_threshold, device=device, acceptable=texts)
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


def parse_acceptable(text: str) -> dict[str, str]:
    """The acceptable counterpart of each concept (Espresso's "acceptable concept"), from
    ``concept=text;concept=text`` or a file: ``.json`` (an object concept -> text) or ``.tsv`` /
    ``.txt`` (one ``concept<TAB>text`` a line). One :class:`InputError` line for a bad entry."""
    import json

    source = text.strip()
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"acceptable counterparts {path}: not JSON ({exc})") from None
            if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in data.items()):
                raise InputError(f"acceptable counterparts {path}: expected an object of concept -> non-empty text")
            return {k.strip(): v.strip() for k, v in data.items()}
        pairs = []
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            concept, tab, counterpart = line.partition("\t")
            if not tab or not concept.strip() or not counterpart.strip():
                raise InputError(f"{path}:{line_no}: expected 'concept<TAB>acceptable text'")
            pairs.append((concept.strip(), counterpart.strip()))
        return dict(pairs)
    out = {}
    for item in source.split(";"):
        if not item.strip():
            continue
        concept, eq, counterpart = item.partition("=")
        if not eq or not concept.strip() or not counterpart.strip():
            raise InputError(f"bad acceptable counterpart {item.strip()!r}: use concept=text (several separated by ';') or a .json/.tsv file")
        out[concept.strip()] = counterpart.strip()
    if not out:
        raise InputError("no acceptable counterpart given")
    return out
