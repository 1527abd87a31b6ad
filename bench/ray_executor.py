"""The ray executor against the local one, and the scaling of a simulated fleet.

Part 1, overhead: the same image-stage bench (200 cells: rows x 5 seeds x methods original and
negative, toy judge) on the tiny random-weight SD checkpoint (``write_tiny_sd``), through
``run_image_bench`` (the code path of ``promptlearn bench``): the local executor (one process,
one torch thread), then Ray with 2 CPU workers (1 torch thread each; ``--one-worker``: with 1 too).
Per run: the wall, the start (loading the models and making one warm-up image: once here, once per
actor), the cells phase (making, judging and recording the cells), and the CPU seconds of this
process and all its descendants (the local Ray's raylet, GCS and actors), measured for the run and
for the same command rerun (every cell skipped: the start-up alone). The overhead at equal
parallelism is the CPU per cell of the cells phase, Ray against local: on a shared machine wall
times say more about the neighbours than about Ray. Every Ray run's cells are checked to be
identical to the local run's (records and PNG bytes).

Part 2, a simulated fleet: N CPU actors whose generator sleeps a fixed time per image (standing
in for GPU time; a 8x8 image, the real harness, judge and store), 6 cells per actor, N = 1, 2, 4,
8, 16 (each actor a fraction of the local Ray's 2 CPUs: they sleep). Throughput of the cells phase
against N x the single-worker rate (target >= 0.8 N).

    OMP_NUM_THREADS=1 .venv/bin/python bench/ray_executor.py                 # both parts, ~5 min here
    OMP_NUM_THREADS=1 .venv/bin/python bench/ray_executor.py --quick         # seconds: it runs
    .venv/bin/python bench/ray_executor.py --json bench-ray.json             # figures to a file too
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from promptlearn.evaluation import ScriptedJudge, run_image_bench
from promptlearn.executors import LocalExecutor, RayExecutor, start_local_ray, import_ray
from promptlearn.synthesis.tiny import write_tiny_sd
from promptlearn.tasks.base import Example
from promptlearn.workers import ImageWorker

CONCEPTS = ["red", "blue", "circle", "square", "green"]


def rows(count: int) -> list[Example]:
    return [Example(f"r{i}", {"concept": CONCEPTS[i % len(CONCEPTS)], "query": f"a {CONCEPTS[i % len(CONCEPTS)]} thing number {i}"})
            for i in range(count)]


def cells_of(folder: Path) -> dict:
    out = {}
    for line in (folder / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("seconds", None)
        out[(record["row_id"], record["method"], record["seed"])] = (record, (folder / record["image"]).read_bytes())
    return out


class Warmed:
    """The worker, then one image made and judged: every run's cells phase starts warm (first-call
    costs count as start-up, here and in each actor alike)."""

    def __init__(self, worker):
        self.worker = worker

    def __call__(self):
        from promptlearn.evaluation.protocols import GenerationRequest

        generator, judge = self.worker()
        judge.judge([generator.generate(GenerationRequest("negative", "a warm up", "red", 0)).convert("RGB")], ["red"])
        return generator, judge


def tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and every descendant, alive or reaped by one of
    them (a local Ray's raylet, GCS and actors are descendants): what a run cost in CPU, whatever
    else the machine runs."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rfind(")") + 2 :].split()
            stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))  # ppid; utime stime cutime cstime
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total / ticks


def overhead(work: Path, *, rows_count: int, steps: int, configs: list[str]) -> dict:
    sd = write_tiny_sd(work / "sd")
    worker = Warmed(ImageWorker(model_folder=str(sd), model="tiny-sd", judge="toy", device="cpu", generator={"steps": steps}))
    args = dict(rows=rows(rows_count), methods=["original", "negative"], seeds=[0, 1, 2, 3, 4], switch_step=2, progress=False, load=worker)
    executors = {"local": LocalExecutor, "ray, 1 worker": lambda: RayExecutor(workers=1), "ray, 2 workers": lambda: RayExecutor(workers=2)}
    runs = {}
    for name in configs:
        out = work / name.replace(", ", "-").replace(" ", "")
        cpu0, started = tree_cpu_seconds(), time.perf_counter()
        run = run_image_bench(out=out, executor=executors[name](), **args)
        wall, cpu = time.perf_counter() - started, tree_cpu_seconds() - cpu0
        # the same command again: every cell skipped, so what it costs is the start-up alone
        cpu1 = tree_cpu_seconds()
        again = run_image_bench(out=out, executor=executors[name](), **args)
        start_cpu = tree_cpu_seconds() - cpu1
        assert again.done == 0 and again.skipped == run.done
        runs[name] = {"cells": run.done, "failed": run.failed, "wall_s": round(wall, 2), "start_s": round(run.start_seconds, 2),
                      "cells_s": round(run.cells_seconds, 2), "cells_per_s": round(run.done / run.cells_seconds, 2),
                      "cpu_s": round(cpu, 2), "start_cpu_s": round(start_cpu, 2),
                      "cells_cpu_s_per_cell": round((cpu - start_cpu) / run.done, 4)}
        print(f"  {name:16s} {run.done} cells, wall {wall:6.1f} s (start {run.start_seconds:5.1f} s, cells {run.cells_seconds:6.1f} s); "
              f"CPU {cpu:6.1f} s, of which start-up {start_cpu:5.1f} s; {os.getloadavg()[0]:.1f} load", flush=True)
    local = cells_of(work / "local")
    for name in configs[1:]:
        assert cells_of(work / name.replace(", ", "-").replace(" ", "")) == local, f"{name}: cells differ from the local run"
    base = runs["local"]
    out = {"runs": runs, "identical_to_local": True}
    for name in configs[1:]:
        key = name.replace("ray, ", "").replace(" ", "_")
        out[f"cpu_overhead_{key}"] = round(runs[name]["cells_cpu_s_per_cell"] / base["cells_cpu_s_per_cell"] - 1, 3)
        out[f"cells_speedup_{key}"] = round(base["cells_s"] / runs[name]["cells_s"], 2)
        out[f"wall_speedup_{key}"] = round(base["wall_s"] / runs[name]["wall_s"], 2)
    return out


class SleepingPainter:
    """A generator standing in for a GPU: ``delay`` seconds per image, then a grey 8x8 image."""

    def __init__(self, delay: float):
        self.delay = delay

    def identity(self):
        return {"model": "sleeping-painter", "delay": self.delay}

    def generate(self, request):
        from PIL import Image

        time.sleep(self.delay)
        return Image.new("RGB", (8, 8), (request.seed % 256,) * 3)


def never_present(image, concept):
    return False


class FleetWorker:
    def __init__(self, delay: float):
        self.delay = delay

    def __call__(self):
        return SleepingPainter(self.delay), ScriptedJudge(never_present)


def fleet(work: Path, *, sizes: list[int], delay: float, per_worker: int) -> dict:
    out = {}
    single = None
    for n in sizes:
        count = n * per_worker
        run = run_image_bench(rows=[Example(f"r{i}", {"concept": "x", "query": f"q{i}"}) for i in range(count)], out=work / f"fleet-{n}",
                              methods=["original"], seeds=[0], switch_step=0, progress=False, load=FleetWorker(delay),
                              executor=RayExecutor(workers=n, cpus_per_worker=min(1.0, 2 / n)))
        rate = run.done / run.cells_seconds
        single = single or rate
        out[n] = {"cells": run.done, "start_s": round(run.start_seconds, 2), "cells_s": round(run.cells_seconds, 2),
                  "cells_per_s": round(rate, 2), "ideal_per_s": round(n / delay, 2), "speedup": round(rate / single, 2),
                  "efficiency": round(rate / single / n, 3)}
        print(f"  N={n:2d}: {run.done:3d} cells in {run.cells_seconds:5.2f} s = {rate:6.2f} cells/s "
              f"({rate / single:5.2f}x one worker, {rate / single / n:.0%} of N x; start {run.start_seconds:.1f} s)", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20, help="rows of part 1 (x 5 seeds x 2 methods = cells) [20: 200 cells]")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps of part 1")
    parser.add_argument("--delay", type=float, default=0.5, help="part 2: seconds per simulated image")
    parser.add_argument("--per-worker", type=int, default=6, help="part 2: cells per actor")
    parser.add_argument("--max-workers", type=int, default=16, help="part 2: the largest fleet")
    parser.add_argument("--one-worker", action="store_true", help="part 1: Ray with 1 worker too")
    parser.add_argument("--quick", action="store_true", help="2 rows, 2 steps, fleet up to 4 with 0.1 s: checks that it runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.steps, args.delay, args.per_worker, args.max_workers = 2, 2, 0.1, 3, 4
    torch.set_num_threads(1)
    ray = import_ray()
    started = time.perf_counter()
    start_local_ray(2, logging_level="ERROR", log_to_driver=False)
    init = time.perf_counter() - started
    print(f"local Ray with 2 CPUs started in {init:.1f} s (not counted below)", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            print(f"part 1: {args.rows * 10} bench cells on the tiny SD checkpoint ({args.steps} steps, toy judge)", flush=True)
            part1 = overhead(work, rows_count=args.rows, steps=args.steps, configs=["local", "ray, 2 workers", *(["ray, 1 worker"] if args.one_worker else [])])
            sizes = [n for n in (1, 2, 4, 8, 16) if n <= args.max_workers]
            print(f"part 2: a simulated fleet, {args.delay} s per cell, {args.per_worker} cells per actor", flush=True)
            part2 = fleet(work, sizes=sizes, delay=args.delay, per_worker=args.per_worker)
    finally:
        ray.shutdown()
    runs = part1["runs"]
    print()
    print(f"{'':16s} {'wall s':>8s} {'start s':>8s} {'cells s':>8s} {'cells/s':>8s} {'CPU s':>8s} {'start CPU':>10s} {'CPU s/cell':>11s}")
    for name, run in runs.items():
        print(f"{name:16s} {run['wall_s']:8.1f} {run['start_s']:8.1f} {run['cells_s']:8.1f} {run['cells_per_s']:8.2f} "
              f"{run['cpu_s']:8.1f} {run['start_cpu_s']:10.1f} {run['cells_cpu_s_per_cell']:11.4f}")
    for name in list(runs)[1:]:
        key = name.replace("ray, ", "").replace(" ", "_")
        print(f"{name} vs local: CPU per cell {part1[f'cpu_overhead_{key}']:+.1%} (the overhead at equal parallelism; target <= +15%), "
              f"cells phase {part1[f'cells_speedup_{key}']:.2f}x, wall {part1[f'wall_speedup_{key}']:.2f}x faster")
    print("cells identical to local: yes")
    print(f"{'N':>3s} {'cells/s':>8s} {'ideal':>8s} {'x one':>6s} {'of N x':>7s}")
    for n, row in part2.items():
        print(f"{n:3d} {row['cells_per_s']:8.2f} {row['ideal_per_s']:8.2f} {row['speedup']:6.2f} {row['efficiency']:7.0%}")
    worst = min(row["efficiency"] for row in part2.values())
    print(f"fleet: lowest efficiency {worst:.0%} (target >= 80% of N x the single-worker rate)")
    if args.json:
        args.json.write_text(json.dumps({"ray_init_s": round(init, 2), "overhead": part1, "fleet": part2,
                                         "command": " ".join(sys.argv)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
