"""Red-teaming prompt sets in their published layouts, read as ORES rows (concept, query).

A prompt set is a table of image prompts, most of them meant to produce something unacceptable,
with the generation settings its authors used. :func:`promptlearn.data.load_examples` reads one
when a CSV (or a Parquet file, or a Hugging Face dataset folder) has a prompt column but not the
task's ``query`` column. The layouts, told apart by their columns:

=================  ==============================  ===========================================================
format             prompt column                   per-row settings (-> ``meta``)
=================  ==============================  ===========================================================
``i2p``            ``prompt``                      ``sd_seed``, ``sd_guidance_scale``, ``sd_image_width``,
                                                   ``sd_image_height`` (SLD's I2P: also ``categories``, ``hard``,
                                                   ``inappropriate_percentage`` ... ``sd_model``)
``unlearndiffatk`` ``prompt``                      ``evaluation_seed``, ``evaluation_guidance`` (+ the I2P
                                                   columns), id ``case_number``; pandas' unnamed index column
``p4d``            ``prompt``                      as UnlearnDiffAtk (``evaluation_seed`` ...); told apart by
                                                   ``p4d`` in the file name or a ``safe_prompt`` column
``ring-a-bell``    ``sensitive prompt``            none (the concept comes from ``categories`` or ``concept=``)
``mma-diffusion``  ``adv_prompt``                  none; ``clean_prompt`` / ``target_prompt`` kept in ``meta``
=================  ==============================  ===========================================================

Each row becomes ``Example(inputs={"concept": ..., "query": <prompt>})`` with ``meta`` holding
``format``, ``categories`` (a list), the settings as numbers under ``seed``, ``guidance``,
``width``, ``height`` when the row has them, and every other column as read. The concept is, in
this order: the ``concept=`` argument (``--concept``, the administrator's choice for every row), a
``concept`` column, the row's ``categories``, the format's own target (MMA-Diffusion's published
set is its NSFW benchmark: ``nudity``). A row with none of them, a bad number or an empty
prompt is a :class:`DataFileError` naming the file and line (for Parquet: the row number, 1-based,
header not counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..errors import DataFileError, InputError
from ..tasks.base import Example, Task

PROMPT_COLUMNS = ("prompt", "sensitive prompt", "adv_prompt")
FORMATS = ("i2p", "unlearndiffatk", "p4d", "ring-a-bell", "mma-diffusion")

# setting -> the columns that carry it, first found wins; (type, lowest allowed value)
SETTING_COLUMNS: dict[str, tuple[str, ...]] = {
    "seed": ("evaluation_seed", "sd_seed", "seed"),
    "guidance": ("evaluation_guidance", "sd_guidance_scale", "guidance_scale", "guidance"),
    "width": ("sd_image_width", "width"),
    "height": ("sd_image_height", "height"),
}
# the concept a format's published set targets, for rows that name none
FORMAT_CONCEPT = {"mma-diffusion": "nudity"}
_SETTING_KIND = {"seed": (int, 0), "guidance": (float, 0.0), "width": (int, 8), "height": (int, 8)}


@dataclass(frozen=True)
class PromptSetLayout:
    """What the header says about a prompt set: its format and its prompt column."""

    format: str
    prompt_column: str


def detect_layout(names: Sequence[str], path: Path) -> PromptSetLayout | None:
    """The prompt-set layout of a table with these column names, or None when it is not one."""
    present = set(names)
    prompt = next((c for c in PROMPT_COLUMNS if c in present), None)
    if prompt is None:
        return None
    if prompt == "adv_prompt":
        return PromptSetLayout("mma-diffusion", prompt)
    if prompt == "sensitive prompt":
        return PromptSetLayout("ring-a-bell", prompt)
    if "evaluation_seed" in present or "case_number" in present:
        fmt = "p4d" if ("p4d" in path.name.casefold() or "safe_prompt" in present) else "unlearndiffatk"
        return PromptSetLayout(fmt, prompt)
    if "ring" in path.name.casefold() and "bell" in path.name.casefold():
        return PromptSetLayout("ring-a-bell", prompt)
    if "mma" in path.name.casefold():
        return PromptSetLayout("mma-diffusion", prompt)
    return PromptSetLayout("i2p", prompt)


def split_categories(text: Any) -> list[str]:
    """``"sexual, violence"`` -> ``["sexual", "violence"]`` (I2P's form; ``;`` and ``|`` too)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    parts = str(text).replace(";", ",").replace("|", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


def _number(path: Path, line: int, column: str, value: Any, setting: str) -> int | float | None:
    kind, lowest = _SETTING_KIND[setting]
    if value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        raise DataFileError(path, line, f"column {column!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < lowest:
        raise DataFileError(path, line, f"column {column!r}: {value!r} must be a finite number >= {lowest}")
    if kind is int:
        if number != int(number):
            raise DataFileError(path, line, f"column {column!r}: {value!r} must be a whole number")
        return int(number)
    return number


def prompt_set_rows(
    path: Path,
    layout: PromptSetLayout,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    task: Task,
    *,
    concept: str | None = None,
) -> Iterator[tuple[int, Example]]:
    """Examples of the ORES task from a prompt set's ``(line, {column: value})`` rows."""
    if set(task.input_fields) != {"concept", "query"}:
        raise DataFileError(path, 1, f"a {layout.format} prompt set holds (concept, query) rows; task {task.name!r} needs {', '.join(task.input_fields)}")
    for line, row in rows:
        prompt = row.get(layout.prompt_column)
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataFileError(path, line, f"empty prompt (column {layout.prompt_column!r})")
        categories = split_categories(row.get("categories"))
        row_concept = concept or str(row.get("concept") or "").strip() or ", ".join(categories) or FORMAT_CONCEPT.get(layout.format, "")
        if not row_concept:
            raise DataFileError(path, line, "the row names no concept (no 'concept' or 'categories' column value); give one for every row (--concept)")
        meta: dict[str, Any] = {"format": layout.format, "categories": categories}
        for setting, columns in SETTING_COLUMNS.items():
            for column in columns:
                if column in row:
                    value = _number(path, line, column, row[column], setting)
                    if value is not None:
                        meta[setting] = value
                        break
        skip = {layout.prompt_column, "categories", "concept", "", "Unnamed: 0", "__index_level_0__"}
        meta.update({k: _plain(v) for k, v in row.items() if k not in skip and k not in meta})
        row_id = row.get("case_number")
        row_id = str(_plain(row_id)).strip() if row_id not in (None, "") else f"{path.stem}-{line}"
        yield line, Example(id=row_id, inputs={"concept": row_concept, "query": prompt.strip()}, meta=meta)


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy / pyarrow scalars as Python numbers, NaN as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def filter_categories(examples: list[Example], categories: Sequence[str], source: object) -> list[Example]:
    """The examples with at least one of ``categories`` (case-insensitive) in ``meta["categories"]``
    (or, for rows without categories, in their concept list); an unknown category is an error
    naming the ones the dataset has."""
    from ..tasks.concept_match import split_concepts

    wanted = {c.strip().casefold() for c in categories if c.strip()}
    if not wanted:
        raise InputError("--category names no category")

    def row_categories(example: Example) -> set[str]:
        listed = example.meta.get("categories")
        if isinstance(listed, str):
            listed = split_categories(listed)
        if not listed:
            listed = split_concepts(example.inputs.get("concept", ""))
        return {c.casefold() for c in listed}

    known = set().union(*(row_categories(e) for e in examples)) if examples else set()
    unknown = sorted(wanted - known)
    if unknown:
        raise InputError(f"dataset {source} has no row of category {', '.join(unknown)} (it has: {', '.join(sorted(known)) or 'none'})")
    return [e for e in examples if row_categories(e) & wanted]


# ---- Parquet files and Hugging Face dataset folders (pyarrow, when installed) ----------------------

DATA_FILE_SUFFIXES = (".csv", ".parquet", ".arrow", ".jsonl")


def _pyarrow(what: Path):
    try:
        import pyarrow  # noqa: F401
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(f"dataset {what}: reading Parquet / Arrow files needs pyarrow (pip install pyarrow)") from None
    return pyarrow


def arrow_records(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(column names, rows) of a ``.parquet`` file or a ``datasets`` ``.arrow`` file."""
    pa = _pyarrow(path)
    try:
        if path.suffix == ".parquet":
            table = pa.parquet.read_table(path)
        else:
            try:
                table = pa.ipc.open_stream(path).read_all()  # datasets' save_to_disk writes streams
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(path).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise DataFileError(path, None, f"not a readable {path.suffix[1:]} file: {exc}") from None
    return list(table.column_names), table.to_pylist()


def dataset_folder_files(folder: Path) -> list[Path]:
    """The data files of a Hugging Face dataset folder (``save_to_disk``: ``*.arrow`` beside
    ``dataset_info.json``; a hub snapshot: ``data/*.parquet`` or ``*.csv``), one split: files of
    a ``train`` split when several splits are there, else all, sorted."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_FILE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(f"dataset {folder} is a folder with no data files ({', '.join(DATA_FILE_SUFFIXES)})")
    train = [p for p in files if "train" in p.relative_to(folder).as_posix()]
    return train or files
