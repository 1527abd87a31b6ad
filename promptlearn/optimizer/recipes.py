"""Recipes: a named way of learning an instruction, as data (a template folder plus settings).

A recipe lives in ``templates/recipes/<name>/recipe.yaml`` beside its templates. The learner
reads its settings (epochs, batch size, history policy, example order, sampling, parsing,
selection, where the instruction goes) and its template names; it never branches on the name.

Built-in recipes:

* ``promptlearn`` (the default): promptlearn's own loop, not the paper's.
* ``paper``: the ORES paper's loop as published (kodenii/ORES ``instruction.py``, MIT licence).

``docs/fidelity.md`` says where they differ and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from ..errors import InputError
from ..llm import SamplingParams, to_params
from ..llm.errors import InvalidRequestError

DEFAULT_RECIPE = "promptlearn"
RECIPES_FOLDER = "recipes"
TEMPLATE_ROLES = ("description", "init", "update", "pack", "predict", "inference")
HistoryKind = Literal["scored", "chat", "none"]
_ORDERS = ("shuffle", "file-then-shuffle")


@dataclass(frozen=True)
class HistoryPolicy:
    """What the optimizer LLM sees of earlier steps.

    * ``scored``: the last ``size`` earlier instructions with their batch scores, rendered inside
      the update prompt (``history`` in its context); every call is a fresh conversation.
    * ``chat``: the calls form one conversation; each call sends the kept messages plus its prompt,
      and its prompt and answer are then appended as a user/assistant pair. Once the conversation
      holds ``limit`` messages, it is cut to the first ``keep_first`` plus the last ``keep_last``
      before the pair is appended (the paper: 6, 2, 2). With ``rewrites``, the rewrite calls made
      while learning share the conversation too (so they run one after another).
    * ``none``: nothing of earlier steps.
    """

    kind: HistoryKind = "scored"
    size: int = 3
    limit: int = 6
    keep_first: int = 2
    keep_last: int = 2
    rewrites: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size, "limit": self.limit, "keep_first": self.keep_first, "keep_last": self.keep_last, "rewrites": self.rewrites}


@dataclass(frozen=True)
class Recipe:
    """A recipe's settings; see the module docstring. ``meta``/``predict``/``inference`` are
    sampling overrides (``None``: the project defaults); with ``seeded`` every call carries the
    run's seed and its own sample index."""

    name: str
    summary: str
    source: str
    tasks: tuple[str, ...] | None = None
    templates: Mapping[str, str] = field(default_factory=dict)
    exact_prompts: bool = False
    instruction_in: Literal["system", "prompt"] = "system"
    epochs: int = 2
    batch_size: int = 4
    order: str = "shuffle"
    history: HistoryPolicy = HistoryPolicy()
    select: Literal["last", "best"] = "last"
    parse: Literal["clean", "raw"] = "clean"
    seeded: bool = False
    meta: Mapping[str, Any] | None = None
    predict: Mapping[str, Any] | None = None
    inference: Mapping[str, Any] | None = None
    folder: Path | None = None
    # beyond the paper's loop (the paper recipe keeps these defaults, i.e. its own behaviour):
    candidates: int = 1  # proposals per step (k), made concurrently, each its own sample index
    accept: Literal["always", "improve"] = "always"  # improve: the best proposal must beat p_j on the mini-batch
    start: str = "p0"  # p0 (the LLM's initial instruction), human (the task's), best (of p0 and human, on validation), or an instruction file
    holdout: float = 0.0  # without a validation set, the share of the training set held out to select by
    scorer: Literal["strict", "graded"] = "strict"  # which of the task's scorers drives learning
    demos: int = 0  # demonstrations (drawn seeded from the training split) that travel with each instruction
    parents: Literal["current", "pareto"] = "current"  # pareto: each step improves on a parent drawn from the validation Pareto front

    def template(self, role: str, default: str | None = None) -> str | None:
        """The template name this recipe uses for ``role`` (``default`` when it names none)."""
        return self.templates.get(role, default)

    def check_task(self, task_name: str) -> None:
        if self.tasks is not None and task_name not in self.tasks:
            raise InputError(f"recipe {self.name!r} is defined for task(s) {', '.join(self.tasks)}, not {task_name!r}")

    def sampling(self, role: str, default: SamplingParams) -> SamplingParams:
        """The sampling parameters of ``role`` ("meta", "predict", "inference")."""
        overrides = getattr(self, role)
        if overrides is None:
            return default
        try:
            return to_params(default, **dict(overrides))
        except InvalidRequestError as exc:
            raise InputError(f"recipe {self.name!r}: sampling.{role}: {exc}") from None

    def line(self) -> str:
        """One line for ``promptlearn recipes``."""
        return f"{self.name:<12} {self.summary}"

    def to_json(self) -> dict[str, Any]:
        """The settings that determine a run (recorded in its config)."""
        return {
            "name": self.name,
            "source": self.source,
            "templates": dict(self.templates),
            "exact_prompts": self.exact_prompts,
            "instruction_in": self.instruction_in,
            "order": self.order,
            "history": self.history.to_json(),
            "parse": self.parse,
            "seeded": self.seeded,
            "candidates": self.candidates,
            "accept": self.accept,
            "start": self.start,
            "holdout": self.holdout,
            "scorer": self.scorer,
            "demos": self.demos,
            "parents": self.parents,
        }


