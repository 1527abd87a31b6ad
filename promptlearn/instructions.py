"""Instruction sources: the one place an instruction is read from.

:func:`resolve_instruction` turns a *source* into an instruction text:

* a text file (``runs/demo/instruction.txt``): its content;
* a ``promptlearn fit`` run folder (``runs/demo``): its ``learned`` instruction
  (``instruction.txt``), its ``initial`` one (the history's first record) or its ``best`` one (by
  validation score, from ``state.json``), as ``role`` says;
* a named built-in: ``human`` (the task's human-written instruction) or ``in-context`` (the
  task's training examples shown instead of an instruction);
* ``NAME:ARGUMENT`` for a source registered with :func:`register_instruction_source` (built in:
  ``file:PATH``, ``run:FOLDER`` and ``paper-checkpoint:PATH``, the ORES authors' learned
  instruction); a new source is one registration.

Errors name the argument (``source``, ``role``), never a command-line flag; the CLI adds its flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .tasks.base import Task

Role = Literal["learned", "initial", "best"]
ROLES = ("learned", "initial", "best")


@dataclass(frozen=True)
class Instruction:
    """An instruction's text and where it came from (shown in reports and logs)."""

    text: str
    origin: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SourceContext:
    """What a source may need besides its argument."""

    task: "Task | None" = None
    role: Role = "learned"
    trainset: Any = None  # examples or a dataset name/path, for the in-context source


SourceResolver = Callable[[str, SourceContext], Instruction]
_SOURCES: dict[str, tuple[SourceResolver, bool, str]] = {}  # name -> (resolver, takes an argument, summary)


def register_instruction_source(name: str, resolver: SourceResolver, *, takes_argument: bool, summary: str, replace: bool = False) -> None:
    """Add a named source. With ``takes_argument`` it is written ``NAME:ARGUMENT`` (a path, say);
    without, just ``NAME``. ``resolver(argument, context)`` returns an :class:`Instruction`."""
    if not name or ":" in name or name != name.strip():
        raise InputError(f"bad instruction source name {name!r}")
    if name in _SOURCES and not replace:
        raise InputError(f"instruction source {name!r} is already registered")
    _SOURCES[name] = (resolver, takes_argument, summary)


def instruction_sources() -> list[tuple[str, str]]:
    """(name, summary) of every named source."""
    return [(name + (":ARG" if takes else ""), summary) for name, (_, takes, summary) in _SOURCES.items()]


def resolve_instruction(
    source: str | Path,
    *,
    task: "Task | None" = None,
    role: Role = "learned",
    trainset: Any = None,
) -> Instruction:
    """The instruction named by ``source`` (see the module docstring); one :class:`InputError`
    line when it cannot be read or is empty."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    context = SourceContext(task=task, role=role, trainset=trainset)
    text = str(source).strip()
    if not text:
        raise InputError("the instruction source is empty (source)")
    name, sep, argument = text.partition(":")
    if sep and name in _SOURCES and _SOURCES[name][1]:
        return _SOURCES[name][0](argument.strip(), context)
    if not sep and text in _SOURCES and not _SOURCES[text][1]:
        return _SOURCES[text][0]("", context)
    path = Path(text).expanduser()
    if path.is_dir():
        return _from_run(str(path), context)
    if path.is_file():
        return _from_file(str(path), context)
    named = ", ".join(n for n, _ in instruction_sources())
    raise InputError(f"instruction not found: {text} is neither a file, a fit run folder nor a named source ({named})")


def method_instruction_source(
    method_role: str,
    *,
    instruction: str | Path | None,
    initial_instruction: str | Path | None = None,
    run_role: Role = "learned",
) -> tuple[str, Role] | None:
    """Where a rewriting method's instruction comes from, as ``(source, role)`` for
    :func:`resolve_instruction`; the one mapping that ``generate``, ``bench`` and the UI use.

    A method rewrites with the instruction named by its role (``MethodSpec.instruction``):

    * ``learned``: the administrator's ``instruction`` source (a fit run folder gives its ``run_role``
      instruction, ``learned`` unless asked otherwise);
    * ``initial``: ``initial_instruction``, or else the initial instruction of ``instruction`` when that
      is a fit run folder;
    * any other role that names a source without an argument (``human``, ``in-context``): that source.

    ``None`` when the role's source was not given (the caller says which argument to give); one
    :class:`InputError` line for a role no source can give.
    """
    if method_role == "learned":
        return None if instruction is None else (str(instruction), run_role)
    if method_role == "initial":
        if initial_instruction is not None:
            return str(initial_instruction), "initial"
        if instruction is not None and Path(str(instruction)).expanduser().is_dir():
            return str(instruction), "initial"
        return None
    if method_role in _SOURCES and not _SOURCES[method_role][1]:
        return method_role, "learned"
    raise InputError(f"no instruction source gives the {method_role!r} instruction (method_role)")


# ---- the built-in sources -----------------------------------------------------------------------
def read_instruction_file(path: str | Path) -> str:
    """The stripped text of an instruction file; one line when it is missing, unreadable or empty."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"instruction file not found: {file}")
    try:
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read instruction file {file}: {exc}") from None
    if not text:
        raise InputError(f"instruction file {file} is empty")
    return text


