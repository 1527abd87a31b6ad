"""Reliability under faults: `promptlearn fit` and a 2,000-row `promptlearn rewrite --input`
against the OpenAI-compatible test server answering a share of requests with mixed faults.

Scenarios (each a fresh server; every fault kind the server injects, drawn at a fixed seed:
429 with Retry-After, 500, a reply slower than the client's --timeout, malformed JSON, empty
content, null content, no choices):

- fit / rewrite at 0% faults (the clean run), 5% and 20%;
- fit and rewrite at 5% faults, each killed with SIGKILL at 5 random points (seeded) and
  resumed (fit: --resume with its cache; rewrite: --no-cache, so only OUTPUT.partial.jsonl
  keeps the finished rows), then run to the end;
- the error path (a rejected key) run ``--hang-runs`` times in fresh processes, each given
  ``--hang-timeout`` seconds to exit after its error line.

Per scenario it prints: completed, identical result to the clean run, retries (requests
answered with a fault, each retried), calls re-paid (successful server answers beyond the
clean run's), wall time and whether every process exited by itself. Targets: every scenario
completes with the clean run's result, <= 1 in-flight batch (one chunk of rows, or one fit step)
re-paid per kill, 0 hangs. The fit and rewrite use the toy task (promptlearn.testing.toy: the
ORES shape, a scripted optimizer, exact-match scoring) so that the figures measure the fault
handling, not a scorer's model load.

    .venv/bin/python bench/faults.py [--rows 2000] [--train 24] [--kills 5] [--hang-runs 50] [--seed 0] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptlearn.testing.openai_server import Fault, OpenAIServer, mixed_faults  # noqa: E402
from promptlearn.testing.toy import ToyReply, toy_examples  # noqa: E402

TASK_FILE = "from promptlearn.testing.toy import toy_task\n\nTASK = toy_task()\n"
SLOW_S, TIMEOUT_S = 2.0, 1.0  # a "slow" fault outlasts the client's --timeout
CONCURRENCY = 16
CHUNK_ROWS = 8 * CONCURRENCY  # rows per rewrite chunk (promptlearn.cli.rewrite._chunk_size)


@dataclass
class Row:
    scenario: str
    completed: bool
    identical: bool | None
    retries: int
    repaid: int | None
    wall_s: float
    exited: bool
    note: str = ""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "promptlearn.cli.main", *args]


def run(command: list[str], timeout: float) -> tuple[int | None, str, bool]:
    """(exit code, stderr tail, exited by itself within ``timeout``)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=timeout)
        return process.returncode, err[-400:], True
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None, "timed out", False


def run_error_path(command: list[str], grace: float, limit: float = 600.0) -> tuple[int | None, str, float | None]:
    """Run ``command`` until its ``error:`` line, then give it ``grace`` seconds to exit.
    Returns (exit code or None when it hung, the error line, seconds from that line to exit)."""
    import threading

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(limit, process.kill)  # a process that never gets to its error line
    timer.start()
    line, said_at = "", None
    try:
        assert process.stderr is not None
        for text in process.stderr:
            if text.startswith("error:"):
                line, said_at = text.strip(), time.monotonic()
                break
        try:
            process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None, line, None
    finally:
        timer.cancel()
    return process.returncode, line, None if said_at is None else time.monotonic() - said_at


