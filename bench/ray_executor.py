"""The ray executor against the local one, and the scaling of a simulated fleet.

Part 1, overhead: the same image-stage bench (200 cells: rows x 5 seeds x methods original and
negative, toy judge) on the tiny random-weight SD checkpoint (``write_tiny_sd``), through
``run_image_bench`` (the code path of ``promptlearn bench``): the local executor (one process),
then Ray with 1 and 2 CPU workers (1 torch thread each). Reported per run: the wall, the start
(loading the models and making one warm-up image: once here, once per actor) and the cells phase (making, judging and
recording the cells). Overhead at equal parallelism is Ray with 1 worker against local, both on one
core; Ray with 2 workers shows the speed-up on this machine's 2 cores (shared with whatever else
runs). Every Ray run's cells are checked to be identical to the local run's (records and PNG bytes).

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
import sys
import tempfile
import time
from pathlib import Path

import torch

from promptlearn.evaluation import ScriptedJudge, run_image_bench
from promptlearn.executors import LocalExecutor, RayExecutor, import_ray
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


def overhead(work: Path, *, rows_count: int, steps: int) -> dict:
    sd = write_tiny_sd(work / "sd")
    worker = Warmed(ImageWorker(model_folder=str(sd), model="tiny-sd", judge="toy", device="cpu", generator={"steps": steps}))
    args = dict(rows=rows(rows_count), methods=["original", "negative"], seeds=[0, 1, 2, 3, 4], switch_step=2, progress=False, load=worker)
    runs = {}
    # local first and last: the machine's drift shows as the gap between the two
    for name, executor in [("local", LocalExecutor()), ("ray, 1 worker", RayExecutor(workers=1)), ("ray, 2 workers", RayExecutor(workers=2)),
                           ("local, again", LocalExecutor())]:
        started = time.perf_counter()
        run = run_image_bench(out=work / name.replace(", ", "-").replace(" ", ""), executor=executor, **args)
        wall = time.perf_counter() - started
        runs[name] = {"cells": run.done, "failed": run.failed, "wall_s": round(wall, 2), "start_s": round(run.start_seconds, 2),
                      "cells_s": round(run.cells_seconds, 2), "cells_per_s": round(run.done / run.cells_seconds, 2)}
        print(f"  {name:16s} {run.done} cells, wall {wall:6.1f} s (start {run.start_seconds:5.1f} s, cells {run.cells_seconds:6.1f} s)",
              flush=True)
    local = cells_of(work / "local")
    for name in ("ray-1worker", "ray-2workers", "local-again"):
        assert cells_of(work / name) == local, f"{name}: cells differ from the local run"
    # against the mean of the two local runs
    base = (runs["local"]["cells_s"] + runs["local, again"]["cells_s"]) / 2
    base_wall = (runs["local"]["wall_s"] + runs["local, again"]["wall_s"]) / 2
    return {
        "runs": runs,
        "identical_to_local": True,
        "overhead_1_worker_cells": round(runs["ray, 1 worker"]["cells_s"] / base - 1, 3),
        "overhead_1_worker_wall": round(runs["ray, 1 worker"]["wall_s"] / base_wall - 1, 3),
        "speedup_2_workers_cells": round(base / runs["ray, 2 workers"]["cells_s"], 2),
        "speedup_2_workers_wall": round(base_wall / runs["ray, 2 workers"]["wall_s"], 2),
    }


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
    parser.add_argument("--quick", action="store_true", help="2 rows, 2 steps, fleet up to 4 with 0.1 s: checks that it runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.steps, args.delay, args.per_worker, args.max_workers = 2, 2, 0.1, 3, 4
    torch.set_num_threads(1)
    ray = import_ray()
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    init = time.perf_counter() - started
    print(f"local Ray with 2 CPUs started in {init:.1f} s (not counted below)", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            print(f"part 1: {args.rows * 10} bench cells on the tiny SD checkpoint ({args.steps} steps, toy judge)", flush=True)
            part1 = overhead(work, rows_count=args.rows, steps=args.steps)
            sizes = [n for n in (1, 2, 4, 8, 16) if n <= args.max_workers]
            print(f"part 2: a simulated fleet, {args.delay} s per cell, {args.per_worker} cells per actor", flush=True)
            part2 = fleet(work, sizes=sizes, delay=args.delay, per_worker=args.per_worker)
    finally:
        ray.shutdown()
    runs = part1["runs"]
    print()
    print(f"{'':16s} {'wall s':>8s} {'start s':>8s} {'cells s':>8s} {'cells/s':>8s}")
    for name, run in runs.items():
        print(f"{name:16s} {run['wall_s']:8.1f} {run['start_s']:8.1f} {run['cells_s']:8.1f} {run['cells_per_s']:8.2f}")
    print("(against the mean of the two local runs)")
    print(f"ray 1 worker vs local (equal parallelism): cells phase {part1['overhead_1_worker_cells']:+.1%}, "
          f"wall {part1['overhead_1_worker_wall']:+.1%} (target <= +15%)")
    print(f"ray 2 workers vs local: cells phase {part1['speedup_2_workers_cells']:.2f}x, wall {part1['speedup_2_workers_wall']:.2f}x; "
          "cells identical to local: yes")
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
