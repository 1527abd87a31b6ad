"""The ray executor on a local Ray (2 CPUs, started once for this module): the same cells and the
same results as the local executor (bit for bit: rewrites through the scripted LLM server, images
of the tiny SD checkpoint, judge answers), a killed worker's units redone, a rerun that skips
finished cells, bounded retries."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'promptlearn[ray]' (the ray executor's tests)")

from promptlearn.cli.main import main  # noqa: E402
from promptlearn.errors import InputError, PromptlearnError  # noqa: E402
from promptlearn.evaluation import ScriptedJudge, run_image_bench  # noqa: E402
from promptlearn.executors import LocalExecutor, RayExecutor, start_local_ray  # noqa: E402
from promptlearn.tasks.base import Example  # noqa: E402
from promptlearn.testing.openai_server import OpenAIServer  # noqa: E402
from promptlearn.testing.toy import ToyReply  # noqa: E402

import _word_task  # noqa: E402
from _word_task import WordTask  # noqa: E402

# the workers get this module's (and the shared stand-in's) functions and classes by value (they cannot import a test module)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
ray.cloudpickle.register_pickle_by_value(_word_task)

TASK_FILE = "from promptlearn.testing.toy import toy_task\n\nTASK = toy_task()\n"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs), or the running one at ``RAY_ADDRESS``; the executors
    join it and leave it running."""
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    else:
        start_local_ray(2, logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def ray_executor(**kw) -> RayExecutor:
    return RayExecutor(workers=2, **kw)


# -- the pool ----------------------------------------------------------------------------------


def _add(worker, item):
    marker, value = item
    if value == "die" and not Path(marker).exists():  # the first worker to take it dies
        Path(marker).write_text("died")
        os._exit(1)
    if value == "boom":
        raise RuntimeError("always fails")
    if value == "fatal":
        raise InputError("explained and fatal")
    return worker + (0 if value == "die" else value)


def test_the_pool_redoes_a_killed_workers_unit_and_bounds_retries(local_ray, tmp_path):
    marker = str(tmp_path / "died")
    items = [(marker, v) for v in (1, 2, "die", 3, "boom", 4)]
    with ray_executor(retries=1).start(lambda: 100) as pool:
        outcomes = sorted(pool.map(_add, items), key=lambda o: o.index)
        assert pool.replaced == 1  # the dead actor was replaced
        assert pool.call(lambda worker: worker) == 100
    assert [(o.value, o.error) for o in outcomes] == [(101, None), (102, None), (100, None), (103, None),
                                                      (None, "RuntimeError: always fails"), (104, None)]
    # redone once (with any other unit the dead actor held); retried once, then failed
    assert outcomes[2].attempts == 2 and outcomes[4].attempts == 2
    # the local executor: the same outcomes, the same retry rule
    Path(marker).write_text("died")
    with LocalExecutor(retries=1).start(lambda: 100) as pool:
        local = list(pool.map(_add, items))
    assert [(o.value, o.error) for o in local] == [(o.value, o.error) for o in outcomes] and local[4].attempts == 2


def test_an_explained_error_stops_the_run_on_both_executors(local_ray, tmp_path):
    for executor in (LocalExecutor(), ray_executor()):
        with executor.start(lambda: 0) as pool, pytest.raises(InputError, match="explained and fatal"):
            list(pool.map(_add, [("", 1), ("", "fatal")]))


def test_a_worker_that_cannot_load_is_one_error(local_ray):
    def broken():
        raise RuntimeError("no such model")

    with pytest.raises(PromptlearnError, match="a Ray worker could not load: RuntimeError: no such model"):
        ray_executor().start(broken)


# -- rewrite --input ---------------------------------------------------------------------------


def _rewrite(tmp_path, server, output, *extra):
    task_file = tmp_path / "toy_task.py"
    task_file.write_text(TASK_FILE)
    (tmp_path / "instruction.txt").write_text("Rewrite the query and leave the concept out (v0).\n")
    source = tmp_path / "queries.jsonl"
    rows = [("dog", f"a dog number {i}") if i % 2 else ("red", f"a red car number {i}") for i in range(10)]
    source.write_text("".join(json.dumps({"concept": c, "query": q}) + "\n" for c, q in rows))
    return main(["rewrite", "--task", str(task_file), "--instruction", str(tmp_path / "instruction.txt"), "--input", str(source),
                 "--output", str(output), "--verify", "1", "--concurrency", "1", "--llm", "openai/test", "--api-base", server.url,
                 "--no-cache", "--quiet", *extra])


@pytest.mark.slow  # each actor imports litellm
def test_rewrite_on_ray_writes_the_same_file_and_a_rerun_pays_nothing(local_ray, tmp_path, capsys):
    with OpenAIServer(reply=ToyReply()) as server:
        assert _rewrite(tmp_path, server, tmp_path / "local.jsonl") == 0
        local_calls = len(server.requests)
        server.clear()
        assert _rewrite(tmp_path, server, tmp_path / "ray.jsonl", "--executor", "ray", "--workers", "2") == 0
        assert len(server.requests) == local_calls  # the same calls, spread over the actors
        err = capsys.readouterr().err
        assert f"{local_calls} LLM calls" in err  # the actors' usage, summed here
        server.clear()
        assert _rewrite(tmp_path, server, tmp_path / "ray.jsonl", "--executor", "ray", "--workers", "2") == 0
        assert len(server.requests) == 0 and "already complete" in capsys.readouterr().err
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert len((tmp_path / "local.jsonl").read_text().splitlines()) == 10


def test_without_ray_settings_the_local_executor_refuses_them(tmp_path, capsys):
    with OpenAIServer(reply=ToyReply()) as server:
        assert _rewrite(tmp_path, server, tmp_path / "o.jsonl", "--workers", "2") == 2
        assert len(server.requests) == 0
    assert "error: --workers is a setting of the ray executor (--executor ray)" in capsys.readouterr().err


# -- bench: the tiny SD checkpoint from the CLI ------------------------------------------------

ROWS_TSV = "large\tGargantuan\tA large beast in the jungle\nred\tapple\tA red apple on a table\n"


def _learned_reply(messages, params):
    query = messages[-1]["content"].split("<query>\n")[1].split("\n</query>")[0]
    return "Rewritten query: " + query.replace("large", "small").replace("red apple", "green pear")


def _cells(folder: Path) -> dict:
    """Every cell's record (timings left out) and image bytes, keyed by (row, method, seed)."""
    out = {}
    for line in (folder / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("seconds", None)
        image = (folder / record["image"]).read_bytes() if record.get("image") else None
        out[(record["row_id"], record["method"], record["seed"])] = (record, image)
    return out


@pytest.mark.slow  # tiny SD loads in this process and in two actors
def test_bench_on_ray_makes_the_same_cells_bit_for_bit(local_ray, tmp_path):
    from promptlearn.synthesis.tiny import write_tiny_sd

    sd = write_tiny_sd(tmp_path / "sd")
    dataset = tmp_path / "rows.tsv"
    dataset.write_text(ROWS_TSV)
    (tmp_path / "learned.txt").write_text("learned: swap it")
    with OpenAIServer(reply=_learned_reply) as server:
        def bench(out, *extra):
            return main(["bench", "--dataset", str(dataset), "--methods", "original,negative,tin", "--seeds", "0,1", "--steps", "2",
                         "--model", str(sd), "--judge", "toy", "--llm", "openai/test", "--api-base", server.url, "--no-cache",
                         "--instruction", str(tmp_path / "learned.txt"), "--device", "cpu", "--out", str(out), "--no-progress", *extra])

        assert bench(tmp_path / "local") == 0
        assert bench(tmp_path / "ray", "--executor", "ray", "--workers", "2") == 0
    local, on_ray = _cells(tmp_path / "local"), _cells(tmp_path / "ray")
    assert len(local) == 2 * 2 * 3 and all(record["status"] == "ok" for record, _ in local.values())
    assert on_ray == local  # records (rewrites, MSE, judge answers) and PNG bytes
    summaries = [json.loads((tmp_path / name / "summary.json").read_text()) for name in ("local", "ray")]
    assert summaries[0]["methods"] == summaries[1]["methods"] and summaries[0]["fingerprint"] == summaries[1]["fingerprint"]
    assert summaries[1]["options"]["executor"] == "ray" and summaries[1]["options"]["workers"] == 2


# -- bench: a worker killed mid-run ------------------------------------------------------------

ROWS = [Example(f"r{i}", {"concept": "dog", "query": f"a dog number {i}"}) for i in range(4)]
LEVEL = {"original": 0, "blacklist": 60, "negative": 120}


class DyingPainter:
    """Paints a grey level per method; the worker that first paints ``die_on`` dies (once)."""

    def __init__(self, marker: str | None = None, die_on: tuple[str, str, int] | None = None):
        self.marker, self.die_on = marker, die_on

    def identity(self):
        return {"model": "painter"}

    def generate(self, request):
        if self.die_on == (request.query, request.method, request.seed) and not Path(self.marker).exists():
            Path(self.marker).write_text("died")
            os._exit(1)
        level = LEVEL[request.method] + request.seed
        return Image.new("RGB", (8, 8), (level, level, level))


def _dark(image, concept):
    return image.getpixel((0, 0))[0] < 10


def _bench(out, generator, executor=None):
    return run_image_bench(rows=ROWS, out=out, generator=generator, judge=ScriptedJudge(_dark), methods=list(LEVEL),
                           seeds=[0, 1], switch_step=2, progress=False, executor=executor)


def test_a_killed_worker_loses_no_cell(local_ray, tmp_path):
    local = _bench(tmp_path / "local", DyingPainter())
    killed = _bench(tmp_path / "ray", DyingPainter(str(tmp_path / "died"), ("a dog number 2", "negative", 1)), ray_executor())
    assert (tmp_path / "died").exists()  # a worker did die
    assert (killed.done, killed.failed) == (local.done, local.failed) == (4 * 2 * 3, 0)
    assert _cells(tmp_path / "ray") == _cells(tmp_path / "local")
    again = _bench(tmp_path / "ray", DyingPainter(), ray_executor())
    assert (again.done, again.skipped) == (0, 4 * 2 * 3)


# -- bench: the text stage ---------------------------------------------------------------------


class SwapRewriter:
    def identity(self):
        return {"llm": "scripted"}

    def rewrite(self, rows, instruction):
        from promptlearn.evaluation import Rewrite

        return [Rewrite(row.inputs["query"].replace("dog", "cat") if int(row.id[1:]) % 2 else row.inputs["query"]) for row in rows]


def test_the_text_stage_on_ray_records_the_same_cells(local_ray, tmp_path):
    from promptlearn.evaluation import run_text_bench

    args = dict(rows=ROWS * 1, task=WordTask(), methods=["learned", "blacklist"], instructions={"learned": "swap"}, progress=False, chunk_size=2)
    local = run_text_bench(out=tmp_path / "local", rewriter=SwapRewriter(), **args)
    on_ray = run_text_bench(out=tmp_path / "ray", rewriter=SwapRewriter(), executor=ray_executor(), **args)
    assert (on_ray.done, on_ray.failed) == (local.done, local.failed) == (8, 0)

    def records(folder):
        return sorted((json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()),
                      key=lambda r: (r["method"], r["row_id"]))

    assert records(tmp_path / "ray") == records(tmp_path / "local")


# -- generate --prompts ------------------------------------------------------------------------


@pytest.mark.slow  # tiny SD loads in this process and in two actors
def test_generate_prompts_on_ray_makes_the_same_images_and_a_rerun_skips_them(local_ray, tmp_path):
    from promptlearn.synthesis.tiny import write_tiny_sd

    sd = write_tiny_sd(tmp_path / "sd")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("A red apple on a table\n\nA red car in a large street\nA red kite\n")
    (tmp_path / "learned.txt").write_text("learned: swap it")
    with OpenAIServer(reply=_learned_reply) as server:
        def generate(out, *extra):
            return main(["generate", "--prompts", str(prompts), "--concept", "red", "--compare", "original,negative,tin", "--num-images", "2",
                         "--steps", "2", "--model", str(sd), "--instruction", str(tmp_path / "learned.txt"), "--llm", "openai/test",
                         "--api-base", server.url, "--no-cache", "--device", "cpu", "--out", str(out), "--no-progress", *extra])

        assert generate(tmp_path / "local") == 0
        assert generate(tmp_path / "ray", "--executor", "ray", "--workers", "2") == 0
        calls = len(server.requests)
        assert generate(tmp_path / "ray") == 0  # the same run on the local executor: every prompt finished, no rewrite
        assert len(server.requests) == calls

    def files(folder: Path) -> dict:
        return {str(path.relative_to(folder)): path.read_bytes() for path in sorted((folder / "prompts").rglob("*")) if path.is_file()}

    local, on_ray = files(tmp_path / "local"), files(tmp_path / "ray")
    assert len(local) == 3 * (3 * 2 + 1)  # 3 prompts: 3 methods x 2 seeds and a manifest each
    assert on_ray == local  # PNG bytes and manifests (rewrites, prompts, hashes)
    manifest = json.loads(local["prompts/prompts-1/manifest.json"])
    assert manifest["rewrites"] == {"learned": "A green pear on a table"}
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert config["options"]["executor"] == "local"  # refreshed by the rerun; the fingerprint is the same
