"""`promptlearn fit --out`: rerunning into a used folder is never a dead end, a run that fails
its checks leaves nothing behind, and two processes never share a run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from promptlearn.cli.main import main
from promptlearn.runs import RunFolder
from promptlearn.testing.openai_server import Fault, OpenAIServer
from promptlearn.testing.toy import ToyReply, toy_examples

TASK_FILE = "from promptlearn.testing.toy import toy_task\n\nTASK = toy_task()\n"


@pytest.fixture
def toy_server():
    with OpenAIServer(reply=ToyReply()) as server:
        yield server


@pytest.fixture
def fit_args(tmp_path, toy_server):
    task_file = tmp_path / "toy_task.py"
    task_file.write_text(TASK_FILE)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(e.to_json()) + "\n" for e in toy_examples(6)))
    return ["fit", "--task", str(task_file), "--train", str(train), "--epochs", "1", "--batch-size", "3", "--recipe", "single", "--quiet",
            "--llm", "openai/test", "--api-base", toy_server.url, "--no-cache"]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_rerunning_into_a_finished_run_offers_the_choices(tmp_path, capsys, fit_args, toy_server):
    out = tmp_path / "runs" / "demo"
    code, first, err = run(capsys, *fit_args, "--out", str(out))
    assert code == 0, err
    toy_server.clear()

    # the README's command again: one line saying what is there and what to do
    code, _, err = run(capsys, *fit_args, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and toy_server.requests == []
    assert err == (f"error: --out {out} already holds a finished run (2 steps); pass --resume to load it without new LLM calls, "
                   f"--overwrite to start over, or choose another --out (e.g. {out}-2)\n")

    # --resume: the same instruction, no LLM call
    code, again, err = run(capsys, *fit_args, "--out", str(out), "--resume")
    assert code == 0 and again == first and toy_server.requests == [], err

    # --overwrite: a new run from scratch
    (out / "STOP").write_text("")  # a leftover stop request goes with the old run
    code, fresh, err = run(capsys, *fit_args, "--out", str(out), "--overwrite")
    assert code == 0 and fresh == first and len(toy_server.requests) == 9, err
    assert not (out / "STOP").exists()

    code, _, err = run(capsys, *fit_args, "--out", str(out), "--overwrite", "--resume")
    assert code == 2 and err == "error: pass either --resume or --overwrite, not both\n"


def test_a_changed_config_names_each_key_and_offers_overwrite(tmp_path, capsys, fit_args):
    out = tmp_path / "run"
    assert run(capsys, *fit_args, "--out", str(out))[0] == 0
    args = [a if a != "3" else "2" for a in fit_args]  # --batch-size 3 -> 2
    code, _, err = run(capsys, *args, "--out", str(out), "--resume")
    assert code == 2 and err.count("\n") == 1
    assert "the config differs in hyper.batch_size (3 -> 2); pass --overwrite to start over or choose another --out" in err


def test_a_folder_holding_only_the_config_of_a_run_that_never_stepped_is_empty(tmp_path, capsys, fit_args):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"kind": "promptlearn.fit", "task": "other"}))
    code, _, err = run(capsys, *fit_args, "--out", str(out))
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["task"] == "toy"


def test_resume_with_nothing_to_resume_says_so_and_starts(tmp_path, capsys, fit_args):
    out = tmp_path / "missing"
    code, instruction, err = run(capsys, *fit_args, "--out", str(out), "--resume")
    assert code == 0, err
    assert err.splitlines()[0] == f"note: nothing to resume in {out} (no run has taken a step there); starting a new run"
    assert (out / "instruction.txt").read_text() == instruction


def test_a_run_that_fails_its_checks_or_before_its_first_step_leaves_nothing(tmp_path, capsys, fit_args, toy_server):
    out = tmp_path / "runs" / "new"
    bad = [a if not a.endswith("train.jsonl") else str(tmp_path / "no-such.jsonl") for a in fit_args]
    code, _, err = run(capsys, *bad, "--out", str(out))
    assert code != 0 and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()

    toy_server.inject(Fault.unauthorized())  # the first call fails: nothing was learned
    code, _, err = run(capsys, *fit_args, "--out", str(out))
    assert code != 0 and err.count("\n") == 1 and "authentication" in err, err
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    toy_server.inject(Fault.unauthorized())
    assert run(capsys, *fit_args, "--out", str(existing))[0] != 0
    assert os.listdir(existing) == []


HOLDER = textwrap.dedent("""
    import sys, time
    from promptlearn.runs import RunFolder
    RunFolder(sys.argv[1]).lock()
    print("locked", flush=True)
    time.sleep(60)
""")


@pytest.fixture
def holder(tmp_path):
    """A second process that holds the lock of tmp_path/run."""
    folder = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "locked"
        yield folder, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_second_process_on_the_same_folder_gets_one_line_with_the_holders_pid(holder, capsys, fit_args, toy_server):
    folder, process = holder
    code, _, err = run(capsys, *fit_args, "--out", str(folder), "--resume")
    assert code == 2 and toy_server.requests == []
    assert err == (f"error: {folder} is in use by another promptlearn process (PID {process.pid}); "
                   "wait for it to end or choose another --out\n")
    with pytest.raises(Exception, match=f"PID {process.pid}"):
        RunFolder(folder).lock()

    # the kernel releases the lock however the holder dies
    process.send_signal(signal.SIGKILL)
    process.wait()
    code, _, err = run(capsys, *fit_args, "--out", str(folder), "--resume")
    assert code == 0, err


def test_two_fits_on_one_folder_one_runs_the_other_is_refused(tmp_path, fit_args, toy_server):
    """Two real `promptlearn fit` processes started together: one finishes, the other says why not."""
    toy_server.latency = 0.05
    folder = tmp_path / "run"
    command = [sys.executable, "-m", "promptlearn.cli.main", *fit_args, "--out", str(folder)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in processes]
    codes = sorted(code for _, _, code in results)
    assert codes[0] == 0 and codes[1] != 0, results
    refused = next(err for _, err, code in results if code != 0)
    assert refused.count("\n") == 1 and (" is in use by another promptlearn process (PID " in refused or "already holds" in refused), refused
    assert len([line for line in (folder / "history.jsonl").read_text().splitlines()]) == 3  # init + 2 steps, once each


def test_bad_data_is_found_before_the_llm_or_its_cache(tmp_path, capsys, fit_args, toy_server):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    args = [a if not a.endswith("train.jsonl") else str(empty) for a in fit_args if a != "--no-cache"]
    code, _, err = run(capsys, *args, "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1, err
    assert toy_server.requests == [] and not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()