def run_killed(command: list[str], after_s: float) -> bool:
    """Start ``command``, SIGKILL it after ``after_s`` seconds; True when it was still running."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=after_s)
        return False
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return True


def served(server: OpenAIServer) -> tuple[int, int]:
    """(answers without a fault, requests answered with a fault)."""
    log = server.requests
    faults = sum(1 for r in log if r.fault is not None)
    return len(log) - faults, faults


class Bench:
    def __init__(self, folder: Path, rows: int, train: int, seed: int):
        self.folder, self.seed, self.rows = folder, seed, rows
        self.task = folder / "toy_task.py"
        self.task.write_text(TASK_FILE)
        self.train = folder / "train.jsonl"
        self.train.write_text("".join(json.dumps(e.to_json()) + "\n" for e in toy_examples(train)))
        self.instruction = folder / "instruction.txt"
        self.instruction.write_text("Rewrite the query and leave the concept out (v2).\n")
        rng = random.Random(seed)
        concepts = ["dog", "red", "snow", "crowd", "cat", "tree"]
        self.input = folder / "queries.jsonl"
        self.input.write_text("".join(
            json.dumps({"concept": (c := rng.choice(concepts)), "query": f"a {c} picture number {i}"}) + "\n" for i in range(rows)
        ))
        self.clean: dict[str, tuple[str, int, float]] = {}

    def server(self, rate: float) -> OpenAIServer:
        return OpenAIServer(reply=ToyReply(), fault_rate=rate, fault_seed=self.seed, fault_mix=mixed_faults(SLOW_S)).start()

    def common(self, url: str, cache: Path | None) -> list[str]:
        caching = ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
        return ["--llm", "openai/test", "--api-base", url, "--timeout", str(TIMEOUT_S), "--concurrency", str(CONCURRENCY), "--quiet", *caching]

    def fit_command(self, url: str, out: Path, cache: Path | None, resume: bool = False) -> list[str]:
        return cli("fit", "--task", str(self.task), "--train", str(self.train), "--epochs", "2", "--batch-size", "4",
                   "--out", str(out), *(["--resume"] if resume else []), *self.common(url, cache))

    def rewrite_command(self, url: str, out: Path, cache: Path | None) -> list[str]:
        return cli("rewrite", "--task", str(self.task), "--instruction", str(self.instruction), "--input", str(self.input),
                   "--output", str(out), "--verify", "1", *self.common(url, cache))

    def command(self, kind: str, url: str, out: Path, cache: Path | None) -> list[str]:
        """The scenario's command: a fit (resumed once its run folder holds a state) or a rewrite."""
        if kind == "fit":
            return self.fit_command(url, out, cache, resume=(out / "state.json").exists())
        return self.rewrite_command(url, out, cache)

    # ---- scenarios ---------------------------------------------------------------------------
    def plain(self, kind: str, rate: float) -> Row:
        name = f"{kind} {rate:.0%} faults"
        where = Path(tempfile.mkdtemp(prefix=f"{kind}-{int(rate * 100)}-", dir=self.folder))
        server = self.server(rate)
        try:
            out = where / ("run" if kind == "fit" else "out.jsonl")
            command = self.command(kind, server.url, out, where / "cache")
            started = time.perf_counter()
            code, err, exited = run(command, timeout=1800)
            wall = time.perf_counter() - started
            ok, faults = served(server)
        finally:
            server.stop()
        result = self.result(kind, out)
        if rate == 0.0:
            self.clean[kind] = (result or "", ok, wall)
        identical = result is not None and result == self.clean[kind][0]
        return Row(name, code == 0 and result is not None, identical, faults, ok - self.clean[kind][1], wall, exited, "" if code == 0 else err.strip().splitlines()[-1])

    def killed(self, kind: str, rate: float, kills: int) -> Row:
        name = f"{kind} {rate:.0%} faults, kill -9 x{kills}"
        where = Path(tempfile.mkdtemp(prefix=f"{kind}-kill-", dir=self.folder))
        rng = random.Random(self.seed + 1)
        clean_wall = self.clean[kind][2]
        server = self.server(rate)
        landed = 0
        try:
            out = where / ("run" if kind == "fit" else "out.jsonl")
            cache = where / "cache" if kind == "fit" else None  # rewrite: only the partial file keeps rows
            started = time.perf_counter()
            for index in range(kills):
                if self.result(kind, out) is not None:
                    break  # finished before this kill: rerunning a finished command would start it over
                command = self.command(kind, server.url, out, cache)
                # a random point past start-up (imports take a few seconds) within a clean run's time
                # (a resumed rewrite has only the rows not in its partial file left: scale to them)
                left = self.rows_left(out) if kind == "rewrite" else 1.0
                landed += run_killed(command, rng.uniform(0.35, 0.95) * clean_wall * max(0.2, left))
            code, err, exited = 0, "", True
            if self.result(kind, out) is None:  # not finished yet: run it to the end
                command = self.command(kind, server.url, out, cache)
                code, err, exited = run(command, timeout=1800)
            wall = time.perf_counter() - started
            ok, faults = served(server)
        finally:
            server.stop()
        result = self.result(kind, out)
        identical = result is not None and result == self.clean[kind][0]
        note = f"{landed} kills landed mid-run (the run finished before the others)" if landed < kills else f"{landed} kills landed mid-run"
        return Row(name, code == 0 and result is not None, identical, faults, ok - self.clean[kind][1], wall, exited, note)

    def rows_left(self, out: Path) -> float:
        """Share of the rewrite's rows not yet in OUTPUT.partial.jsonl (1.0 before the first run)."""
        partial = out.with_name(f"{out.name}.partial.jsonl")
        if not partial.is_file():
            return 1.0
        with open(partial, "rb") as handle:
            done = max(0, sum(1 for _ in handle) - 1)
        return max(0.0, 1.0 - done / self.rows)

    def result(self, kind: str, out: Path) -> str | None:
        path = out / "instruction.txt" if kind == "fit" else out
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def hangs(self, runs: int, grace: float) -> Row:
        """The error path (a rejected key, --no-cache) in ``runs`` fresh processes, 2 at a time:
        each must exit within ``grace`` seconds of its error line."""
        server = OpenAIServer().start()
        server.inject(*[Fault.unauthorized()] * (runs * 2))
        command = cli("rewrite", "--instruction", str(self.instruction), "--concept", "dog", "a dog", *self.common(server.url, None))
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = list(pool.map(lambda _: run_error_path(command, grace), range(runs)))
        finally:
            server.stop()
        wall = time.perf_counter() - started
        hung = sum(1 for code, _, _ in results if code is None)
        wrong = sum(1 for code, line, _ in results if code is not None and (code != 2 or "authentication failed" not in line))
        lags = sorted(lag for code, _, lag in results if code is not None and lag is not None)
        slowest = f"; exit after the error line: median {lags[len(lags) // 2]:.1f} s, slowest {lags[-1]:.1f} s" if lags else ""
        return Row(f"error path x{runs} (exit within {grace:.0f} s of the error line)", hung == 0 and wrong == 0, None, 0, None, wall,
                   hung == 0, f"{hung} hung, {wrong} without the one error line{slowest}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--train", type=int, default=24, help="training examples of the fit (batch size 4, 2 epochs)")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--hang-runs", type=int, default=50)
    parser.add_argument("--hang-timeout", type=float, default=30.0, help="seconds a process may take to exit after its error line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["fit", "rewrite", "hang"], default=None)
    parser.add_argument("--clean-and-kills-only", action="store_true", help="skip the 5%% and 20%% scenarios without kills")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="promptlearn-faults-") as tmp:
        bench = Bench(Path(tmp), args.rows, args.train, args.seed)
        for kind in ("fit", "rewrite"):
            if args.only not in (None, kind):
                continue
            for rate in (0.0,) if args.clean_and_kills_only else (0.0, 0.05, 0.20):
                rows.append(bench.plain(kind, rate))
                print(format_row(rows[-1]), flush=True)
            if args.kills:
                rows.append(bench.killed(kind, 0.05, args.kills))
                print(format_row(rows[-1]), flush=True)
        if args.only in (None, "hang") and args.hang_runs:
            rows.append(bench.hangs(args.hang_runs, args.hang_timeout))
            print(format_row(rows[-1]), flush=True)

    print()
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(table(rows, args))
    missed = [r.scenario for r in rows if not r.completed or r.identical is False or not r.exited]
    kill_rows = [r for r in rows if "kill" in r.scenario]
    for r in kill_rows:  # <= one in-flight batch per kill: a chunk of rows, or one fit step's calls
        budget = args.kills * (CHUNK_ROWS * 2 if r.scenario.startswith("rewrite") else 4 * 2 + 1)
        if r.repaid is not None and r.repaid > budget:
            missed.append(f"{r.scenario}: {r.repaid} calls re-paid > {budget}")
    print(f"\ntargets: {'all met' if not missed else 'missed: ' + '; '.join(missed)}")
    return 1 if args.check and missed else 0


def format_row(r: Row) -> str:
    yes = lambda v: "-" if v is None else "yes" if v else "no"  # noqa: E731
    repaid = "-" if r.repaid is None else str(r.repaid)
    return f"| {r.scenario} | {yes(r.completed)} | {yes(r.identical)} | {r.retries} | {repaid} | {r.wall_s:.1f} | {yes(r.exited)} | {r.note} |"


def table(rows: list[Row], args) -> str:
    head = "| scenario | completed | identical to clean | retries | calls re-paid | wall s | process exited | note |\n|---|---|---|---|---|---|---|---|"
    return head + "\n" + "\n".join(format_row(r) for r in rows)


if __name__ == "__main__":
    sys.exit(main())
