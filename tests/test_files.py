"""Atomic writes and the append-only JSONL reader."""

from __future__ import annotations

import os
import stat

import pytest

from promptlearn.errors import DataFileError, InputError
from promptlearn.files import append_jsonl, atomic_write_json, atomic_write_text, check_output_file, check_output_folder, read_jsonl


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_honours_the_umask_like_open(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        with open(tmp_path / "b.json", "w") as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o644


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_json(target, {"not json": object()})
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_read_jsonl_drops_only_a_torn_last_line(tmp_path):
    path = tmp_path / "h.jsonl"
    append_jsonl(path, {"a": 1})
    append_jsonl(path, {"a": 2})
    with open(path, "a") as handle:
        handle.write('{"a": 3')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{bad\n{"a": 3}\n')
    with pytest.raises(DataFileError, match=r"h.jsonl:2: a damaged line"):
        read_jsonl(path)


def test_check_output_file_accepts_new_files_in_new_folders(tmp_path):
    assert check_output_file(tmp_path / "new" / "deeper" / "out.jsonl", "--output").name == "out.jsonl"


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "out.jsonl", "is not a folder"),
])
def test_check_output_file_refuses_unwritable_targets(tmp_path, make, fragment):
    with pytest.raises(InputError, match=fragment):
        check_output_file(make(tmp_path), "--output")


def test_check_output_folder(tmp_path):
    assert check_output_folder(tmp_path / "runs" / "new", "--out") == tmp_path / "runs" / "new"
    assert check_output_folder(tmp_path, "--out") == tmp_path
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_output_folder(tmp_path / "f", "--out")
    with pytest.raises(InputError, match="is not a folder"):
        check_output_folder(tmp_path / "f" / "run", "--out")

