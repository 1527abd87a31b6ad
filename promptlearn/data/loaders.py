"""Reading datasets into :class:`~promptlearn.tasks.Example` lists, checked against a task.

Formats (chosen by the file's suffix):

* ``.jsonl`` -- one JSON object a line: ``{"id"?: ..., <input fields>..., "references": [...]}``
  (or ``"reference": "..."``); the fields may also sit under ``"inputs"`` (the shape
  :meth:`Example.to_json` writes). Other keys go into ``meta``.
* ``.csv`` -- a header row naming the columns: the task's input fields, optionally ``id`` and
  reference columns (``reference``, ``references``, ``reference1``, ``reference_2`` ...; one
  reference each). Other columns go into ``meta``.
* ``.tsv`` / ``.txt`` -- with a header row naming the task's input fields: like CSV, tab-separated.
  Without one: the ORES evaluation format, three columns ``concept``, ``implicit object``,
  ``query`` (the implicit object goes into ``meta``).
* ``.txt`` without any tab (ORES-like tasks) -- one query per line, blank lines skipped; every
  row gets ``concept=`` (required: the file names none).
* ``.txt`` whose first line starts with ``Input Caption:`` -- the ORES paper's training format
  (its ``training.txt``), detected automatically: blocks separated by blank lines, each
  ``Input Caption: <query>``, ``Concept: <concept>`` and one or more ``Output Caption<N>: <reference>``
  lines (the paper's file has three). The paper's own reader cuts fixed prefixes off lines 1-5 of
  each block; this one reads the labels and names the line of a block that does not fit.

* a red-teaming prompt set (I2P, UnlearnDiffAtk, P4D, Ring-A-Bell, MMA-Diffusion CSVs; a
  ``.parquet`` file or a Hugging Face dataset folder with pyarrow installed): a table with a
  prompt column and no ``query`` column, read by :mod:`promptlearn.data.prompt_sets` (per-row seed,
  guidance and size into ``meta``).

``concept=`` gives every row that concept (the administrator's; for prompt sets without a
concept column it is the rows' ``categories`` otherwise); ``categories=`` keeps the rows of those
categories (``--category sexual,violence``).

Every problem with a row (bad JSON or UTF-8, missing or empty field, wrong column count, duplicate
id, an example the task rejects) is a :class:`DataFileError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from dataclasses import replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..errors import DataFileError, InputError
from ..tasks.base import Example, Task
from .bundled import resolve_dataset
from .prompt_sets import arrow_records, dataset_folder_files, detect_layout, filter_categories, prompt_set_rows

_REFERENCE_COLUMN = re.compile(r"^references?(?:[_ ]?\d+)?$")
ORES_COLUMNS = ("concept", "implicit_object", "query")
CAPTION_LABEL = "Input Caption:"
_OUTPUT_LABEL = re.compile(r"^Output Caption\s*\d*\s*:")


def load_examples(
    source: str | Path,
    task: Task,
    *,
    limit: int | None = None,
    concept: str | None = None,
    categories: Sequence[str] | None = None,
) -> list[Example]:
    """The examples of a dataset file, folder or bundled dataset, each checked by ``task``; with
    ``categories`` only the rows of those categories; the first ``limit`` of them if given (the
    whole file is still checked). ``concept`` replaces every row's concept (ORES-like tasks)."""
    if limit is not None and limit < 1:
        raise InputError(f"dataset limit must be >= 1, got {limit}")
    if concept is not None and not concept.strip():
        raise InputError("{concept} is empty", arguments="concept")
    path = resolve_dataset(source)
    files = dataset_folder_files(path) if path.is_dir() else [path]
    examples: list[Example] = []
    first_line: dict[str, tuple[Path, int]] = {}
    for file in files:
        for line, example in _file_rows(file, task, concept):
            if concept is not None and "concept" in example.inputs:
                example = replace(example, inputs={**example.inputs, "concept": concept.strip()})
            if example.id in first_line:
                where, at = first_line[example.id]
                raise DataFileError(file, line, f"duplicate id {example.id!r} (first on line {at}{'' if where == file else f' of {where}'})")
            first_line[example.id] = (file, line)
            try:
                task.check_example(example)
            except InputError as exc:
                raise DataFileError(file, line, str(exc)) from None
            examples.append(example)
    if not examples:
        raise InputError(f"dataset {path} has no examples")
    if categories is not None:
        examples = filter_categories(examples, categories, source)
    return examples if limit is None else examples[:limit]


