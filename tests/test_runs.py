"""The one run-folder implementation (promptlearn.runs) as fit and bench use it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from promptlearn.errors import InputError
from promptlearn.evaluation.rundir import check_out_folder, open_run_dir
from promptlearn.runs import SCHEMA_VERSION, RunFolder, RunFolderBusy, config_differences, free_name


def test_a_fresh_folder_gets_a_versioned_config_and_a_lock(tmp_path):
    folder = RunFolder(tmp_path / "run")
    status = folder.open({"epochs": 2})
    assert status.state == "empty" and folder.locked
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config == {"epochs": 2, "kind": "promptlearn.fit", "schema_version": SCHEMA_VERSION}
    assert (tmp_path / "run" / ".lock").read_text().strip().isdigit()
    folder.release()
    assert not folder.locked


def test_a_deferred_config_is_written_with_the_first_state_and_a_failed_open_leaves_nothing(tmp_path):
    folder = RunFolder(tmp_path / "new")
    folder.open({"epochs": 2}, defer_config=True)
    assert not (tmp_path / "new" / "config.json").exists()
    folder.release()
    assert not (tmp_path / "new").exists()  # nothing was written: the folder made for the lock goes too
    folder.open({"epochs": 2}, defer_config=True)
    folder.save_state({"steps": 0})
    folder.release()
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [".lock", "config.json", "state.json"]


@pytest.mark.parametrize("file, content", [("config.json", {"schema_version": 2}), ("state.json", {"schema_version": 0, "steps": 1})])
def test_another_schema_version_is_refused(tmp_path, file, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "promptlearn.fit", "schema_version": SCHEMA_VERSION}))
    (run / file).write_text(json.dumps(content))
    with pytest.raises(InputError, match=rf"{file} has schema version {list(content.values())[0]}; this promptlearn reads version {SCHEMA_VERSION}"):
        RunFolder(run).open({}, resume=True)


def test_a_run_of_another_kind_is_refused(tmp_path):
    open_run_dir(tmp_path / "bench", fingerprint={"stage": "text"}, options={})
    (tmp_path / "bench" / "results.jsonl").write_text("{}\n")
    with pytest.raises(InputError, match="holds a benchmark run, not a fit run"):
        RunFolder(tmp_path / "bench").check(resume=True)


def test_bench_resumes_with_the_same_fingerprint_and_names_each_difference(tmp_path):
    out = tmp_path / "b"
    open_run_dir(out, fingerprint={"stage": "image", "switch_step": 3}, options={"seeds": [0]})
    (out / "results.jsonl").write_text("{}\n")
    open_run_dir(out, fingerprint={"stage": "image", "switch_step": 3}, options={"seeds": [0, 1]})  # options may change
    assert json.loads((out / "config.json").read_text())["options"] == {"seeds": [0, 1]}
    with pytest.raises(InputError) as error:
        open_run_dir(out, fingerprint={"stage": "image", "switch_step": 4}, options={})
    assert str(error.value).startswith(f"{out} holds a run made with a different switch_step (fingerprint.switch_step (3 -> 4)); "
                                       "rerun with the same settings to resume it, pass overwrite=True to start over")
    open_run_dir(out, fingerprint={"stage": "image", "switch_step": 4}, options={}, overwrite=True)
    assert not (out / "results.jsonl").exists()


def test_a_legacy_bench_config_reads_as_version_1(tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"schema": 1, "fingerprint": {"stage": "text"}, "options": {}}))
    (out / "results.jsonl").write_text("{}\n")
    assert open_run_dir(out, fingerprint={"stage": "text"}, options={"x": 1}) == out


def test_check_out_folder_refuses_files_and_foreign_folders(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "f")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.md").write_text("x")
    with pytest.raises(InputError, match=r"is not empty and holds no benchmark run \(notes.md\)"):
        check_out_folder(tmp_path / "mine")


def test_a_bench_folder_held_by_another_process_is_refused_with_its_pid(tmp_path):
    out = tmp_path / "b"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from promptlearn.evaluation.rundir import open_run_dir
        open_run_dir({str(out)!r}, fingerprint={{"stage": "text"}}, options={{}})
        print("open", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(RunFolderBusy, match=rf"{out} is in use by another promptlearn process \(PID {holder.pid}\)") as error:
            check_out_folder(out)
        assert error.value.pid == holder.pid
        with pytest.raises(RunFolderBusy):
            open_run_dir(out, fingerprint={"stage": "text"}, options={})
    finally:
        holder.kill()
        holder.wait()
    assert open_run_dir(out, fingerprint={"stage": "text"}, options={}) == out  # the dead holder's lock is gone


def test_helpers():
    assert config_differences({"a": 1, "info": 1}, {"a": 2, "info": 2}) == ["a (1 -> 2)"]
    assert config_differences({"options": 1}, {"options": 2}, not_compared=("options",)) == []


def test_free_name(tmp_path):
    (tmp_path / "demo-2").mkdir()
    assert free_name(tmp_path / "demo") == tmp_path / "demo-3"


def test_a_folder_removed_and_made_again_is_locked_again(tmp_path):
    import shutil

    out = tmp_path / "b"
    open_run_dir(out, fingerprint={"stage": "text"}, options={})
    shutil.rmtree(out)
    open_run_dir(out, fingerprint={"stage": "text"}, options={})
    holder = subprocess.run([sys.executable, "-c", f"from promptlearn.runs import RunFolder; RunFolder({str(out)!r}).lock()"],
                            capture_output=True, text=True)
    assert holder.returncode != 0 and "is in use by another promptlearn process" in holder.stderr
