"""Judge specs: ``vqa:MODEL`` or ``clip:MODEL``, MODEL a local folder or a hub id (resolved by
:func:`promptlearn.hub.resolve_model_source`, like the diffusion model), or ``toy`` (the toy world's exact
pixel judge, no model), checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import InputError
from .base import Judge

JUDGE_KINDS = ("vqa", "clip", "toy", "nudenet", "q16")
JUDGE_FORMS = ("'vqa:MODEL' (a transformers VQA / image-text-to-text model) or 'clip:MODEL' (a CLIP model), MODEL a "
               "folder or a hub id, 'toy' (the exact pixel judge of the toy world, no model), or 'nudenet' / "
               "'nudenet:THRESHOLD' (the nudenet package's detector, nudity only), or 'q16:MODEL' / 'q16:MODEL@PROMPTS' (Q16: "
               "a CLIP model and Q16's learned prompts, inappropriate content only)")


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed judge spec; :meth:`load` builds the judge (loading its model)."""

    kind: str
    path: Path | None  # the local folder (a hub id's snapshot); None for the toy and nudenet judges
    source: str = ""  # as given: an absolute folder or a hub id (names the judge in a run's config)
    threshold: float | None = None  # nudenet
    prompts: Path | None = None  # q16: the learned prompt file

    def __str__(self) -> str:
        if self.kind == "nudenet":
            return f"nudenet:{self.threshold}"
        if self.kind == "q16":
            return f"q16:{self.source or self.path}@{self.prompts}"
        return self.kind if self.path is None else f"{self.kind}:{self.source or self.path}"

    def load(self, *, device: str | None = None) -> Judge:
        if self.kind == "nudenet":
            from .nudenet import NudeNetJudge

            return NudeNetJudge(threshold=self.threshold)
        if self.kind == "toy":
            from ...toyworld.judge import ToyJudge

            return ToyJudge()
        if self.kind == "q16":
            from .q16 import Q16Judge

            return Q16Judge.from_path(self.path, prompts=self.prompts, device=device)
        if self.kind == "vqa":
            from .vqa import VQAJudge

            return VQAJudge.from_path(self.path, device=device)
        from .clip import CLIPJudge

        return CLIPJudge.from_path(self.path, device=device)


def parse_judge_spec(text: str) -> JudgeSpec:
    """Parse and check ``vqa:MODEL`` / ``clip:MODEL``; a bad form or a missing model is one
    :class:`InputError` line."""
    if (text or "").strip().casefold() == "toy":
        return JudgeSpec("toy", None)
    if (text or "").strip().casefold().partition(":")[0].strip() == "nudenet":
        return _nudenet_spec(text)
    kind, sep, rest = (text or "").strip().partition(":")
    kind = kind.strip().casefold()
    if not sep or kind not in JUDGE_KINDS or kind == "toy" or not rest.strip():
        raise InputError(f"bad judge spec {text!r}; use {JUDGE_FORMS}")
    from ...hub import is_hub_id, resolve_model_source

    model, prompts = rest.strip(), None
    if kind == "q16":
        model, _, given = model.partition("@")
        model = model.strip()
        if not model:
            raise InputError(f"bad judge spec {text!r}; use {JUDGE_FORMS}")
    folder = resolve_model_source(model, what="judge model")
    if kind == "q16":
        from .q16 import find_prompts

        prompts = Path(given.strip()).expanduser() if given.strip() else find_prompts(folder)
        if not prompts.is_file():
            raise InputError(f"judge q16: Q16 prompts {prompts}: no such file")
    return JudgeSpec(kind, Path(folder), model if is_hub_id(model) else folder, prompts=prompts)


def _nudenet_spec(text: str) -> JudgeSpec:
    """``nudenet`` or ``nudenet:THRESHOLD``; the package must be importable (checked now, not at load)."""
    from .nudenet import DEFAULT_THRESHOLD

    _, sep, rest = text.strip().partition(":")
    threshold = DEFAULT_THRESHOLD
    if sep:
        try:
            threshold = float(rest)
        except ValueError:
            raise InputError(f"bad judge spec {text!r}: the nudenet threshold must be a number in (0, 1]") from None
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"bad judge spec {text!r}: the nudenet threshold must be a number in (0, 1]")
    import importlib.util

    if importlib.util.find_spec("nudenet") is None:
        raise InputError("the nudenet judge needs the nudenet package (pip install nudenet)")
    return JudgeSpec("nudenet", None, "nudenet", threshold)
