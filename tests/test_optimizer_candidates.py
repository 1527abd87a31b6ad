"""The promptlearn recipe's loop beyond the paper's: k seeded proposals per step, accept only
when better on the mini-batch, held-out selection, start choices, budgets and unparseable answers
(against the scripted LLM)."""

from __future__ import annotations

import pytest
from _toy_llm import toy_llm

from promptlearn.error_budget import ErrorBudget
from promptlearn.errors import InputError
from promptlearn.optimizer import InstructionLearner, MaxCalls, MaxTokens, StepRecord
from promptlearn.runs import read_jsonl
from promptlearn.testing.toy import UPDATE_MARK, ToyReply, _version, field_values, toy_examples, toy_prompts, toy_task

TASK = toy_task()
TRAIN = toy_examples(8)
VAL = toy_examples(5, prefix="v", start=100)


class KReply(ToyReply):
    """Proposal ``i`` (its sample index within the step) of an update of version v is version
    ``v + offsets[i % k]``; everything else as :class:`ToyReply`."""

    def __init__(self, *, offsets=(1, 2, 3), **kwargs):
        super().__init__(**kwargs)
        self.offsets = offsets
        self.update_params: list[dict] = []

    def __call__(self, messages, params=None):
        last = messages[-1]["content"]
        if UPDATE_MARK in last:
            self.update_params.append(dict(params or {}))
            version = _version(field_values(last, "instruction")[-1])
            index = (params or {}).get("sample_index") or 0
            return f"Rewrite the query and leave the concept out (v{version + self.offsets[index % len(self.offsets)]})."
        return super().__call__(messages, params)


def learner(llm, **options) -> InstructionLearner:
    # demos=0, start=p0: these tests follow instruction texts from p_0; tests/test_optimizer_demos.py
    # tests demonstrations, tests/test_optimizer_start.py the start's choice
    return InstructionLearner(llm, TASK, prompts=toy_prompts(), **{"epochs": 1, "batch_size": 4, "seed": 3, "demos": 0, "start": "p0", **options})


def steps_of(result) -> list[StepRecord]:
    return [s for s in result.steps if isinstance(s, StepRecord)]


def test_k_proposals_are_distinct_seeded_requests_and_cached(tmp_path):
    reply = KReply()
    with toy_llm(reply, cache_dir=tmp_path / "cache") as (llm, log):
        first = learner(llm, candidates=3).fit(TRAIN, valset=VAL)
    indices = [p["sample_index"] for p in reply.update_params]
    assert len(indices) == 3 * len(steps_of(first)) and len(set(indices)) == len(indices)
    assert all(p["seed"] == 3 for p in reply.update_params)
    assert all(len(s.candidates) == 3 for s in steps_of(first))
    with toy_llm(KReply(), cache_dir=tmp_path / "cache") as (llm, log):
        again = learner(llm, candidates=3).fit(TRAIN, valset=VAL)
    assert log == [] and again.instruction == first.instruction  # every call from the cache


def test_the_best_proposal_is_accepted_when_it_beats_the_current_instruction():
    with toy_llm(KReply(skill=lambda v: min(1.0, v / 8))) as (llm, _):
        result = learner(llm, candidates=3).fit(TRAIN, valset=VAL)
    first = steps_of(result)[0]
    assert first.accepted is True and first.instruction_after.endswith("(v3).")
    assert [c["instruction"][-5:] for c in first.candidates if c["accepted"]] == ["(v3)."] and len(first.candidates) == 3
    assert result.instruction.endswith("(v6).")  # 2 steps, +3 each: the best on validation


def test_a_worse_candidate_is_rejected_and_the_current_instruction_kept():
    # version 0 answers half the batch, every proposal nothing: all rejected
    with toy_llm(KReply(skill=lambda v: 0.6 if v == 0 else 0.0)) as (llm, log):
        result = learner(llm, candidates=2).fit(TRAIN, valset=VAL)
    for step in steps_of(result):
        assert step.accepted is False and step.instruction_after == step.instruction_before
        assert step.instruction_after.endswith("(v0).")
        assert all(not c["accepted"] and c["score"] < step.batch_score for c in step.candidates)
    assert result.instruction.endswith("(v0).")


def test_a_tie_keeps_the_current_instruction():
    with toy_llm(KReply(skill=lambda v: 0.5)) as (llm, _):
        result = learner(llm, candidates=2).fit(TRAIN, valset=VAL)
    assert all(s.accepted is False for s in steps_of(result)) and result.instruction.endswith("(v0).")


def test_the_proposer_sees_accepted_and_rejected_candidates_with_scores():
    with toy_llm(KReply(skill=lambda v: min(1.0, v / 8))) as (llm, log):
        learner(llm, candidates=3).fit(TRAIN, valset=VAL)
    second_step_updates = [m[-1]["content"] for m in log if UPDATE_MARK in m[-1]["content"]][3:]
    assert "(rejected)" in second_step_updates[0] and "(accepted)" in second_step_updates[0]


