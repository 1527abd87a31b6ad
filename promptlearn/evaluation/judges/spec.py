"""``--judge`` values: ``vqa:PATH``, ``clip:PATH`` or ``toy``, checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from .base import Judge

JUDGE_KINDS = ("vqa", "clip", "toy")
JUDGE_FORMS = ("'vqa:PATH' (a transformers VQA / image-text-to-text model folder), 'clip:PATH' (a CLIP model folder) "
               "or 'toy' (the exact pixel judge of the toy world, no model)")


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed judge spec; :meth:`load` builds the judge (loading its model)."""

    kind: str
    path: Path | None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def load(self, *, device: str | None = None) -> Judge:
        if self.kind == "toy":
            from ...toyworld.judge import ToyJudge

            return ToyJudge()
        if self.kind == "vqa":
            from .vqa import VQAJudge

            return VQAJudge.from_path(self.path, device=device)
        from .clip import CLIPJudge

        return CLIPJudge.from_path(self.path, device=device)


def parse_judge_spec(text: str) -> JudgeSpec:
    """Parse and check ``vqa:PATH`` / ``clip:PATH``; a bad form or a missing path is one
    :class:`InputError` line."""
    if (text or "").strip().casefold() == "toy":
        return JudgeSpec("toy", None)
    kind, sep, rest = (text or "").strip().partition(":")
    kind = kind.strip().casefold()
    if not sep or kind not in JUDGE_KINDS or kind == "toy" or not rest.strip():
        raise InputError(f"bad judge spec {text!r}; use {JUDGE_FORMS}")
    path = Path(rest.strip()).expanduser().resolve()  # absolute: it names the judge in the run's config
    if not path.exists():
        raise InputError(f"judge model not found: {path} (from --judge {text})")
    if not path.is_dir():
        raise InputError(f"judge model must be a model folder, got a file: {path}")
    return JudgeSpec(kind, path)