def _from_file(argument: str, context: SourceContext) -> Instruction:
    if Path(argument).expanduser().is_dir():
        return _from_run(argument, context)
    return Instruction(read_instruction_file(argument), f"file {argument}")


def _from_run(argument: str, context: SourceContext) -> Instruction:
    import json

    from .optimizer.learner import INSTRUCTION

    folder = Path(argument).expanduser()
    if not folder.is_dir():
        raise InputError(f"fit run folder not found: {folder}")
    if context.role == "learned":
        if not (folder / INSTRUCTION).is_file():
            raise InputError(f"fit run {folder} has no {INSTRUCTION} (it has not finished: resume it, or ask for its best instruction)")
        return Instruction(read_instruction_file(folder / INSTRUCTION), f"fit run {folder} (learned)")
    if context.role == "initial":
        from .optimizer.records import InitRecord, read_history

        for record in read_history(folder, argument="source"):
            if isinstance(record, InitRecord) and record.instruction.strip():
                return Instruction(record.instruction.strip(), f"fit run {folder} (initial)")
        raise InputError(f"fit run {folder}: its history has no initial instruction (a baseline run?); give the initial instruction as a file")
    state_path = folder / "state.json"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"fit run {folder}: cannot read state.json: {exc}") from None
    best = state.get("best") or {}
    if not str(best.get("instruction", "")).strip():
        raise InputError(f"fit run {folder} records no best instruction (it was run without a validation set)")
    return Instruction(str(best["instruction"]).strip(), f"fit run {folder} (best, version {best.get('version')})")


def _need_task(context: SourceContext, name: str) -> "Task":
    if context.task is None:
        raise InputError(f"the {name!r} instruction needs a task (task)")
    return context.task


def _human(argument: str, context: SourceContext) -> Instruction:
    from .optimizer.baselines import human_instruction

    task = _need_task(context, "human")
    return Instruction(human_instruction(task), f"task {task.name} (human-written)")


def _in_context(argument: str, context: SourceContext) -> Instruction:
    from .data import load_examples
    from .optimizer.baselines import in_context_instruction

    task = _need_task(context, "in-context")
    source = context.trainset if context.trainset is not None else task.default_trainset
    if source is None or source == "":
        raise InputError(f"the in-context instruction needs training examples (trainset); task {task.name!r} has no default")
    examples = load_examples(source, task) if isinstance(source, (str, Path)) else list(source)
    return Instruction(in_context_instruction(task.prompt_library(), task, examples), f"task {task.name} (in-context, {source if isinstance(source, (str, Path)) else 'given examples'})")


register_instruction_source("file", _from_file, takes_argument=True, summary="a text file holding the instruction")
register_instruction_source("run", _from_run, takes_argument=True, summary="a promptlearn fit run folder (learned, initial or best)")
register_instruction_source("human", _human, takes_argument=False, summary="the task's human-written instruction")
register_instruction_source("in-context", _in_context, takes_argument=False, summary="the task's training examples shown instead of an instruction")


def _paper_checkpoint(argument: str, context: SourceContext) -> Instruction:
    from .optimizer.baselines import paper_checkpoint_instruction

    return Instruction(paper_checkpoint_instruction(argument), f"paper checkpoint {argument} (the ORES authors' learned instruction)")


register_instruction_source(
    "paper-checkpoint", _paper_checkpoint, takes_argument=True,
    summary="the ORES authors' learned instruction (their checkpoint.txt, a path you give; not shipped)",
)

__all__ = [
    "Instruction",
    "ROLES",
    "SourceContext",
    "instruction_sources",
    "method_instruction_source",
    "read_instruction_file",
    "register_instruction_source",
    "resolve_instruction",
]
