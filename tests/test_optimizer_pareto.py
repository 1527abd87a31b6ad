"""The Pareto front of per-validation-example bests (promptlearn.optimizer.pareto) and the
promptlearn recipe's ``parents: pareto``: each step improves on a parent drawn from the front
(against the scripted LLM)."""

from __future__ import annotations

import json
import zlib

import pytest
from _toy_llm import toy_llm
from test_optimizer_candidates import Crash, CrashAfter, trajectory

from promptlearn.optimizer import InstructionLearner, StepRecord
from promptlearn.optimizer.pareto import front, members, pick_parent
from promptlearn.optimizer.recipes import get_recipe
from promptlearn.testing.toy import INIT_MARK, UPDATE_MARK, _version, field_values, toy_examples, toy_prompts, toy_task

TASK = toy_task()
TRAIN = toy_examples(8)
VAL = toy_examples(6, prefix="v", start=100)


def entry(version, **scores):
    return {"version": version, "score": sum(scores.values()) / len(scores), "scores": scores}


def test_front_members_and_the_draw():
    pool = {
        "A": entry(0, e1=1.0, e2=1.0, e3=0.0, e4=0.0),
        "B": entry(1, e1=0.0, e2=0.5, e3=1.0, e4=0.0),
        "C": entry(2, e1=1.0, e2=0.0, e3=0.0, e4=0.0),  # best only where A is too: dominated
    }
    ids = ["e1", "e2", "e3", "e4"]
    assert front(pool, ids) == {"e1": ["A", "C"], "e2": ["A"], "e3": ["B"]}  # e4: no credit anywhere
    assert members(front(pool, ids)) == {"A": 2, "B": 1}
    draws = [pick_parent(pool, ids, f"k{i}") for i in range(60)]
    assert set(draws) == {"A", "B"} and draws.count("A") > draws.count("B")
    assert pick_parent(pool, ids, "k1") == pick_parent(pool, ids, "k1")
    assert pick_parent({"A": entry(0, e1=0.0)}, ["e1"], "k") is None and pick_parent({}, ids, "k") is None


class Specialists:
    """Instruction version v answers an example right when its number is v mod 3: versions are
    best on different examples, so the front holds several. Proposal i of an update of v is
    version v + 1 + i."""

    def __call__(self, messages, params=None):
        last = messages[-1]["content"]
        if UPDATE_MARK in last:
            version = _version(field_values(last, "instruction")[-1])
            return f"Rewrite the query and leave the concept out (v{version + 1 + ((params or {}).get('sample_index') or 0) % 3})."
        if INIT_MARK in last:
            return "Rewrite the query and leave the concept out (v0)."
        system = next(m["content"] for m in messages if m["role"] == "system")
        query, concept = field_values(last, "query")[0], field_values(last, "concept")[0]
        right = zlib.crc32(query.encode()) % 3 == _version(system) % 3
        return query.replace(concept, "plain") if right else query


def learner(llm, **options):
    return InstructionLearner(llm, TASK, prompts=toy_prompts(), **{"epochs": 3, "batch_size": 4, "seed": 1, "candidates": 3, "demos": 0, "start": "p0", **options})


def test_steps_draw_their_parent_from_the_front(tmp_path):
    with toy_llm(Specialists()) as (llm, _):
        result = learner(llm, parents="pareto", run_dir=tmp_path / "run").fit(TRAIN, valset=VAL)
    steps = [s for s in result.steps if isinstance(s, StepRecord)]
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    pool = state["progress"]["pool"] if "progress" in state else state["pool"]
    by_version = {e["version"]: text for text, e in pool.items()}
    assert all(s.parent is not None and s.instruction_before == by_version[s.parent] for s in steps)
    # at least once the parent is not the instruction the previous step ended with
    assert any(b.instruction_before != a.instruction_after for a, b in zip(steps, steps[1:]))
    assert all(set(e["scores"]) == {v.id for v in VAL} for e in pool.values())


def test_current_parents_keep_the_loop_as_it_was():
    with toy_llm(Specialists()) as (llm, _):
        result = learner(llm, parents="current").fit(TRAIN, valset=VAL)
    steps = [s for s in result.steps if isinstance(s, StepRecord)]
    assert all(s.parent is None for s in steps)
    assert all(b.instruction_before == a.instruction_after for a, b in zip(steps, steps[1:]))
    assert get_recipe("promptlearn").parents == "pareto" and get_recipe("paper").parents == "current"


def test_resume_after_a_kill_reproduces_the_pareto_run(tmp_path):
    with toy_llm(Specialists(), cache_dir=tmp_path / "c1") as (llm, _):
        expected = learner(llm, parents="pareto", run_dir=tmp_path / "a").fit(TRAIN, valset=VAL)
    with toy_llm(Specialists(), cache_dir=tmp_path / "c2") as (llm, _):
        with pytest.raises(Crash):
            learner(llm, parents="pareto", run_dir=tmp_path / "b", stop=CrashAfter(2)).fit(TRAIN, valset=VAL)
    with toy_llm(Specialists(), cache_dir=tmp_path / "c2") as (llm, _):
        resumed = learner(llm, parents="pareto", run_dir=tmp_path / "b", resume=True).fit(TRAIN, valset=VAL)
    assert trajectory(resumed.steps) == trajectory(expected.steps) and resumed.instruction == expected.instruction
    assert [s.parent for s in resumed.steps if isinstance(s, StepRecord)] == [s.parent for s in expected.steps if isinstance(s, StepRecord)]


def test_a_bad_parents_value_is_refused():
    from promptlearn.errors import InputError

    with toy_llm() as (llm, _), pytest.raises(InputError, match="parents"):
        learner(llm, parents="random")
