"""Demonstrations in promptlearn's recipe (promptlearn.optimizer.demos): drawn seeded from the
training split only, sent as user/assistant turns, visible in the learned instruction and the run
folder, part of every request (and so of its cache key); the paper recipe has none."""

from __future__ import annotations

import json

import pytest
from _toy_llm import toy_llm
from click.testing import CliRunner

from promptlearn.cli.main import cli
from promptlearn.errors import InputError
from promptlearn.optimizer import InstructionLearner, Predictor, StepRecord
from promptlearn.optimizer.demos import DEMOS_HEADER, Demo, draw_demos, join_demos, split_demos
from promptlearn.optimizer.recipes import get_recipe, load_recipe
from promptlearn.testing.toy import INIT_MARK, UPDATE_MARK, field_values, toy_examples, toy_prompts, toy_task

TASK = toy_task()
TRAIN = toy_examples(8)
VAL = toy_examples(5, prefix="v", start=100)


class FollowsExamples:
    """A scripted model that, like SmolLM2-135M, answers right only when shown worked examples:
    a prediction request with demonstration turns gets the reference, one without gets the query
    echoed. Updates propose a new numbered text; the log keeps every update prompt."""

    def __init__(self):
        self.updates: list[str] = []

    def __call__(self, messages, params=None):
        last = messages[-1]["content"]
        if UPDATE_MARK in last:
            self.updates.append(last)
            return f"Rewrite the query without the concept, version {len(self.updates)}."
        if INIT_MARK in last:
            return "Rewrite the query and leave the concept out."
        query, concept = field_values(last, "query")[0], field_values(last, "concept")[0]
        shown = any(m["role"] == "assistant" for m in messages)
        return query.replace(concept, "plain") if shown else query


def learner(llm, **options) -> InstructionLearner:
    return InstructionLearner(llm, TASK, prompts=toy_prompts(), **{"epochs": 1, "batch_size": 4, "seed": 3, "candidates": 2, **options})


def test_split_and_join_round_trip_and_a_malformed_block_is_plain_text():
    demos = [Demo({"concept": "red", "query": "a red car"}, "a plain car"), Demo({"concept": "dog", "query": "a dog"}, "a cat")]
    text = join_demos("Rewrite the query.", demos)
    assert DEMOS_HEADER in text and split_demos(text) == ("Rewrite the query.", demos)
    assert join_demos(text, demos[:1]) == join_demos("Rewrite the query.", demos[:1])  # replaces, never stacks
    assert split_demos("Rewrite the query.") == ("Rewrite the query.", [])
    broken = f"Rewrite.\n{DEMOS_HEADER}\nnot json"
    assert split_demos(broken) == (broken, [])
    assert join_demos("Rewrite.", []) == "Rewrite."


def test_draw_is_seeded_and_takes_only_examples_with_a_reference():
    assert draw_demos(TRAIN, 3, "k") == draw_demos(TRAIN, 3, "k")
    assert draw_demos(TRAIN, 3, "k") != draw_demos(TRAIN, 3, "other")
    no_refs = [type(e)(id=e.id, inputs=e.inputs) for e in TRAIN]
    assert draw_demos(no_refs, 3, "k") == [] and draw_demos(TRAIN, 0, "k") == []
    assert len(draw_demos(TRAIN[:2], 5, "k")) == 2


def test_the_predictor_sends_demonstrations_as_earlier_turns():
    demos = draw_demos(TRAIN, 2, "k")
    with toy_llm(FollowsExamples()) as (llm, log):
        bare = Predictor(llm, TASK, "Rewrite.", prompts=toy_prompts())
        shown = bare.with_instruction(join_demos("Rewrite.", demos))
        messages = shown.messages(VAL[0])
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
        assert messages[0]["content"] == "Rewrite." and messages[2]["content"] == demos[0].output
        assert messages[1]["content"] == bare.user_message(demos[0].example(0))
        assert bare.evaluate(VAL).score == 0.0 and shown.evaluate(VAL).score == 1.0
        assert len(log) == 2 * len(VAL)  # other demonstrations, other requests: nothing served from another's cache entry


