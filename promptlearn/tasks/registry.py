"""Finding a task by name or file: built-in tasks, tasks registered by code, and user tasks
defined in a ``.py`` file (``TASK`` or ``make_task()``) or declared in a ``.yaml`` file.

Built-in tasks are created on demand (``get_task``), so that importing this module or listing
the tasks loads no model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import DataFileError, InputError, one_line
from .base import Task

TaskFactory = Callable[[], Task]

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
_TASK_FILE_SUFFIXES = (".py", ".yaml", ".yml")


def _builtin_factories() -> dict[str, TaskFactory]:
    from .antonyms import make_antonyms_task
    from .ores import make_ores_task
    from .plurals import make_plurals_task

    return {"ores": make_ores_task, "antonyms": make_antonyms_task, "plurals": make_plurals_task}


_REGISTRY: dict[str, TaskFactory] = {}


def _registry() -> dict[str, TaskFactory]:
    if not _REGISTRY:
        _REGISTRY.update(_builtin_factories())
    return _REGISTRY


def register_task(name: str, factory: TaskFactory, *, replace: bool = False) -> None:
    """Make ``get_task(name)`` call ``factory()``. Names are lower-case identifiers
    (letters, digits, ``-``, ``_``); an existing name is only replaced with ``replace=True``."""
    if not _NAME.match(name):
        raise InputError(f"task name {name!r} must be lower-case letters, digits, '-' or '_', starting with a letter")
    if not callable(factory):
        raise InputError(f"task {name!r}: factory must be callable")
    registry = _registry()
    if name in registry and not replace:
        raise InputError(f"task {name!r} is already registered")
    registry[name] = factory


def list_tasks() -> list[tuple[str, str]]:
    """(name, summary) of every registered task, sorted by name."""
    return [(name, factory().summary) for name, factory in sorted(_registry().items())]


def get_task(name_or_path: str) -> Task:
    """The task called ``name_or_path``, or the task defined by the ``.py`` / ``.yaml`` / ``.yml``
    file at that path."""
    registry = _registry()
    if name_or_path in registry:
        return _checked(registry[name_or_path](), f"task {name_or_path!r}")
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() in _TASK_FILE_SUFFIXES or path.exists():
        if path.is_dir():
            raise InputError(f"task file {path} is a folder (give the .py or .yaml file)")
        if not path.is_file():
            raise InputError(f"task file not found: {path}")
        if path.suffix.lower() == ".py":
            return _checked(_load_python_task(path), str(path))
        if path.suffix.lower() in (".yaml", ".yml"):
            return load_yaml_task(path)
        raise InputError(f"task file {path}: expected a .py, .yaml or .yml file")
    known = ", ".join(sorted(registry))
    raise InputError(f"unknown task {name_or_path!r} (known: {known}; or give a path to a .py or .yaml task file)")


def _checked(task: object, where: str) -> Task:
    if not isinstance(task, Task):
        raise InputError(f"{where}: expected a promptlearn Task, got {type(task).__name__}")
    if not task.input_fields:
        raise InputError(f"{where}: task {task.name!r} has no input fields")
    return task


def _load_python_task(path: Path) -> Task:
    """Import the file as a private module and take its ``TASK`` or the result of ``make_task()``."""
    resolved = path.resolve()
    module_name = "promptlearn_user_task_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(f"task file {path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any failure becomes one line naming the file
        raise InputError(f"task file {path}: import failed: {type(exc).__name__}: {exc}") from exc
    if hasattr(module, "TASK"):
        return _checked(module.TASK, f"task file {path}: TASK")
    make_task = getattr(module, "make_task", None)
    if not callable(make_task):
        raise InputError(f"task file {path}: defines neither TASK (a Task) nor make_task() -> Task")
    try:
        task = make_task()
    except Exception as exc:  # user code, as above
        raise InputError(f"task file {path}: make_task() failed: {type(exc).__name__}: {exc}") from exc
    return _checked(task, f"task file {path}: make_task()")


_YAML_KEYS = {
    "name", "input_fields", "description", "description_file", "predict", "predict_file", "parser",
    "scorer", "human_instruction", "summary", "default_trainset", "default_valset",
}


def load_yaml_task(path: str | Path) -> Task:
    """A task declared in YAML::

        name: past-tense
        input_fields: [verb]
        description: "Past tense: give the simple past of an English verb."   # or description_file: task.j2
        predict: "{{ verb | field('verb') }}\\nPast tense:"                  # or predict_file: predict.j2
        parser: strip            # strip | raw | first_line
        scorer: exact_match      # exact_match | contains | ores
        human_instruction: Write the simple past tense of the verb.
        default_trainset: past_tense.jsonl                               # bundled name or path (relative to this file)

    Template files are read relative to the YAML file; the templates travel with the task
    (``Task.templates``), so a run records their text.
    """
    from ..prompts import PromptLibrary
    from .parsers import PARSERS

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or one_line(exc)
        raise DataFileError(path, mark.line + 1 if mark else None, f"invalid YAML: {problem}") from None
    if not isinstance(spec, dict):
        raise DataFileError(path, None, "expected a mapping of task settings")
    unknown = sorted(set(spec) - _YAML_KEYS)
    if unknown:
        raise DataFileError(path, None, f"unknown key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(sorted(_YAML_KEYS))})")

    def text(key: str, *, required: bool = True) -> str | None:
        value = spec.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise DataFileError(path, None, f"{key!r} must be a non-empty string")
        return value

    def template(key: str) -> str:
        inline, file_key = spec.get(key), spec.get(f"{key}_file")
        if (inline is None) == (file_key is None):
            raise DataFileError(path, None, f"give exactly one of {key!r} (template text) or '{key}_file' (a path)")
        if inline is not None:
            return text(key)  # type: ignore[return-value]
        source = path.parent / text(f"{key}_file")  # type: ignore[operator]
        if not source.is_file():
            raise DataFileError(path, None, f"'{key}_file' not found: {source}")
        try:
            return source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataFileError(path, None, f"'{key}_file' {source} is not UTF-8 text") from None

    name = text("name")
    if not _NAME.match(name):  # type: ignore[arg-type]
        raise DataFileError(path, None, f"name {name!r} must be lower-case letters, digits, '-' or '_', starting with a letter")
    fields = spec.get("input_fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) and f.isidentifier() for f in fields):
        raise DataFileError(path, None, "'input_fields' must be a non-empty list of identifiers")
    if len(set(fields)) != len(fields):
        raise DataFileError(path, None, "'input_fields' has duplicates")
    parser_name = spec.get("parser", "strip")
    if parser_name not in PARSERS:
        raise DataFileError(path, None, f"parser {parser_name!r} is not one of {', '.join(PARSERS)}")
    scorer_name = spec.get("scorer")
    scorer, requires_references, extra_check = _yaml_scorer(path, scorer_name, fields)

    description_name, predict_name = f"yaml/{name}/task.j2", f"yaml/{name}/predict.j2"
    templates = {description_name: template("description"), predict_name: template("predict")}
    library = PromptLibrary(inline=templates)
    try:
        library.render(description_name, task_name=name, input_fields=list(fields))
        library.render(predict_name, **{f: f"<{f}>" for f in fields})
    except InputError as exc:
        raise DataFileError(path, None, str(exc)) from None

    def dataset(key: str) -> str | None:
        value = text(key, required=False)
        if value is None:
            return None
        local = path.parent / value
        return str(local) if local.exists() else value

    return Task(
        name=name,  # type: ignore[arg-type]
        input_fields=tuple(fields),
        scorer=scorer,
        description_template=description_name,
        predict_template=predict_name,
        parse=PARSERS[parser_name],
        human_instruction=text("human_instruction", required=False),
        default_trainset=dataset("default_trainset"),
        default_valset=dataset("default_valset"),
        summary=text("summary", required=False) or f"user task from {path.name}",
        templates=templates,
        requires_references=requires_references,
        extra_check=extra_check,
    )


def _yaml_scorer(path: Path, scorer_name: Any, fields: list[str]) -> tuple[Any, bool, Any]:
    """The scorer a YAML task names, whether it needs references, and its extra example check."""
    from .scorers import ContainsScorer, ExactMatchScorer

    if scorer_name == "exact_match":
        return ExactMatchScorer(), True, None
    if scorer_name == "contains":
        return ContainsScorer(), True, None
    if scorer_name == "ores":
        if not {"concept", "query"} <= set(fields):
            raise DataFileError(path, None, "scorer 'ores' needs input fields 'concept' and 'query'")
        from .ores import OresScorer, check_ores_example

        return OresScorer(), False, check_ores_example
    raise DataFileError(path, None, f"scorer {scorer_name!r} is not one of exact_match, contains, ores")
