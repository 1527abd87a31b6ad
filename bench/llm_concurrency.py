"""How much concurrency buys the LLM client against a remote model, and what the cache saves.

Against the OpenAI-compatible test server (promptlearn.testing.openai_server) with a fixed
latency per call (200 ms by default), through the full stack (LLM client -> litellm backend ->
HTTP), it times ``complete_many`` of 64 distinct prompts:

1. at concurrency 1, cold cache (a fresh cache folder),
2. at concurrency 16, cold cache (another fresh cache folder),
3. at concurrency 16 again on the cache of run 2 (warm: every request is a hit).

and prints the wall times (median of ``--repeat`` rounds), the speedup of 16 over 1 (ideal 16x; target >= 12x) and warm/cold
(target <= 1%). With ``--check`` it exits 1 when a target is missed. One untimed request first pays the one-time costs (litellm's first call
builds its HTTP client). The server runs in a process of its own by default, as a real server
would; ``--in-process`` runs it in a thread of this process instead (it then competes with the
client for the GIL).

    .venv/bin/python bench/llm_concurrency.py [--latency 0.2] [--requests 64] [--concurrency 16] [--repeat 3] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptlearn.llm import LLM, load_llm  # noqa: E402
from promptlearn.testing.openai_server import OpenAIServer  # noqa: E402

SPEEDUP_TARGET = 12.0
WARM_RATIO_TARGET = 0.01


@contextlib.contextmanager
def server_url(latency: float, in_process: bool) -> Iterator[str]:
    """The base URL of a running test server with ``latency`` seconds per call."""
    if in_process:
        with OpenAIServer(latency=latency) as server:
            yield server.url
        return
    command = [sys.executable, "-m", "promptlearn.testing.openai_server", "--latency", str(latency)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the test server did not start (printed {url!r})")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the server exits when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timed_batch(llm: LLM, prompts: list[str], concurrency: int) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds (this process, all threads) of one ``complete_many``, and
    the number of cache hits in it; closes ``llm``."""
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        completions = llm.complete_many(prompts, concurrency=concurrency)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        llm.close()
    if [c.text for c in completions] != [f"echo: {p}" for p in prompts]:
        raise RuntimeError("answers came back wrong or out of order")
    return elapsed, cpu, sum(c.cached for c in completions)


def run(latency: float, requests: int, concurrency: int, in_process: bool, repeat: int) -> dict[str, float]:
    prompts = [f"benchmark prompt {i}" for i in range(requests)]
    times: dict[str, list[float]] = {"sequential": [], "parallel": [], "warm": []}
    cpu_times: list[float] = []  # of the concurrent cold runs
    with server_url(latency, in_process) as url, tempfile.TemporaryDirectory(prefix="llm-bench-") as tmp:

        def client(name: str | None, level: int) -> LLM:
            return load_llm("openai/test", api_base=url, api_key="sk-bench", cache=name is not None,
                            cache_dir=os.path.join(tmp, name) if name else None, concurrency=level)

        warm_up = client(None, 1)
        warm_up.complete("warm-up: builds litellm's HTTP client, not timed")
        warm_up.close()
        for round_ in range(repeat):  # each cold run gets a cache folder of its own
            for name, level, folder in (("sequential", 1, f"cold-1-{round_}"), ("parallel", concurrency, f"cold-n-{round_}")):
                cold_time, cpu, hits = timed_batch(client(folder, level), prompts, level)
                if hits:
                    raise RuntimeError(f"the cold run had {hits} cache hits")
                times[name].append(cold_time)
                if level == concurrency:
                    cpu_times.append(cpu)
            warm_time, _, hits = timed_batch(client(f"cold-n-{round_}", concurrency), prompts, concurrency)
            if hits != requests:
                raise RuntimeError(f"the warm run had {hits} cache hits out of {requests}")
            times["warm"].append(warm_time)
    sequential, parallel, warm = (statistics.median(times[k]) for k in ("sequential", "parallel", "warm"))
    if repeat > 1:
        for name, values in times.items():
            print(f"{name:10s} runs: {' '.join(f'{v:.3f}' for v in values)} s")

    ideal_sequential = requests * latency
    ideal_parallel = -(-requests // concurrency) * latency
    speedup = sequential / parallel
    warm_ratio = warm / parallel
    print(f"median of {repeat} run(s); server: latency {latency * 1000:.0f} ms per call, {'in this process' if in_process else 'own process'}")
    print(f"{requests} requests, concurrency 1,  cold cache: {sequential:7.3f} s  (ideal {ideal_sequential:.3f} s)")
    print(f"{requests} requests, concurrency {concurrency}, cold cache: {parallel:7.3f} s  (ideal {ideal_parallel:.3f} s)")
    print(f"{requests} requests, concurrency {concurrency}, warm cache: {warm:7.3f} s  (every request a cache hit)")
    print(f"client overhead per request: sequential {(sequential - ideal_sequential) / requests * 1000:.1f} ms, "
          f"concurrent {(parallel - ideal_parallel) / requests * 1000:.1f} ms; "
          f"CPU per request in this process (client + litellm) {statistics.median(cpu_times) / requests * 1000:.1f} ms")
    print(f"speedup at {concurrency}: {speedup:5.2f}x  (target >= {SPEEDUP_TARGET:g}x, limit {concurrency}x)  "
          f"{'OK' if speedup >= SPEEDUP_TARGET else 'MISSED'}")
    print(f"warm/cold:      {warm_ratio * 100:5.2f}%  (target <= {WARM_RATIO_TARGET * 100:g}%)  "
          f"{'OK' if warm_ratio <= WARM_RATIO_TARGET else 'MISSED'}")
    return {"sequential": sequential, "parallel": parallel, "warm": warm, "speedup": speedup, "warm_ratio": warm_ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per call [0.2]")
    parser.add_argument("--requests", type=int, default=64, help="prompts per run [64]")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight for the concurrent runs [16]")
    parser.add_argument("--in-process", action="store_true", help="run the server in a thread of this process")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported [3]")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}  python {platform.python_version()}  "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result = run(args.latency, args.requests, args.concurrency, args.in_process, max(1, args.repeat))
    missed = result["speedup"] < SPEEDUP_TARGET or result["warm_ratio"] > WARM_RATIO_TARGET
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