def test_the_learner_draws_demonstrations_from_training_only_and_shows_them(tmp_path):
    reply = FollowsExamples()
    with toy_llm(reply) as (llm, _):
        result = learner(llm, demos=2, run_dir=tmp_path / "run").fit(TRAIN, valset=VAL)
    train_inputs = [dict(e.inputs) for e in TRAIN]
    text, demos = split_demos(result.initial_instruction)
    assert text == "Rewrite the query and leave the concept out." and len(demos) == 2
    assert all(dict(d.inputs) in train_inputs for d in demos)  # never validation examples
    for step in (s for s in result.steps if isinstance(s, StepRecord)):
        for candidate in step.candidates:
            assert len(split_demos(candidate["instruction"])[1]) == 2
            assert all(dict(d.inputs) in train_inputs for d in split_demos(candidate["instruction"])[1])
    # the proposer sees instruction texts only, never the demonstration block
    assert reply.updates and all(DEMOS_HEADER not in prompt for prompt in reply.updates)
    assert (tmp_path / "run" / "instruction.txt").read_text() == result.instruction + "\n"
    assert len(split_demos(result.instruction)[1]) == 2 and result.val_score == 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["hyper"]["demos"] == 2 and config["recipe_settings"]["demos"] == 3


def test_proposals_beyond_the_first_draw_new_demonstrations_seeded():
    def run(seed):
        with toy_llm(FollowsExamples()) as (llm, _):
            return learner(llm, demos=2, seed=seed).fit(TRAIN, valset=VAL)

    first, again, other = run(3), run(3), run(7)
    step = next(s for s in first.steps if isinstance(s, StepRecord))
    keep, fresh = (split_demos(c["instruction"])[1] for c in step.candidates)
    assert keep == split_demos(step.instruction_before)[1] and fresh != keep
    assert first.initial_instruction == again.initial_instruction and first.instruction == again.instruction
    assert split_demos(other.initial_instruction)[1] != split_demos(first.initial_instruction)[1]


def test_demonstrations_turn_a_score_of_zero_into_one_on_a_model_that_needs_them():
    with toy_llm(FollowsExamples()) as (llm, _):
        without = learner(llm, demos=0, start="human").fit(TRAIN, valset=VAL)
        with_demos = learner(llm, demos=2, start="human").fit(TRAIN, valset=VAL)
    assert without.val_score == 0.0 and with_demos.val_score == 1.0
    assert split_demos(with_demos.initial_instruction)[0] == TASK.human_instruction


class CopiesExamples(FollowsExamples):
    """A model that copies the last demonstration's answer when shown some (as SmolLM2 copies
    ORES queries): demonstrations hurt it; without them it answers right."""

    def __call__(self, messages, params=None):
        last = messages[-1]["content"]
        if UPDATE_MARK in last or INIT_MARK in last:
            return super().__call__(messages, params)
        shown = [m["content"] for m in messages if m["role"] == "assistant"]
        query, concept = field_values(last, "query")[0], field_values(last, "concept")[0]
        return shown[-1] if shown else query.replace(concept, "plain")


def test_the_start_goes_without_demonstrations_when_they_score_lower_on_validation():
    with toy_llm(CopiesExamples()) as (llm, _):
        result = learner(llm, demos=2).fit(TRAIN, valset=VAL)
    assert split_demos(result.initial_instruction)[1] == [] and result.val_score == 1.0
    assert any("won on validation (p0 with 2 demonstrations 0.000, p0 1.000" in n for n in result.notes)


def test_a_warm_start_keeps_its_own_demonstrations(tmp_path):
    own = join_demos("Start here.", draw_demos(TRAIN, 1, "mine"))
    path = tmp_path / "start.txt"
    path.write_text(own)
    with toy_llm(FollowsExamples()) as (llm, _):
        result = learner(llm, demos=2, start=str(path), epochs=0).fit(TRAIN, valset=VAL)
    assert result.initial_instruction == own


def test_recipes_and_checks():
    assert get_recipe("promptlearn").demos == 3 and get_recipe("paper").demos == 0 and get_recipe("single").demos == 0
    with pytest.raises(InputError, match="demos"):
        with toy_llm() as (llm, _):
            learner(llm, demos=-1)


def test_a_bad_demos_value_in_a_recipe_file_names_it(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: mine\ndemos: -2\n")
    with pytest.raises(InputError, match="invalid demos"):
        load_recipe(path)


def test_the_cli_rejects_a_negative_demos():
    result = CliRunner().invoke(cli, ["fit", "--task", "antonyms", "--demos", "-1"])
    assert result.exit_code == 2 and "--demos" in result.output
