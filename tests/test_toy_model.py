"""The trained toy checkpoint shipped with the package: loads offline by name, deterministic, the
prompt switch invariants, and a 3-row bench (reference rewrites, toy judge) where TIN avoids more."""

from __future__ import annotations

import json
import time

import pytest
import torch

from promptlearn.cli.main import main
from promptlearn.synthesis.components import load_components, resolve_model_name
from promptlearn.synthesis.interventions import PromptSwitch
from promptlearn.synthesis.sampler import Synthesizer
from promptlearn.toyworld import checkpoint_path
from promptlearn.toyworld.judge import read_image

STEPS = 20


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(load_components("toy", scheduler="ddim", local_files_only=True))


def test_toy_checkpoint_ships_small_and_loads_by_name(synth):
    folder = checkpoint_path()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 10 * 1024 * 1024
    assert str(resolve_model_name("toy")) == str(folder)
    assert synth.components.default_size == 32


def test_same_seed_same_image(synth):
    a = synth.generate("a crimson ball on the left", seeds=[3], num_inference_steps=STEPS, decode=False).latents
    b = synth.generate("a crimson ball on the left", seeds=[3], num_inference_steps=STEPS, decode=False).latents
    assert torch.equal(a, b)


def test_switch_at_t_is_the_query_and_at_zero_the_rewrite(synth):
    query, rewrite = "a crimson ball on the left", "a blue ball on the left"

    def latents(prompt, **kwargs):
        return synth.generate(prompt, seeds=[0, 1], num_inference_steps=STEPS, decode=False, **kwargs).latents

    assert torch.equal(latents(query, interventions=PromptSwitch(rewrite, switch_step=STEPS)), latents(query))
    assert torch.equal(latents(query, interventions=PromptSwitch(rewrite, switch_step=0)), latents(rewrite))


def test_the_checkpoint_draws_the_position_and_background_it_is_asked_for(synth):
    # the 2026-12-07 checkpoint on 200 training-style captions: position 1.000, background 0.850, every background
    # miss a gray one (docs/toy-world.md); the checkpoints before 2026-12-06 drew the position from the noise seed
    # (0.16, chance 0.20), and the factor-2 recipe without the high-noise floor the background (0.35)
    from promptlearn.toyworld import world

    asked = [(position, background) for position in world.POSITIONS for background in world.BACKGROUNDS]
    prompts = [f"a red ball {world.POSITION_PHRASES[p]} on a {b} background" for p, b in asked]
    readings = [read_image(image) for prompt in prompts
                for image in synth.generate(prompt, seeds=[0, 1], num_inference_steps=STEPS).images]
    wanted = [pair for pair in asked for _ in range(2)]
    assert sum(r.position == p for r, (p, _) in zip(readings, wanted)) >= 27, [r.position for r in readings]  # of 30
    assert sum(r.background == b for r, (_, b) in zip(readings, wanted)) >= 27, [r.background for r in readings]


def test_done_when_generate_tin_gives_a_blue_ball_on_the_left(tmp_path):
    out = tmp_path / "x.png"
    code = main(["generate", "--model", "toy", "--query", "a crimson ball on the left", "--concept", "red", "--method", "tin",
                 "--rewrite", "a blue ball on the left", "--out", str(out)])
    assert code == 0
    from PIL import Image

    reading = read_image(Image.open(out))
    assert (reading.colour, reading.shape, reading.position) == ("blue", "circle", "left")


@pytest.fixture(scope="module")
def three_row_bench(tmp_path_factory):
    started = time.perf_counter()
    out = tmp_path_factory.mktemp("toy") / "bench"
    code = main(["bench", "--model", "toy", "--judge", "toy", "--dataset", "toy", "--limit", "3", "--seeds", "0,1",
                 "--methods", "original,tin", "--rewrites", "reference", "--out", str(out), "--no-progress"])
    assert code == 0
    assert time.perf_counter() - started < 60
    return out


def test_three_row_bench_with_reference_rewrites_runs_in_under_a_minute(three_row_bench):
    out = three_row_bench
    assert (out / "summary.json").is_file() and (out / "report.md").is_file()


def test_three_row_bench_tin_avoids_more_than_original(three_row_bench):
    out = three_row_bench
    summary = json.loads((out / "summary.json").read_text())
    text = json.dumps(summary)
    assert "tin" in text
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    avoided = {m: sum(1 for r in rows if r["method"] == m and r.get("avoided")) for m in ("original", "tin")}
    assert avoided["tin"] > avoided["original"], avoided
