"""The method registry: the one place a synthesis method is defined.

A :class:`MethodSpec` says everything the rest of promptlearn needs to know about a method:

* ``build``: its intervention factory (``MethodInputs -> [Intervention]``);
* what it needs: the concepts, a rewrite (and from which instruction source: ``"learned"``, the
  instruction a fit learned, or ``"initial"``, the one it started from), classifier-free guidance
  above 1;
* its switch-step policy: ``None`` (no prompt switch), ``"given"`` (the user's S) or ``"zero"``
  (always S = 0: the rewrite for every step);
* its caption (:meth:`MethodSpec.describe`) and one-line summary;
* optionally its text-level form (``text_edit``), used by the benchmark's text stage.

``promptlearn generate``, both stages of ``promptlearn bench``, ``promptlearn methods`` and the
Python API all read this registry. Adding a method is one :func:`register_method` call plus its
intervention module::

    from promptlearn.synthesis.methods import MethodSpec, register_method

    def _build(inputs):
        from mypkg.interventions import MyIntervention
        return [MyIntervention(inputs.concepts)]

    register_method(MethodSpec("mine", "what it does, in one line", _build, needs_concepts=True))

Importing this module loads no torch: intervention modules are imported by the factories.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Sequence

from ..errors import InputError
from .switch_step import resolve_switch_step

if TYPE_CHECKING:  # pragma: no cover
    from .interventions.base import Intervention

LEARNED = "learned"
INITIAL = "initial"
REFERENCE_METHOD = "original"

SwitchPolicy = Literal["given", "zero"]


@dataclass(frozen=True)
class MethodInputs:
    """What an intervention factory gets: cleaned concepts, the rewrite (for rewriting methods),
    the switch step S (already set by the method's policy; an int or a fraction of the steps),
    the SLD preset and the negative prompt's own weight (None: the concepts replace the
    unconditional branch, diffusers' form)."""

    concepts: tuple[str, ...]
    rewrite: str | None = None
    switch_step: int | float | None = None
    sld_preset: str = "medium"
    negative_weight: float | None = None


@dataclass(frozen=True)
class MethodSpec:
    """One synthesis method (see the module docstring)."""

    name: str
    summary: str
    build: Callable[[MethodInputs], "list[Intervention]"]
    needs_concepts: bool = False
    instruction: str | None = None  # the instruction source of its rewrite; None: no rewrite
    needs_guidance: bool = False  # classifier-free guidance > 1
    switch: SwitchPolicy | None = None
    text_edit: Callable[[str, Sequence[str]], str] | None = None  # (query, concepts) -> text, no LLM
    recipe: str = ""  # where the method comes from (the paper's recipe, or promptlearn's own)
    default: bool = True  # in `promptlearn bench` without --methods (the paper preset runs every method)

    @property
    def needs_rewrite(self) -> bool:
        return self.instruction is not None

    def switch_step_for(self, given: int | float | None) -> int | float | None:
        """The S this method samples with, by its policy: ``None`` (no switch), the given S, or 0."""
        if self.switch is None:
            return None
        if self.switch == "zero":
            return 0
        return given

    def describe(self, *, switch_step: int | float | None = None, sld_preset: str | None = None,
                 negative_weight: float | None = None) -> str:
        """The caption under an image of this method, e.g. ``tin (S=2)``, ``sld (medium)`` or
        ``negative (alpha=7.5)``."""
        details = []
        if self.switch is not None:
            details.append(f"S={self.switch_step_for(switch_step)}")
        if self.name == "sld" and sld_preset:
            details.append(sld_preset)
        if self.name == "negative" and negative_weight is not None:
            details.append(f"alpha={negative_weight:g}")
        return f"{self.name} ({', '.join(details)})" if details else self.name

    def needs(self) -> str:
        """What the method needs, for ``promptlearn methods``."""
        parts = []
        if self.needs_concepts:
            parts.append("concepts")
        if self.instruction is not None:
            parts.append(f"rewrite ({self.instruction} instruction)")
        if self.needs_guidance:
            parts.append("guidance > 1")
        if self.switch is not None:
            parts.append("switch step S" if self.switch == "given" else "S = 0")
        return ", ".join(parts) or "-"

    def check(
        self,
        *,
        concepts: Sequence[str] = (),
        rewrite: str | None = None,
        guidance: float | None = None,
        switch_step: int | float | None = None,
        num_steps: int | None = None,
        check_rewrite: bool = True,
    ) -> None:
        """Refuse inputs this method cannot run with: one :class:`InputError` line naming the
        argument (``concepts``, ``rewrite``, ``guidance``, ``switch_step``)."""
        if self.needs_concepts and not _clean(concepts):
            raise InputError(f"method {self.name} needs a concept ({{concepts}})", arguments="concepts")
        if check_rewrite and self.needs_rewrite and (rewrite is None or not rewrite.strip()):
            raise InputError(f"method {self.name} needs a rewritten query ({{rewrite}}, made with the {self.instruction} instruction)", arguments="rewrite")
        if self.needs_guidance and guidance is not None and not guidance > 1.0:
            raise InputError(f"method {self.name} needs classifier-free guidance ({{guidance}} > 1), got {guidance}", arguments="guidance")
        if self.switch == "given" and num_steps is not None:
            resolve_switch_step(switch_step if switch_step is not None else DEFAULT_SWITCH_STEP, num_steps)

    def interventions(
        self,
        *,
        concepts: Sequence[str] = (),
        rewrite: str | None = None,
        switch_step: int | float | None = None,
        sld_preset: str = "medium",
        negative_weight: float | None = None,
    ) -> "list[Intervention]":
        """The interventions that make this method, after :meth:`check`."""
        self.check(concepts=concepts, rewrite=rewrite)
        given = switch_step if switch_step is not None else DEFAULT_SWITCH_STEP
        inputs = MethodInputs(tuple(_clean(concepts)), rewrite.strip() if rewrite else None, self.switch_step_for(given), sld_preset,
                              negative_weight)
        return list(self.build(inputs))


DEFAULT_SWITCH_STEP = 2
"""S when none is given: the first 2 sampler steps on the user's query (the paper's setting)."""

_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add ``spec`` to the registry (``replace=True`` to redefine a name); returns it."""
    if not isinstance(spec, MethodSpec):
        raise InputError(f"register_method expects a MethodSpec, got {type(spec).__name__}")
    name = spec.name.strip()
    if not name or name != name.lower() or "," in name or " " in name:
        raise InputError(f"bad method name {spec.name!r}: use lower-case letters, digits and dashes")
    if spec.switch not in (None, "given", "zero"):
        raise InputError(f"method {name}: switch policy must be None, 'given' or 'zero', got {spec.switch!r}")
    if name in _REGISTRY and not replace:
        raise InputError(f"method {name!r} is already registered (pass replace=True to redefine it)")
    _REGISTRY[name] = spec
    return spec


def ensure_method(spec: MethodSpec) -> MethodSpec:
    """Register ``spec`` unless its name is already there: a worker process (a Ray actor) gets the
    methods a run defined at run time (``bench --compare``) with its units."""
    if spec.name not in _REGISTRY:
        register_method(spec)
    return _REGISTRY[spec.name]


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``, or one line naming the known methods."""
    spec = _REGISTRY.get(str(name).strip().lower())
    if spec is None:
        raise InputError(f"unknown method {name!r}; choose from {', '.join(_REGISTRY)}")
    return spec


def list_methods() -> list[MethodSpec]:
    """Every registered method, in registration order."""
    return list(_REGISTRY.values())


def method_names(*, defaults_only: bool = False) -> list[str]:
    """Every registered method, or with ``defaults_only`` those run when none are named."""
    return [name for name, spec in _REGISTRY.items() if spec.default or not defaults_only]


def parse_methods(text: str | Sequence[str], *, known: Sequence[str] | None = None, what: str = "method") -> list[str]:
    """``"original,tin"`` -> ``["original", "tin"]``: known names only (the registry's by default),
    none twice, at least one."""
    choices = list(known) if known is not None else method_names()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [item.strip() for item in items if item.strip()]
    if known is None:
        names = [name.lower() for name in names]
    if not names:
        raise InputError(f"no {what} named; choose from {', '.join(choices)}")
    for name in names:
        if name not in choices:
            raise InputError(f"unknown {what} {name!r}; choose from {', '.join(choices)}")
    if len(set(names)) != len(names):
        raise InputError(f"a {what} is listed twice in {','.join(names)!r}")
    return names


def method_interventions(
    method: str,
    *,
    concepts: Sequence[str],
    rewrite: str | None = None,
    switch_step: int | float | None = None,
    sld_preset: str = "medium",
    negative_weight: float | None = None,
) -> "list[Intervention]":
    """The interventions that make ``method`` (see :class:`MethodSpec`)."""
    return get_method(method).interventions(concepts=concepts, rewrite=rewrite, switch_step=switch_step, sld_preset=sld_preset,
                                            negative_weight=negative_weight)


def _clean(concepts: Sequence[str] | str) -> list[str]:
    if isinstance(concepts, str):
        concepts = [concepts]
    return [c.strip() for c in concepts if c and c.strip()]


# ---- the built-in methods ------------------------------------------------------------------------
def _original(inputs: MethodInputs) -> list:
    return []


def _blacklist(inputs: MethodInputs) -> list:
    from .interventions.blacklist import Blacklist

    return [Blacklist(list(inputs.concepts))]


def _blacklist_text(query: str, concepts: Sequence[str]) -> str:
    from .interventions.blacklist import remove_concepts

    return remove_concepts(query, list(concepts))


def _negative(inputs: MethodInputs) -> list:
    from .interventions.negative_prompt import NegativePrompt

    return [NegativePrompt(list(inputs.concepts), weight=inputs.negative_weight)]


def _sld(inputs: MethodInputs) -> list:
    from .interventions.sld import SafeLatentDiffusion

    return [SafeLatentDiffusion(", ".join(inputs.concepts), inputs.sld_preset)]


def _prompt_switch(inputs: MethodInputs) -> list:
    from .interventions.prompt_switch import PromptSwitch

    assert inputs.rewrite is not None  # checked by MethodSpec.check
    return [PromptSwitch(inputs.rewrite, switch_step=inputs.switch_step if inputs.switch_step is not None else DEFAULT_SWITCH_STEP)]


def prompt_switch_method(name: str, instruction: str, summary: str, *, recipe: str = "") -> MethodSpec:
    """A TIN-like method (prompt switch at the given S) rewriting with the named instruction, not
    registered: ``bench --compare NAME=RUN`` adds it for its run only (:func:`scoped_methods`)."""
    return MethodSpec(name, summary, _prompt_switch, instruction=instruction, switch="given", recipe=recipe, default=False)


@contextlib.contextmanager
def scoped_methods(specs: Sequence[MethodSpec]) -> Iterator[list[MethodSpec]]:
    """Register ``specs`` for the duration of a run and remove them afterwards, so that methods a
    run defines (``bench --compare``) do not outlive it in a long-lived process (the UI, a notebook,
    a second ``bench`` call). A name already registered is one line naming it."""
    added: list[str] = []
    try:
        for spec in specs:
            if spec.name.strip().lower() in _REGISTRY:
                raise InputError(f"method name {spec.name!r} is taken by a registered method; pick another name", arguments="name")
            register_method(spec)
            added.append(spec.name.strip())
        yield list(specs)
    finally:
        for name in added:
            _REGISTRY.pop(name, None)


for _spec in (
    MethodSpec("original", "unconstrained query (the reference image of every benchmark row)", _original,
               text_edit=lambda query, concepts: query, recipe="ORES Table 1"),
    MethodSpec("blacklist", "concept words deleted from the query", _blacklist, needs_concepts=True,
               text_edit=_blacklist_text, recipe="ORES Table 1"),
    MethodSpec("negative", "concepts as negative prompt", _negative, needs_concepts=True, needs_guidance=True, recipe="ORES Table 1"),
    MethodSpec("sld", "Safe Latent Diffusion guidance away from the concepts", _sld, needs_concepts=True, needs_guidance=True,
               recipe="SLD (Schramowski et al. 2023)"),
    MethodSpec("tin", "two-stage intervention: the query for S steps, then the learned rewrite", _prompt_switch,
               instruction=LEARNED, switch="given", recipe="ORES Table 1 (TIN)"),
    MethodSpec("tin-no-instruction", "prompt switch at S with the rewrite of the initial (unlearned) instruction", _prompt_switch,
               instruction=INITIAL, switch="given", recipe="ablation of TIN"),
    MethodSpec("tin-no-intervention", "the learned rewrite for every step (S = 0)", _prompt_switch,
               instruction=LEARNED, switch="zero", recipe="ablation of TIN"),
    MethodSpec("tin-human", "prompt switch at S with the rewrite of the task's human-designed instruction", _prompt_switch,
               instruction="human", switch="given", recipe="ORES Table 3 (human-designed instruction)", default=False),
    MethodSpec("tin-in-context", "prompt switch at S with the rewrite of the in-context baseline (training examples, all references)",
               _prompt_switch, instruction="in-context", switch="given", recipe="ORES Table 3 (in-context learning)", default=False),
):
    register_method(_spec)
del _spec

__all__ = [
    "DEFAULT_SWITCH_STEP",
    "INITIAL",
    "LEARNED",
    "MethodInputs",
    "MethodSpec",
    "REFERENCE_METHOD",
    "get_method",
    "list_methods",
    "method_interventions",
    "method_names",
    "parse_methods",
    "register_method",
    "scoped_methods",
    "resolve_switch_step",
]
