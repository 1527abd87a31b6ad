"""``start: best`` (promptlearn's default start): p_0 and the task's human-written instruction, each
with and without the recipe's demonstrations, scored on validation; the best starts (a tie: the
earlier in the fixed order p0 with demonstrations, p0, human with demonstrations, human). Against
the scripted LLM."""

from __future__ import annotations

import re
from dataclasses import replace

from _toy_llm import toy_llm

from promptlearn.cli.main import main
from promptlearn.optimizer import InitRecord, InstructionLearner, MaxCalls
from promptlearn.optimizer.demos import split_demos
from promptlearn.optimizer.estimate import NoCallLLM, estimate_fit
from promptlearn.optimizer.recipes import get_recipe
from promptlearn.testing.toy import INIT_MARK, UPDATE_MARK, field_values, toy_examples, toy_prompts, toy_task

TASK = toy_task()
HUMAN = TASK.human_instruction
TRAIN = toy_examples(8)
VAL = toy_examples(5, prefix="v", start=100)
P0 = "Rewrite the query and leave the concept out."


class Scripted:
    """Answers right when the system message holds ``good`` (and, with ``needs_demos``, only when
    demonstrations are shown as earlier turns); else echoes the query. Updates propose a fixed text."""

    def __init__(self, good: str | None = "(human)", needs_demos: bool = False):
        self.good, self.needs_demos = good, needs_demos

    def __call__(self, messages, params=None):
        last = messages[-1]["content"]
        if UPDATE_MARK in last:
            return "Rewrite the query without naming the concept at all."
        if INIT_MARK in last:
            return P0
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        query, concept = field_values(last, "query")[0], field_values(last, "concept")[0]
        shown = any(m["role"] == "assistant" for m in messages)
        right = self.good is not None and self.good in system and (shown or not self.needs_demos)
        return query.replace(concept, "plain") if right else query


def learner(llm, task=TASK, **options) -> InstructionLearner:
    return InstructionLearner(llm, task, prompts=toy_prompts(), **{"epochs": 1, "batch_size": 4, "seed": 3, "candidates": 2, "demos": 0, "start": "best", **options})


def init_of(result) -> InitRecord:
    return next(s for s in result.steps if isinstance(s, InitRecord))


def test_promptlearn_defaults_to_best_and_the_paper_recipe_keeps_p0_without_demonstrations():
    assert get_recipe("promptlearn").start == "best"
    paper = get_recipe("paper")
    assert paper.start == "p0" and paper.demos == 0
    assert get_recipe("single").start == "p0"


def test_the_best_scoring_start_is_chosen_and_said():
    with toy_llm(Scripted("(human)")) as (llm, _):
        result = learner(llm).fit(TRAIN, valset=VAL)
    init = init_of(result)
    assert result.initial_instruction == HUMAN
    assert init.start == "human" and init.start_scores == {"p0": 0.0, "human": 1.0} and init.val_score == 1.0
    assert any(n.startswith("start (best): human won on validation (p0 0.000, human 1.000") for n in result.notes)
    assert "start (best): human won" in result.summary()


def test_with_demonstrations_every_start_is_scored_with_and_without_them():
    with toy_llm(Scripted("(human)", needs_demos=True)) as (llm, _):
        result = learner(llm, demos=2).fit(TRAIN, valset=VAL)
    init = init_of(result)
    assert list(init.start_scores) == ["p0 with 2 demonstrations", "p0", "human with 2 demonstrations", "human"]
    assert init.start == "human with 2 demonstrations" and init.start_scores["human"] == 0.0
    instruction, demos = split_demos(result.initial_instruction)
    assert instruction == HUMAN and len(demos) == 2


def test_a_tie_goes_to_p0_first():
    with toy_llm(Scripted(good=None)) as (llm, _):  # every candidate scores 0
        result = learner(llm, demos=2).fit(TRAIN, valset=VAL)
    assert init_of(result).start == "p0 with 2 demonstrations"
    assert split_demos(result.initial_instruction)[0] == P0


def test_a_task_without_a_human_instruction_falls_back_to_p0():
    task = replace(TASK, human_instruction=None)
    with toy_llm(Scripted("(human)")) as (llm, log):
        result = learner(llm, task=task).fit(TRAIN, valset=VAL)
    assert result.initial_instruction == P0 and init_of(result).start is None  # one candidate: nothing to choose
    with toy_llm(Scripted("(human)")) as (llm, log):
        result = learner(llm, task=task, demos=2).fit(TRAIN, valset=VAL)
    assert list(init_of(result).start_scores) == ["p0 with 2 demonstrations", "p0"]
    assert not any(HUMAN in (m["content"] or "") for request in log for m in request)


def test_without_a_validation_set_the_first_candidate_starts_and_it_is_said():
    with toy_llm(Scripted("(human)")) as (llm, _):
        result = learner(llm, holdout=0.0, select="last").fit(TRAIN)
    assert result.initial_instruction == P0 and init_of(result).start == "p0"
    assert any("no validation set to choose by, so p0 starts (the first of p0, human)" in n for n in result.notes)


def test_the_choice_survives_resume(tmp_path):
    run = tmp_path / "run"
    with toy_llm(Scripted("(human)"), cache_dir=tmp_path / "cache") as (llm, _):
        first = learner(llm, run_dir=run, stop=MaxCalls(1)).fit(TRAIN, valset=VAL)
    assert first.steps and not any(getattr(s, "kind", "") == "step" for s in first.steps)  # stopped after the start
    with toy_llm(Scripted(good=None)) as (llm, log):  # a model that would now choose p0: the start is not redone
        resumed = learner(llm, run_dir=run, resume=True).fit(TRAIN, valset=VAL)
    assert resumed.initial_instruction == HUMAN
    assert any(n.startswith("start (best): human won on validation") for n in resumed.notes)
    assert not any(INIT_MARK in request[-1]["content"] for request in log)


def test_estimate_counts_the_start_candidates_validation_calls():
    def calls(task, start, demos):
        return estimate_fit(learner(NoCallLLM("openai/test"), task=task, start=start, demos=demos), TRAIN, VAL).calls

    assert calls(TASK, "best", 0) - calls(TASK, "p0", 0) == len(VAL)  # the human instruction, scored once
    assert calls(TASK, "best", 2) - calls(TASK, "p0", 2) == 2 * len(VAL)  # ... with and without demonstrations
    no_human = replace(TASK, human_instruction=None)
    assert calls(no_human, "best", 2) == calls(no_human, "p0", 2)


def test_cli_start_best_is_accepted_and_estimated(capsys, openai_server):
    def estimate(start):
        code = main(["fit", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet", "--task", "antonyms",
                     "--estimate", "--epochs", "1", "--demos", "0", "--start", start])
        out = capsys.readouterr().out
        assert code == 0, out
        return int(re.search(r"calls: at most (\d+)", out).group(1)), int(re.search(r"(\d+) validation", out).group(1))

    (best, n_val), (p0, _) = estimate("best"), estimate("p0")
    assert best - p0 == n_val and openai_server.requests == []
    code = main(["fit", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet", "--task", "antonyms", "--estimate", "--start", "nowhere"])
    assert code != 0 and "p0, human, best" in capsys.readouterr().err