def recipes_dir() -> Path:
    from .. import templates  # the package mapped to the top-level templates/ folder

    return Path(templates.__file__).resolve().parent / RECIPES_FOLDER


def recipe_names() -> list[str]:
    folder = recipes_dir()
    return sorted(p.parent.name for p in folder.glob("*/recipe.yaml"))


def list_recipes() -> list[Recipe]:
    return [get_recipe(name) for name in recipe_names()]


def get_recipe(recipe: str | Recipe | None) -> Recipe:
    """A built-in recipe by name (``None``: the default), or ``recipe`` itself."""
    if isinstance(recipe, Recipe):
        return recipe
    name = DEFAULT_RECIPE if recipe is None else recipe
    names = recipe_names()
    if not isinstance(name, str) or name not in names:
        raise InputError(f"unknown recipe {name!r} (choose from {', '.join(names)})")
    path = recipes_dir() / name / "recipe.yaml"
    return load_recipe(path)


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a ``recipe.yaml``; a problem is an :class:`InputError` naming the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"recipe {path}: cannot read it ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError(f"recipe {path}: expected a mapping of settings")

    def bad(message: str) -> InputError:
        return InputError(f"recipe {path}: {message}")

    known = {"name", "summary", "source", "tasks", "templates", "exact_prompts", "instruction_in", "epochs", "batch_size", "order", "history", "select", "parse", "sampling", "candidates", "accept", "start", "holdout", "scorer", "demos", "parents"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise bad(f"unknown setting(s) {', '.join(unknown)}")
    templates = data.get("templates") or {}
    if not isinstance(templates, dict) or any(role not in TEMPLATE_ROLES or not isinstance(v, str) for role, v in templates.items()):
        raise bad(f"templates must map roles ({', '.join(TEMPLATE_ROLES)}) to template names")
    history = data.get("history") or {}
    if not isinstance(history, dict):
        raise bad("history must be a mapping")
    try:
        policy = HistoryPolicy(**history)
    except TypeError as exc:
        raise bad(f"history: {exc}") from None
    if policy.kind not in ("scored", "chat", "none"):
        raise bad(f"history.kind must be scored, chat or none, got {policy.kind!r}")
    if policy.kind == "chat" and not (policy.keep_first + policy.keep_last < policy.limit and policy.keep_first % 2 == 0 and policy.keep_last % 2 == 0):
        raise bad("history: keep_first + keep_last must be below limit, each an even number of messages")
    sampling = data.get("sampling") or {}
    if not isinstance(sampling, dict):
        raise bad("sampling must be a mapping")
    tasks = data.get("tasks")
    for key, ok in (
        ("epochs", isinstance(data.get("epochs", 2), int) and data.get("epochs", 2) >= 0),
        ("batch_size", isinstance(data.get("batch_size", 4), int) and data.get("batch_size", 4) >= 1),
        ("order", data.get("order", "shuffle") in _ORDERS),
        ("select", data.get("select", "last") in ("last", "best")),
        ("parse", data.get("parse", "clean") in ("clean", "raw")),
        ("instruction_in", data.get("instruction_in", "system") in ("system", "prompt")),
        ("candidates", isinstance(data.get("candidates", 1), int) and data.get("candidates", 1) >= 1),
        ("accept", data.get("accept", "always") in ("always", "improve")),
        ("start", isinstance(data.get("start", "p0"), str) and bool(str(data.get("start", "p0")).strip())),
        ("holdout", isinstance(data.get("holdout", 0.0), (int, float)) and 0.0 <= data.get("holdout", 0.0) < 1.0),
        ("scorer", data.get("scorer", "strict") in ("strict", "graded")),
        ("parents", data.get("parents", "current") in ("current", "pareto")),
        ("demos", isinstance(data.get("demos", 0), int) and not isinstance(data.get("demos", 0), bool) and data.get("demos", 0) >= 0),
        ("tasks", tasks is None or (isinstance(tasks, list) and all(isinstance(t, str) for t in tasks))),
    ):
        if not ok:
            raise bad(f"invalid {key}: {data.get(key)!r}")
    recipe = Recipe(
        name=str(data.get("name") or path.parent.name),
        summary=str(data.get("summary", "")),
        source=str(data.get("source", "")),
        tasks=None if tasks is None else tuple(tasks),
        templates=dict(templates),
        exact_prompts=bool(data.get("exact_prompts", False)),
        instruction_in=data.get("instruction_in", "system"),
        epochs=data.get("epochs", 2),
        batch_size=data.get("batch_size", 4),
        order=data.get("order", "shuffle"),
        history=policy,
        select=data.get("select", "last"),
        parse=data.get("parse", "clean"),
        seeded=bool(sampling.get("seeded", False)),
        meta=sampling.get("meta"),
        predict=sampling.get("predict"),
        inference=sampling.get("inference"),
        folder=path.parent,
        candidates=data.get("candidates", 1),
        accept=data.get("accept", "always"),
        start=str(data.get("start", "p0")),
        holdout=float(data.get("holdout", 0.0)),
        scorer=data.get("scorer", "strict"),
        demos=data.get("demos", 0),
        parents=data.get("parents", "current"),
    )
    for role in ("meta", "predict", "inference"):
        recipe.sampling(role, SamplingParams())  # checks the overrides
    return recipe


__all__ = ["DEFAULT_RECIPE", "HistoryPolicy", "Recipe", "get_recipe", "list_recipes", "load_recipe", "recipe_names"]
