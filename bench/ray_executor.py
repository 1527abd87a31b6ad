"""The ray executor against the local one, and the scaling of a simulated fleet.

Part 1, overhead: the same image-stage bench (200 cells: rows x 5 seeds x methods original and
negative, toy judge) on the tiny random-weight SD checkpoint (``write_tiny_sd``), through
``run_image_bench`` (the code path of ``promptlearn bench``): the local executor (one process,
one torch thread), then Ray with 2 CPU workers (1 torch thread each; ``--one-worker``: with 1 too).
Per run, by phase: the start-up (starting the workers, loading the models and making one warm-up
image: once here, once per actor) and the cells phase (making, judging and recording the cells),
each with its wall time and its CPU seconds, by who spent them: this process (the driver, its own
rusage), each Ray actor (asked for its own rusage at both ends of the phase) and every other
process the local Ray runs (raylet, GCS, agents, idle workers: from /proc, each live process's
own CPU). The snapshots are taken while the workers are alive, so no process's CPU is lost. The
overhead at equal parallelism is the CPU per cell of the cells phase, Ray (driver + actors +
daemons) against local (the one process): on a shared machine wall times say more about the
neighbours than about Ray. Every Ray run's cells are checked to be identical to the local run's
(records and PNG bytes). The load average before and after each run is printed with it.
Three overhead figures: all of Ray's processes (driver + actors + daemons); driver + actors only;
and all less the daemons' idle rate (Ray's raylet, GCS and agents use CPU while nothing runs:
their rate is measured beside the local run, while the same Ray sits idle, and subtracted for the
Ray run's wall time; on a loaded machine the wall time, and with it the idle cost, grows).

Part 2, a simulated fleet: N CPU actors whose generator sleeps a fixed time per image (standing
in for GPU time; a 8x8 image, the real harness, judge and store), 6 cells per actor, N = 1, 2, 4,
8, 16 (each actor a fraction of the local Ray's 2 CPUs: they sleep). Throughput of the cells phase
against N x the single-worker rate (target >= 0.8 N).

    OMP_NUM_THREADS=1 .venv/bin/python bench/ray_executor.py                 # both parts, ~5 min here
    OMP_NUM_THREADS=1 .venv/bin/python bench/ray_executor.py --quick         # seconds: it runs
    .venv/bin/python bench/ray_executor.py --json bench-ray.json             # figures to a file too
    ray start --head --num-cpus 2 --include-dashboard=false --dashboard-agent-grpc-port 52366
    OMP_NUM_THREADS=1 .venv/bin/python bench/ray_executor.py --ray-address auto   # join it (a loaded machine:
                                  # a Ray started by `ray start` with a fixed agent port comes up where ray.init times out)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
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


RAY_DAEMONS = ("ray/core/src/ray/", "ray/_private/", "ray/dashboard/", "ray/autoscaler/", "ray::")


def _descendants_cpu() -> dict[tuple[int, int], float]:
    """CPU seconds (user + system, the process's own, not its reaped children's) of every live
    descendant of this process and of every Ray process on this machine (raylet, GCS, agents,
    workers: descendants of this process when it started the local Ray, of init when ``ray start``
    did), keyed by (pid, start time) so a reused pid is another process."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, int, int]] = {}
    roots = {os.getpid()}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            fields = text[text.rfind(")") + 2 :].split()
            # fields[0] is stat's 3rd field: ppid is [1], utime/stime [11]/[12], starttime [19]
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19]))
            if any(marker in command for marker in RAY_DAEMONS):
                roots.add(int(entry))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo, seen = {}, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        if pid != os.getpid():
            _, ticks_used, start = stats[pid]
            out[(pid, start)] = ticks_used / ticks
        todo += children.get(pid, [])
    return out