def test_without_a_validation_set_a_share_is_held_out_and_said():
    with toy_llm(KReply(skill=lambda v: min(1.0, v / 8))) as (llm, _):
        result = learner(llm).fit(TRAIN)
    assert any("held out 2 of 8 training examples" in note for note in result.notes)
    assert "held out 2 of 8" in result.summary() and result.val_score is not None
    assert "learning strict" in result.summary()  # the toy task declares no graded scorer


@pytest.mark.parametrize("start, expected", [("human", "Rewrite the query without the concept (human)."), ("file", "Start from this file (v1)."), ("run", "Learned before (v4).")])
def test_start_from_the_human_instruction_a_file_or_an_earlier_run(tmp_path, start, expected):
    if start == "file":
        (tmp_path / "start.txt").write_text(expected + "\n")
        start = str(tmp_path / "start.txt")
    elif start == "run":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "instruction.txt").write_text(expected + "\n")
        start = str(tmp_path / "run")
    with toy_llm(KReply()) as (llm, log):
        result = learner(llm, start=start, epochs=0).fit(TRAIN, valset=VAL)
    assert result.initial_instruction == expected and not any("Write one short instruction" in m[-1]["content"] for m in log)


def test_a_start_that_is_no_file_is_refused_before_any_call():
    with toy_llm() as (llm, log):
        with pytest.raises(InputError, match="start"):
            learner(llm, start="no-such-file.txt")
    assert log == []


@pytest.mark.parametrize("condition, word", [(MaxCalls(20), "max calls"), (MaxTokens(600), "max tokens")])
def test_budgets_stop_the_run_with_the_usage_reached(condition, word):
    with toy_llm(KReply()) as (llm, _):
        full = learner(llm, epochs=2).fit(TRAIN, valset=VAL)
    with toy_llm(KReply()) as (llm, _):
        result = learner(llm, epochs=2, stop=condition).fit(TRAIN, valset=VAL)
    assert word in result.stop_reason and len(steps_of(result)) < len(steps_of(full))
    used = result.total_usage.calls if word == "max calls" else result.total_usage.total_tokens
    limit = condition.calls if word == "max calls" else condition.tokens
    assert used >= limit and str(used) in result.stop_reason
    # it stopped at the first step boundary past the limit
    before_last = used - steps_of(result)[-1].calls if word == "max calls" else used - steps_of(result)[-1].prompt_tokens - steps_of(result)[-1].completion_tokens
    assert before_last < limit


class Mute(KReply):
    """Answers every rewrite with nothing the parser can use."""

    def __call__(self, messages, params=None):
        if UPDATE_MARK in messages[-1]["content"] or "Write one short instruction" in messages[-1]["content"]:
            return super().__call__(messages, params)
        return "   "


def test_unparseable_answers_score_zero_count_and_stop_at_max_errors(tmp_path):
    errors = ErrorBudget(6, unit="error")
    with toy_llm(Mute()) as (llm, _):
        result = learner(llm, epochs=2, errors=errors, run_dir=tmp_path / "run").fit(TRAIN, valset=VAL)
    assert errors.exhausted and "more than --max-errors 6" in result.stop_reason
    assert "unparseable answer" in errors.failures[0][1]
    steps = steps_of(result)
    assert len(steps) == 1 and steps[0].batch_score == 0.0 and steps[0].unparseable >= 4
    state = read_jsonl(tmp_path / "run" / "history.jsonl")  # saved: the run stopped cleanly
    assert state and (tmp_path / "run" / "instruction.txt").exists()


class Crash(Exception):
    pass


class CrashAfter:
    def __init__(self, steps):
        self.steps = steps

    def __call__(self, progress):
        if progress.steps >= self.steps:
            raise Crash(progress.steps)

    def describe(self):
        return "crash"


def trajectory(records):
    return [(r.step, r.instruction_before, r.instruction_after, r.accepted, [c["instruction"] for c in r.candidates], r.val_score) for r in records if isinstance(r, StepRecord)]


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(tmp_path):
    skill = lambda v: min(1.0, v / 9) if v % 2 else 0.1  # noqa: E731  some proposals rejected
    with toy_llm(KReply(skill=skill), cache_dir=tmp_path / "c1") as (llm, _):
        expected = learner(llm, epochs=2, candidates=3, run_dir=tmp_path / "a").fit(TRAIN, valset=VAL)
    with toy_llm(KReply(skill=skill), cache_dir=tmp_path / "c2") as (llm, _):
        with pytest.raises(Crash):
            learner(llm, epochs=2, candidates=3, run_dir=tmp_path / "b", stop=CrashAfter(2)).fit(TRAIN, valset=VAL)
    with toy_llm(KReply(skill=skill), cache_dir=tmp_path / "c2") as (llm, _):
        resumed = learner(llm, epochs=2, candidates=3, run_dir=tmp_path / "b", resume=True).fit(TRAIN, valset=VAL)
    assert trajectory(resumed.steps) == trajectory(expected.steps) and resumed.instruction == expected.instruction
    assert any(s.accepted is False for s in steps_of(expected)) and any(s.accepted for s in steps_of(expected))
