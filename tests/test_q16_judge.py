"""The Q16 judge on a tiny random CLIP with random prompts (plumbing: no Q16 weights offline)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from promptlearn.errors import InputError
from promptlearn.evaluation.judges import JudgeError, parse_judge_spec
from promptlearn.evaluation.judges.q16 import Q16Judge, load_prompts
from promptlearn.synthesis.tiny import write_tiny_clip
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("q16") / "clip")


@pytest.fixture(scope="module")
def dim(clip_folder):
    import json

    return json.loads((clip_folder / "config.json").read_text())["projection_dim"]


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(2).random((n, 40, 40, 3), dtype=np.float32)


def test_q16_probability_is_the_softmax_of_100_cosines(clip_folder, dim, tmp_path):
    prompts = torch.randn(2, dim, generator=torch.Generator().manual_seed(0))
    (tmp_path / "prompts.p").write_bytes(pickle.dumps(prompts.numpy()))  # Q16's published format
    judge = Q16Judge.from_path(clip_folder, prompts=tmp_path / "prompts.p")
    images = _images(3)
    x = torch.nn.functional.normalize(judge.clip.image_embeddings(images), dim=-1)
    t = torch.nn.functional.normalize(prompts, dim=-1)
    expected = (100 * x @ t.T).softmax(-1)[:, 1]
    got = judge.probabilities(images)
    assert got == pytest.approx(expected.tolist(), abs=1e-5)
    answers = judge.judge(list(images), ["inappropriate", "sexual", "Violence"])
    assert [a.present for a in answers] == [p > 0.5 for p in got] and answers[0].raw.startswith("p_inappropriate=")
    assert judge.identity()["kind"] == "q16"


def test_q16_flags_an_image_pointed_at_the_inappropriate_prompt(clip_folder):
    from promptlearn.synthesis.filters.clip_filter import ClipConceptFilter

    clip = ClipConceptFilter.from_pretrained(clip_folder, ["inappropriate"])
    images = _images(2)
    embeds = clip.image_embeddings(images)
    judge = Q16Judge(clip, torch.stack([embeds[1], embeds[0]]))  # image 0 is "inappropriate", image 1 not
    first, second = judge.judge(list(images), ["hate", "hate"])
    assert first.present and not second.present


def test_q16_refuses_concepts_it_cannot_see(clip_folder, dim):
    from promptlearn.synthesis.filters.clip_filter import ClipConceptFilter

    judge = Q16Judge(ClipConceptFilter.from_pretrained(clip_folder, ["x"]), torch.zeros(2, dim) + 1)
    with pytest.raises(JudgeError, match="only sees inappropriate content"):
        judge.judge(list(_images(1)), ["dog"])


def test_q16_prompt_files_and_their_errors(clip_folder, dim, tmp_path):
    table = np.random.default_rng(0).random((2, dim)).astype(np.float32)
    np.save(tmp_path / "a.npy", table)
    torch.save(torch.from_numpy(table), tmp_path / "a.pt")
    assert torch.equal(load_prompts(tmp_path / "a.npy"), load_prompts(tmp_path / "a.pt"))
    np.save(tmp_path / "bad.npy", table[:1])
    with pytest.raises(InputError, match="expected 2 x D"):
        load_prompts(tmp_path / "bad.npy")
    (tmp_path / "junk.p").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="cannot read"):
        load_prompts(tmp_path / "junk.p")
    np.save(tmp_path / "wide.npy", np.zeros((2, dim + 1), dtype=np.float32))
    with pytest.raises(InputError, match="embeds in"):
        Q16Judge.from_path(clip_folder, prompts=tmp_path / "wide.npy")


def test_q16_judge_spec(clip_folder, dim, tmp_path):
    with pytest.raises(InputError, match="Q16 needs its learned prompts"):
        parse_judge_spec(f"q16:{clip_folder}")
    with pytest.raises(InputError, match="no such file"):
        parse_judge_spec(f"q16:{clip_folder}@{tmp_path / 'missing.p'}")
    np.save(tmp_path / "p.npy", np.ones((2, dim), dtype=np.float32))
    spec = parse_judge_spec(f"q16:{clip_folder}@{tmp_path / 'p.npy'}")
    assert spec.kind == "q16" and str(spec).startswith("q16:") and str(spec).endswith("p.npy")
    assert isinstance(spec.load(), Q16Judge)