def _own_cpu() -> float:
    """This process's CPU seconds (all its threads, user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _actor_cpu(worker) -> tuple[int, float]:
    """Run inside a Ray actor: its pid and its own CPU seconds."""
    return os.getpid(), _own_cpu()


@dataclass
class Snapshot:
    """CPU seconds at one moment: this process (the driver), each Ray actor (asked directly), and
    every other live descendant (Ray's raylet, GCS, agents, idle workers: Ray's own cost)."""

    wall: float
    driver: float
    actors: dict[int, float]
    others: dict[tuple[int, int], float]

    @classmethod
    def take(cls, pool=None) -> "Snapshot":
        actors: dict[int, float] = {}
        for actor in getattr(pool, "actors", []):  # a Ray pool; the local one has none
            pid, cpu = pool.ray.get(actor.call.remote(_actor_cpu))
            actors[pid] = cpu
        others = {key: cpu for key, cpu in _descendants_cpu().items() if key[0] not in actors}
        return cls(time.perf_counter(), _own_cpu(), actors, others)


def phase(before: Snapshot, after: Snapshot) -> dict:
    """What happened between two snapshots: wall seconds and CPU seconds by who spent them. An
    actor or daemon that started in between counts from its start; one that ended in between is
    lost (counted in ``lost_processes``: none should end inside a phase)."""
    actors = sum(cpu - before.actors.get(pid, 0.0) for pid, cpu in after.actors.items())
    others = sum(cpu - before.others.get(key, 0.0) for key, cpu in after.others.items())
    lost = [key for key in before.others if key not in after.others] + [pid for pid in before.actors if pid not in after.actors]
    driver = after.driver - before.driver
    return {"wall_s": round(after.wall - before.wall, 2), "driver_cpu_s": round(driver, 2), "actors_cpu_s": round(actors, 2),
            "ray_daemons_cpu_s": round(others, 2), "cpu_s": round(driver + actors + others, 2), "lost_processes": len(lost)}


class MeasuredExecutor:
    """An executor whose pool is measured by phase: start-up (``start``: actors started, models
    loaded, one warm-up image; run_image_bench's identity call) and cells (the one ``map``:
    making, judging and recording every cell). The CPU snapshots are taken while the pool is alive,
    so no process of the phase has ended (the earlier whole-run accounting lost the CPU of actors
    killed at the end of a run: their parent is not always the one that reaps them)."""

    def __init__(self, executor):
        self.executor, self.name, self.phases = executor, executor.name, {}

    def describe(self):
        return self.executor.describe()

    def start(self, load):
        before = Snapshot.take()
        return MeasuredPool(self.executor.start(load), self, before)


class MeasuredPool:
    def __init__(self, pool, meter: MeasuredExecutor, before: Snapshot):
        self.pool, self.meter, self.before = pool, meter, before
        self.workers = pool.workers

    def call(self, fn):
        return self.pool.call(fn)

    def map(self, fn, items):
        started = Snapshot.take(self.pool)
        self.meter.phases["start"] = phase(self.before, started)
        yield from self.pool.map(fn, items)
        self.meter.phases["cells"] = phase(started, Snapshot.take(self.pool))

    def close(self):
        self.pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def overhead(work: Path, *, rows_count: int, steps: int, configs: list[str]) -> dict:
    sd = write_tiny_sd(work / "sd")
    worker = Warmed(ImageWorker(model_folder=str(sd), model="tiny-sd", judge="toy", device="cpu", generator={"steps": steps}, threads=1))
    args = dict(rows=rows(rows_count), methods=["original", "negative"], seeds=[0, 1, 2, 3, 4], switch_step=2, progress=False, load=worker)
    executors = {"local": LocalExecutor, "ray, 1 worker": lambda: RayExecutor(workers=1), "ray, 2 workers": lambda: RayExecutor(workers=2)}
    runs = {}
    for name in configs:
        out = work / name.replace(", ", "-").replace(" ", "")
        meter = MeasuredExecutor(executors[name]())
        load_before, started = os.getloadavg()[0], time.perf_counter()
        run = run_image_bench(out=out, executor=meter, **args)
        wall = time.perf_counter() - started
        start, cells = meter.phases["start"], meter.phases["cells"]
        if name == "local":  # Ray's daemons idle beside it (the bench keeps a Ray up): not the local run's cost
            for p in (start, cells):
                p["cpu_s"] = p["driver_cpu_s"]
        runs[name] = {"cells": run.done, "failed": run.failed, "wall_s": round(wall, 2), "start": start, "cells_phase": cells,
                      "cells_per_s": round(run.done / cells["wall_s"], 2), "cpu_s_per_cell": round(cells["cpu_s"] / run.done, 4),
                      "work_cpu_s_per_cell": round((cells["driver_cpu_s"] + cells["actors_cpu_s"]) / run.done, 4),
                      "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
        print(f"  {name:16s} {run.done} cells, wall {wall:6.1f} s (start {start['wall_s']:5.1f} s, cells {cells['wall_s']:6.1f} s); "
              f"CPU start {start['cpu_s']:5.1f} s, cells {cells['cpu_s']:6.1f} s (driver {cells['driver_cpu_s']:.1f}, "
              f"actors {cells['actors_cpu_s']:.1f}, Ray daemons {cells['ray_daemons_cpu_s']:.1f}); "
              f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        assert run.failed == 0, runs[name]
        if start["lost_processes"] or cells["lost_processes"]:  # their CPU is missing from the figures: say so
            print(f"  warning: {start['lost_processes']} + {cells['lost_processes']} processes ended inside a phase; "
                  "their CPU is not counted", flush=True)
    local = cells_of(work / "local")
    for name in configs[1:]:
        assert cells_of(work / name.replace(", ", "-").replace(" ", "")) == local, f"{name}: cells differ from the local run"
    base = runs["local"]
    # Ray's daemons use CPU whether or not cells run (heartbeats, metrics, log monitor): their rate
    # while idle, measured beside the local run, per wall second
    idle_rate = base["cells_phase"]["ray_daemons_cpu_s"] / base["cells_phase"]["wall_s"]
    out = {"runs": runs, "identical_to_local": True, "ray_idle_daemons_cpu_s_per_wall_s": round(idle_rate, 4)}
    for name in configs[1:]:
        key = name.replace("ray, ", "").replace(" ", "_")
        cells = runs[name]["cells_phase"]
        net = cells["driver_cpu_s"] + cells["actors_cpu_s"] + max(0.0, cells["ray_daemons_cpu_s"] - idle_rate * cells["wall_s"])
        out[f"cpu_overhead_{key}"] = round(runs[name]["cpu_s_per_cell"] / base["cpu_s_per_cell"] - 1, 3)
        out[f"work_cpu_overhead_{key}"] = round(runs[name]["work_cpu_s_per_cell"] / base["cpu_s_per_cell"] - 1, 3)
        out[f"net_cpu_overhead_{key}"] = round(net / runs[name]["cells"] / base["cpu_s_per_cell"] - 1, 3)
        out[f"cells_speedup_{key}"] = round(base["cells_phase"]["wall_s"] / runs[name]["cells_phase"]["wall_s"], 2)
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
    parser.add_argument("--no-fleet", action="store_true", help="part 1 only")
    parser.add_argument("--quick", action="store_true", help="2 rows, 2 steps, fleet up to 4 with 0.1 s: checks that it runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--ray-address", default=None,
                        help="join this running Ray (e.g. one from `ray start --head --num-cpus 2`) instead of starting a local one")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.steps, args.delay, args.per_worker, args.max_workers = 2, 2, 0.1, 3, 4
    torch.set_num_threads(1)
    ray = import_ray()
    started = time.perf_counter()
    if args.ray_address:
        ray.init(address=args.ray_address, logging_level="ERROR", log_to_driver=False)
    else:
        start_local_ray(2, logging_level="ERROR", log_to_driver=False)
    init = time.perf_counter() - started
    print(f"{'joined Ray at ' + args.ray_address if args.ray_address else 'local Ray with 2 CPUs started'} in {init:.1f} s "
          f"({ray.cluster_resources().get('CPU', 0):g} CPUs; not counted below); load average {os.getloadavg()}", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            print(f"part 1: {args.rows * 10} bench cells on the tiny SD checkpoint ({args.steps} steps, toy judge)", flush=True)
            part1 = overhead(work, rows_count=args.rows, steps=args.steps, configs=["local", "ray, 2 workers", *(["ray, 1 worker"] if args.one_worker else [])])
            sizes = [] if args.no_fleet else [n for n in (1, 2, 4, 8, 16) if n <= args.max_workers]
            if sizes:
                print(f"part 2: a simulated fleet, {args.delay} s per cell, {args.per_worker} cells per actor", flush=True)
            part2 = fleet(work, sizes=sizes, delay=args.delay, per_worker=args.per_worker) if sizes else {}
    finally:
        ray.shutdown()
    runs = part1["runs"]
    print()
    print(f"{'':16s} {'wall s':>7s} {'start s':>8s} {'start CPU':>10s} {'cells s':>8s} {'cells CPU':>10s} "
          f"{'driver':>7s} {'actors':>7s} {'daemons':>8s} {'CPU s/cell':>11s} {'load':>11s}")
    for name, run in runs.items():
        start, cells = run["start"], run["cells_phase"]
        print(f"{name:16s} {run['wall_s']:7.1f} {start['wall_s']:8.1f} {start['cpu_s']:10.1f} {cells['wall_s']:8.1f} {cells['cpu_s']:10.1f} "
              f"{cells['driver_cpu_s']:7.1f} {cells['actors_cpu_s']:7.1f} {cells['ray_daemons_cpu_s']:8.1f} {run['cpu_s_per_cell']:11.4f} "
              f"{run['load_average'][0]:5.1f}-{run['load_average'][1]:<5.1f}")
    for name in list(runs)[1:]:
        key = name.replace("ray, ", "").replace(" ", "_")
        print(f"{name} vs local, CPU per cell of the cells phase (the overhead at equal parallelism; target <= +15%): "
              f"all of Ray's processes {part1[f'cpu_overhead_{key}']:+.1%}; driver + actors {part1[f'work_cpu_overhead_{key}']:+.1%}; "
              f"all less the daemons' idle rate ({part1['ray_idle_daemons_cpu_s_per_wall_s']:.3f} CPU s per s, measured beside "
              f"the local run) {part1[f'net_cpu_overhead_{key}']:+.1%}. Wall: cells phase {part1[f'cells_speedup_{key}']:.2f}x, "
              f"whole run {part1[f'wall_speedup_{key}']:.2f}x the local rate (wall times depend on the machine's load)")
    print("cells identical to local: yes")
    print(f"{'N':>3s} {'cells/s':>8s} {'ideal':>8s} {'x one':>6s} {'of N x':>7s}")
    for n, row in part2.items():
        print(f"{n:3d} {row['cells_per_s']:8.2f} {row['ideal_per_s']:8.2f} {row['speedup']:6.2f} {row['efficiency']:7.0%}")
    if part2:
        worst = min(row["efficiency"] for row in part2.values())
        print(f"fleet: lowest efficiency {worst:.0%} (target >= 80% of N x the single-worker rate)")
    if args.json:
        args.json.write_text(json.dumps({"ray_init_s": round(init, 2), "overhead": part1, "fleet": part2,
                                         "command": " ".join(sys.argv)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