def _file_rows(path: Path, task: Task, concept: str | None) -> Iterator[tuple[int, Example]]:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".arrow"):
        names, records = arrow_records(path)
        return _dict_rows(path, 1, names, ((i, r) for i, r in enumerate(records, 1)), task, concept)
    text = _read_text(path)
    if suffix == ".jsonl":
        return _jsonl_rows(path, text, task)
    if suffix == ".csv":
        return _table_rows(path, text, task, delimiter=",", concept=concept)
    if suffix == ".txt" and _first_line(text).startswith(CAPTION_LABEL):
        return _caption_block_rows(path, text, task)
    if suffix == ".txt" and _plain_lines(text) and set(task.input_fields) == {"concept", "query"}:
        return _query_lines(path, text, task, concept)
    if suffix in (".tsv", ".txt"):
        return _tsv_rows(path, text, task)
    raise InputError(f"dataset {path}: unsupported format {suffix or '(no suffix)'} (use .jsonl, .csv, .tsv, .txt, .parquet or a dataset folder)")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFileError(path, line, f"not UTF-8 text (byte {data[exc.start]:#04x})") from None
    return text.removeprefix("\ufeff")


def _default_id(path: Path, line: int) -> str:
    return f"{path.stem}-{line}"


def _example(path: Path, line: int, task: Task, row: Mapping[str, Any], references: list[str], meta: dict[str, Any], row_id: Any) -> Example:
    """An Example from one row's values; checks presence and type of the input fields and the id."""
    inputs = {}
    for name in task.input_fields:
        if name not in row:
            raise DataFileError(path, line, f"missing field {name!r}")
        value = row[name]
        if not isinstance(value, str):
            raise DataFileError(path, line, f"field {name!r} must be a string, got {type(value).__name__}")
        inputs[name] = value.strip()
    if row_id is None:
        row_id = _default_id(path, line)
    elif isinstance(row_id, bool) or not isinstance(row_id, (str, int)) or not str(row_id).strip():
        raise DataFileError(path, line, f"id must be a non-empty string or integer, got {row_id!r}")
    return Example(id=str(row_id).strip(), inputs=inputs, references=tuple(r.strip() for r in references), meta=meta)


