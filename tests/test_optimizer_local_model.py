"""One real fit: the ORES task on the embedded SmolLM2-135M (spec ``local``), 1 epoch on two
training examples, then the same fit again from the cache."""

from __future__ import annotations

import pytest

from promptlearn import InstructionLearner, get_task, load_examples, load_llm
from promptlearn.optimizer import StepRecord
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)

pytestmark = pytest.mark.slow


def test_one_epoch_on_the_embedded_model_then_again_from_the_cache(tmp_path, use_model_cache):
    task = get_task("ores")
    train = load_examples("ores-train", task, limit=2)
    cache = tmp_path / "cache"

    def fit(run: str):
        llm = load_llm("local", cache_dir=cache)
        try:
            # short answers keep this test to seconds; the one-proposal loop (recipe 'single') keeps
            # the call count fixed: p_init, 2 predictions, p_opt
            learner = InstructionLearner(
                llm, task, recipe="single", epochs=1, batch_size=2, seed=0, run_dir=tmp_path / run,
                predict_params={"max_tokens": 24}, meta_params={"max_tokens": 48},
            )
            return learner.fit(train)
        finally:
            llm.close()

    first = fit("first")
    steps = [s for s in first.steps if isinstance(s, StepRecord)]
    assert len(steps) == 1 and first.method == "learned" and first.selected_version == 1
    assert first.usage.calls == 4 and first.usage.cache_hits == 0  # p_init, 2 predictions, p_opt
    assert first.instruction.strip() and len(first.instruction.split()) >= 3
    assert "<query>" not in first.instruction and "Example 1 (score" not in first.instruction
    assert all(0.0 <= p.score <= 1.0 for p in steps[0].predictions)
    assert (tmp_path / "first" / "instruction.txt").read_text(encoding="utf-8").strip() == first.instruction

    again = fit("again")  # greedy decoding: the same calls, all answered by the cache
    assert again.usage.calls == 4 and again.usage.cache_hits == 4
    assert again.instruction == first.instruction