def _jsonl_rows(path: Path, text: str, task: Task) -> Iterator[tuple[int, Example]]:
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataFileError(path, line, f"bad JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataFileError(path, line, f"expected a JSON object, got {type(obj).__name__}")
        obj = dict(obj)
        row_id = obj.pop("id", None)
        if "references" in obj and "reference" in obj:
            raise DataFileError(path, line, "give 'references' (a list) or 'reference' (a string), not both")
        references = obj.pop("references", None)
        if "reference" in obj:
            references = [obj.pop("reference")]
        references = [] if references is None else references
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            raise DataFileError(path, line, "'references' must be a list of strings ('reference' a string)")
        meta = obj.pop("meta", {})
        if not isinstance(meta, dict):
            raise DataFileError(path, line, "'meta' must be a JSON object")
        fields = obj.pop("inputs", None)
        if fields is None:
            fields = {name: obj.pop(name) for name in task.input_fields if name in obj}
        elif not isinstance(fields, dict):
            raise DataFileError(path, line, "'inputs' must be a JSON object")
        yield line, _example(path, line, task, fields, references, {**meta, **obj}, row_id)


def _records(path: Path, text: str, delimiter: str, quoting: int) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each non-blank record, the line being where the record starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    start = 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataFileError(path, reader.line_num or start, f"malformed row: {exc}") from None


def _table_rows(path: Path, text: str, task: Task, *, delimiter: str, quoting: int = csv.QUOTE_MINIMAL, concept: str | None = None) -> Iterator[tuple[int, Example]]:
    """Rows of a table whose first record is a header naming the columns."""
    records = _records(path, text, delimiter, quoting)
    header_line, header = next(records, (1, []))
    names = [h.strip() for h in header]
    if not names:
        return

    def cells_as_rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for line, cells in records:
            if len(cells) != len(names):
                raise DataFileError(path, line, f"expected {len(names)} columns, found {len(cells)}")
            yield line, dict(zip(names, cells))

    yield from _dict_rows(path, header_line, names, cells_as_rows(), task, concept)


def _dict_rows(path: Path, header_line: int, names: list[str], rows: Iterable[tuple[int, dict[str, Any]]], task: Task, concept: str | None) -> Iterator[tuple[int, Example]]:
    """Examples from ``(line, {column: value})`` rows of a table with these column names: the
    task's own columns, or else a red-teaming prompt set (:mod:`.prompt_sets`)."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataFileError(path, header_line, f"duplicate column(s) {', '.join(duplicates)}")
    missing = [f for f in task.input_fields if f not in names]
    if missing and "query" in missing and (layout := detect_layout(names, path)) is not None:
        yield from prompt_set_rows(path, layout, rows, task, concept=concept)
        return
    if missing:
        raise DataFileError(path, header_line, f"header lacks column(s) {', '.join(missing)} for task {task.name!r} (has {', '.join(names)})")
    for line, row in rows:
        row = {k: ("" if v is None else v if isinstance(v, str) else str(v)) for k, v in row.items()}
        reference_columns = [n for n in names if _REFERENCE_COLUMN.match(n)]
        references = [row.pop(n) for n in reference_columns]
        references = [r for r in references if r.strip()]
        row_id = row.pop("id", None) or None
        meta = {k: v for k, v in row.items() if k not in task.input_fields}
        yield line, _example(path, line, task, row, references, meta, row_id)


def _tsv_rows(path: Path, text: str, task: Task) -> Iterator[tuple[int, Example]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if set(task.input_fields) <= {c.strip() for c in first.split("\t")}:
        yield from _table_rows(path, text, task, delimiter="\t", quoting=csv.QUOTE_NONE)
        return
    if set(task.input_fields) != {"concept", "query"}:
        raise DataFileError(
            path, 1,
            f"a TSV file without a header is read as ORES data (concept, implicit object, query); task {task.name!r} "
            f"needs a header row naming {', '.join(task.input_fields)}",
        )
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        cells = raw.split("\t")
        if len(cells) != 3:
            raise DataFileError(path, line, f"expected 3 tab-separated columns (concept, implicit object, query), found {len(cells)}")
        concept, implicit_object, query = (c.strip() for c in cells)
        yield line, _example(path, line, task, {"concept": concept, "query": query}, [], {"implicit_object": implicit_object}, None)


def _plain_lines(text: str) -> bool:
    """No tab anywhere: a ``.txt`` of one query per line (not the ORES TSV)."""
    return "\t" not in text


def _query_lines(path: Path, text: str, task: Task, concept: str | None) -> Iterator[tuple[int, Example]]:
    """One query per line (blank lines skipped), every line with the given concept."""
    if concept is None:
        raise InputError(f"{path} holds one query per line and no concept: give the concept to avoid ({{concept}})", arguments="concept")
    for line, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            yield line, _example(path, line, task, {"concept": concept.strip(), "query": raw}, [], {}, None)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _caption_block_rows(path: Path, text: str, task: Task) -> Iterator[tuple[int, Example]]:
    """The ORES paper's training format: blank-line separated blocks of ``Input Caption:``,
    ``Concept:`` and ``Output Caption<N>:`` lines; each block's line is its first line."""
    if set(task.input_fields) != {"concept", "query"}:
        raise DataFileError(path, 1, f"the 'Input Caption:' block format holds ORES data (concept, query); task {task.name!r} needs {', '.join(task.input_fields)}")
    block: list[tuple[int, str]] = []
    for line, raw in [*enumerate(text.splitlines(), 1), (None, "")]:
        if raw.strip():
            block.append((line, raw.strip()))
            continue
        if block:
            yield block[0][0], _caption_block(path, task, block)
            block = []


def _caption_block(path: Path, task: Task, block: list[tuple[int, str]]) -> Example:
    def value(index: int, label: str, pattern: re.Pattern[str] | None = None) -> str:
        if index >= len(block):
            raise DataFileError(path, block[-1][0], f"block ends before its {label!r} line (each block: 'Input Caption:', 'Concept:', then 'Output Caption1:' ...)")
        line, content = block[index]
        match = pattern.match(content) if pattern is not None else (re.match(re.escape(label), content))
        if match is None:
            raise DataFileError(path, line, f"expected a line starting with {label!r}, found {content[:40]!r}")
        text = content[match.end() :].strip()
        if not text:
            raise DataFileError(path, line, f"{label!r} is empty")
        return text

    query = value(0, CAPTION_LABEL)
    concept = value(1, "Concept:")
    references = [value(i, "Output Caption1:", _OUTPUT_LABEL) for i in range(2, max(3, len(block)))]
    return _example(path, block[0][0], task, {"concept": concept, "query": query}, references, {}, None)
