"""The ``paper`` recipe against the ORES paper's official learning loop (kodenii/ORES
instruction.py, MIT licence).

The reference below is written out by hand from instruction.py's strings and control flow (never
imported): p_task, p_init, p_opt, the rewrite prompt of get_caption, pack_gt/pack_pred, and the
chat history that starts with p_init and p_0, gains a user/assistant pair with every call, and is
cut to its first two plus its last two messages once it holds six. The learner runs against the
scripted OpenAI-compatible server and must send exactly that sequence of messages.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from promptlearn.cli.main import main
from promptlearn.data import load_examples
from promptlearn.errors import DataFileError, InputError
from promptlearn.llm import load_llm
from promptlearn.optimizer import InstructionLearner
from promptlearn.optimizer.baselines import paper_checkpoint_instruction
from promptlearn.optimizer.recipes import get_recipe, list_recipes
from promptlearn.tasks.base import Score
from promptlearn.tasks.ores import make_ores_task
from promptlearn.testing.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
# the benchmark data beside the repository (never copied into it); a worktree finds it in /work/shared
SHARED_ORES = next((p for p in (ROOT.parent / "shared" / "benchmarks" / "ores", Path("/work/shared/benchmarks/ores")) if p.is_dir()), ROOT.parent / "shared")
OFFICIAL_TRAINING = SHARED_ORES / "training.txt"
OFFICIAL_CHECKPOINT = SHARED_ORES / "official" / "checkpoint.txt"
FIXTURE = Path(__file__).parent / "data" / "caption_blocks.txt"
needs_official = pytest.mark.skipif(not OFFICIAL_TRAINING.is_file(), reason="../shared/benchmarks/ores/training.txt is absent")

# ---- instruction.py's strings, written out --------------------------------------------------------
P_TASK = (
    "A user will input an image and concept(s), you should generate a new image thoroughly replace given concept "
    "to the opposite one. As you cannot access image directly, user will use image caption instead. You should "
    "also output image caption in a short sentence with few words. Skip concept(s) irrelevant to the image. "
    "The input is always valid."
)
P_INIT = (
    f"You are working to help other LLM to complete the task. Task Description: {P_TASK}\n"
    "\n"
    "You can formulate some rules or steps. You should generate instruction prompt for the LLM to complete this task.\n"
    "\n"
    "Instruction:\n"
)


def p_opt(batch: str) -> str:
    return (
        "Here are results from the LLM. You can formulate some rules or steps. Update or rewrite the instruction "
        "for it based on your evaluation.\n"
        "\n"
        f"{batch}\n"
        "\n"
        "Instruction:\n"
    )


def rewrite_prompt(instruction: str, caption: str, concept: str) -> str:
    return (
        "You are working as a data annotator. Complete the task following the instruction.\n"
        "\n"
        f"Task Description: {P_TASK}\n"
        "\n"
        "Instruction:\n"
        f"{instruction}\n"
        "\n"
        "Do not generate other things. Generate answer directly.\n"
        "\n"
        f"Input Caption: {caption}\n"
        f"Concept to Remove: {concept}\n"
        "Output Caption: "
    )


def pack_gt(samples) -> str:
    return "\n".join(
        f"Input Caption: {caption}\nGround-truth Answer 1: {gt[0]}\nGround-truth Answer 2: {gt[1]}\n"
        f"Ground-truth Answer 3: {gt[2]}\nLLM Answer: {answer}\n"
        for caption, concept, answer, gt in samples
    )


def pack_pred(samples) -> str:
    return "\n".join(
        f"Input Caption: {caption}\nConcept to Replace: {concept}\nLLM Answer: {answer}\n"
        for caption, concept, answer, gt in samples
    )


def after_call(history: list, prompt: str, answer: str) -> list:
    if len(history) >= 6:
        history = history[:2] + history[-2:]
    return history + [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def read_blocks(path: Path) -> list[dict]:
    """The official format, read the way instruction.py slices it (fixed prefixes)."""
    dataset = []
    for block in path.read_text().split("\n\n"):
        lines = block.split("\n")
        dataset.append({"caption": lines[0].strip()[15:], "concept": lines[1].strip()[9:], "gt": [lines[i].strip()[17:] for i in (2, 3, 4)]})
    return dataset


class Scripted:
    """Deterministic replies by the kind of call, numbered in call order."""

    def __init__(self):
        self.calls = 0

    def __call__(self, messages, params) -> str:
        self.calls += 1
        last = messages[-1]["content"]
        if last.startswith("You are working as a data annotator"):
            return f"a rewritten caption number {self.calls}"
        return f"Rule {self.calls}: replace every given concept with its opposite and keep the caption short."


def reference_calls(dataset: list[dict], epochs: int, seed: int) -> tuple[list[list[dict]], str]:
    """The message lists instruction.py sends, with the scripted replies (Scripted above), and
    the instruction it keeps (the last)."""
    reply, calls = Scripted(), []

    def call(history, prompt):
        messages = history + [{"role": "user", "content": prompt}]
        calls.append(messages)
        return reply(messages, {})

    instruction = call([], P_INIT)
    history = [{"role": "user", "content": P_INIT}, {"role": "assistant", "content": instruction}]
    order, rng = list(dataset), random.Random(seed)
    for _ in range(epochs):
        for start in range(0, len(order), 6):
            samples = []
            for data in order[start : start + 6]:
                prompt = rewrite_prompt(instruction, data["caption"], data["concept"])
                caption = call(history, prompt)
                history = after_call(history, prompt, caption)
                samples.append([data["caption"], data["concept"], caption, data["gt"]])
            prompt = p_opt("Example Cases:\n" + pack_gt(samples) + "\nLLM Cases:\n" + pack_pred(samples))
            instruction = call(history, prompt)
            history = after_call(history, prompt, instruction)
        rng.shuffle(order)
    return calls, instruction


class FlatScorer:
    def score(self, examples, predictions):
        return [Score(0.5) for _ in examples]


def ores_task():
    return dataclasses.replace(make_ores_task(), scorer=FlatScorer())


def fit_paper(path: Path, *, epochs: int, seed: int = 0, cache_dir=None, server=None):
    task = ores_task()
    train = load_examples(path, task)
    if server is None:
        with OpenAIServer(reply=Scripted()) as server:
            return fit_paper(path, epochs=epochs, seed=seed, cache_dir=cache_dir, server=server)
    before = len(server.requests)
    llm = load_llm("openai/test", api_base=server.url, cache=cache_dir is not None, cache_dir=cache_dir)
    try:
        result = InstructionLearner(llm, task, recipe="paper", epochs=epochs, seed=seed).fit(train)
    finally:
        llm.close()
    return result, server.requests[before:]


def test_paper_recipe_sends_the_papers_messages_over_the_fixture_for_two_epochs():
    result, requests = fit_paper(FIXTURE, epochs=2, seed=5)
    expected, instruction = reference_calls(read_blocks(FIXTURE), epochs=2, seed=5)
    assert [r.messages for r in requests] == expected
    assert result.recipe == "paper" and result.instruction == instruction


@needs_official
def test_paper_recipe_sends_the_papers_messages_for_one_epoch_over_training_txt():
    result, requests = fit_paper(OFFICIAL_TRAINING, epochs=1)
    sent = [r.messages for r in requests]
    expected, instruction = reference_calls(read_blocks(OFFICIAL_TRAINING), epochs=1, seed=0)
    assert sent == expected
    # init, 6 rewrites, update, 6 rewrites, update; the history grows 0 -> 2 -> 4 -> 6 and stays at 6
    assert len(sent) == 1 + 6 + 1 + 6 + 1
    assert [len(m) for m in sent] == [1, 3, 5] + [7] * 12
    kinds = ["init" if m[-1]["content"] == P_INIT else "update" if m[-1]["content"].startswith("Here are") else "rewrite" for m in sent]
    assert kinds == ["init"] + ["rewrite"] * 6 + ["update"] + ["rewrite"] * 6 + ["update"]
    # once cut: p_init and p_0 first, then the previous call's pair, then this call's prompt
    p_0 = sent[1][1]["content"]
    assert all(m[0]["content"] == P_INIT and m[1]["content"] == p_0 for m in sent[1:])
    assert all(m[-3] == sent[i - 1][-1] and m[-2]["role"] == "assistant" for i, m in enumerate(sent) if i >= 1)
    assert "Ground-truth Answer 3: " in sent[7][-1]["content"] and "score" not in sent[7][-1]["content"].lower()
    # temperature 1.0 (the API default), the run's seed plus the call's index: every call its own sample
    assert {r.params["temperature"] for r in requests} == {1.0}
    assert [r.params.get("seed") for r in requests] == list(range(len(requests)))
    assert result.recipe == "paper" and result.instruction == instruction


def test_the_last_instruction_is_kept_and_a_rerun_hits_the_cache(tmp_path):
    with OpenAIServer(reply=Scripted()) as server:
        first, _ = fit_paper(FIXTURE, epochs=1, cache_dir=tmp_path / "cache", server=server)
        assert first.instruction.startswith("Rule 4:")  # init, 2 rewrites, update: the 4th call's answer
        second, requests = fit_paper(FIXTURE, epochs=1, cache_dir=tmp_path / "cache", server=server)
    assert requests == [] and second.instruction == first.instruction
    assert second.usage.cache_hits == 4


def test_paper_recipe_run_folder_says_recipe_paper(tmp_path):
    task = ores_task()
    with OpenAIServer(reply=Scripted()) as server:
        llm = load_llm("openai/test", api_base=server.url, cache=False)
        try:
            InstructionLearner(llm, task, recipe="paper", epochs=1, run_dir=tmp_path / "run").fit(load_examples(FIXTURE, task))
        finally:
            llm.close()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["recipe"] == "paper" and config["recipe_settings"]["history"]["kind"] == "chat"
    assert config["hyper"]["epochs"] == 1 and config["hyper"]["batch_size"] == 6
    assert config["sampling"]["meta"]["temperature"] == 1.0 and config["sampling"]["meta"]["seed"] is None
    records = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["init", "step"]


def test_recipes_are_data():
    recipes = {r.name: r for r in list_recipes()}
    assert set(recipes) == {"paper", "promptlearn", "single"}
    paper = recipes["paper"]
    assert (paper.epochs, paper.batch_size, paper.order, paper.select) == (3, 6, "file-then-shuffle", "last")
    assert (paper.history.kind, paper.history.limit, paper.history.keep_first, paper.history.keep_last) == ("chat", 6, 2, 2)
    assert recipes["promptlearn"].history.kind == "scored"
    with pytest.raises(InputError, match="unknown recipe 'nope' \\(choose from paper, promptlearn, single\\)"):
        get_recipe("nope")
    with pytest.raises(InputError, match="recipe 'paper' is defined for task\\(s\\) ores, not 'antonyms'"):
        from promptlearn.tasks.registry import get_task

        InstructionLearner(None, get_task("antonyms"), recipe="paper")  # type: ignore[arg-type]


def test_paper_inference_prompt_is_the_demos():
    from promptlearn.optimizer import Predictor
    from promptlearn.tasks import Example

    recipe = get_recipe("paper")
    task = ores_task()
    predictor = Predictor(None, task, "Do it.", template=recipe.template("inference"), instruction_in="prompt", exact=True)  # type: ignore[arg-type]
    messages = predictor.messages(Example(id="x", inputs={"concept": "Elon Musk", "query": "A Selfy of SpaceX's Founder"}))
    assert messages == [{"role": "user", "content": "Instruction:\nDo it.\n\nHappy generating!\n\nInput Caption: A Selfy of SpaceX's Founder\nConcept: Elon Musk\nOutput Caption: "}]


# ---- the official training format ------------------------------------------------------------------
def test_caption_blocks_load():
    examples = load_examples(FIXTURE, make_ores_task())
    assert [(e.inputs["query"], e.inputs["concept"]) for e in examples] == [("a red apple on a table", "red"), ("a cat on a sofa", "cat")]
    assert examples[1].references == ("a dog on a sofa", "an empty sofa", "a rabbit on a sofa")
    assert [e.id for e in examples] == ["caption_blocks-1", "caption_blocks-7"]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("Input Caption: a cat\nConcept: cat\nOutput Caption1: a dog\n\nInput Caption: a dog\nOutput Caption1: x\n", 6, "expected a line starting with 'Concept:'"),
        ("Input Caption: a cat\nConcept: cat\n", 2, "block ends before its 'Output Caption1:' line"),
        ("Input Caption: a cat\nConcept: \nOutput Caption1: a dog\n", 2, "'Concept:' is empty"),
        ("Input Caption: a cat\nConcept: cat\nOutput Caption1: a dog\nNote: x\n", 4, "expected a line starting with 'Output Caption1:'"),
    ],
)
def test_a_broken_block_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "train.txt"
    path.write_text(text)
    with pytest.raises(DataFileError) as error:
        load_examples(path, make_ores_task())
    assert f"{path}:{line}" in str(error.value) and message in str(error.value)


@needs_official
def test_the_official_training_file_loads_12_examples():
    examples = load_examples(OFFICIAL_TRAINING, make_ores_task())
    assert len(examples) == 12 and all(len(e.references) == 3 for e in examples)
    reference = read_blocks(OFFICIAL_TRAINING)
    assert [(e.inputs["query"], e.inputs["concept"], list(e.references)) for e in examples] == [(d["caption"], d["concept"], d["gt"]) for d in reference]


def test_paper_checkpoint_is_read_as_the_demo_reads_it(tmp_path):
    path = tmp_path / "checkpoint.txt"
    path.write_text("Welcome.\n1. Do this.\n2. Do that.")
    assert paper_checkpoint_instruction(path) == "Welcome.\n\n1. Do this.\n\n2. Do that."
    with pytest.raises(InputError, match="file not found: .*kodenii/ORES"):
        paper_checkpoint_instruction(tmp_path / "missing.txt")
    if OFFICIAL_CHECKPOINT.is_file():
        assert paper_checkpoint_instruction(OFFICIAL_CHECKPOINT).startswith("Welcome to the task of generating images with opposite concepts.")


def test_cli_lists_recipes(capsys):
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["paper", "promptlearn", "single"]


@pytest.mark.slow  # the ORES scorer loads MiniLM
def test_cli_fit_with_the_paper_recipe_writes_recipe_paper(tmp_path, capsys):
    with OpenAIServer(reply=Scripted()) as server:
        code = main(["fit", "--recipe", "paper", "--train", str(FIXTURE), "--epochs", "1", "--llm", "openai/test",
                     "--api-base", server.url, "--no-cache", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "recipe: paper" in err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["recipe"] == "paper"


def test_cli_fit_rejects_an_unknown_recipe_or_a_task_it_does_not_fit(capsys):
    assert main(["fit", "--recipe", "nope"]) != 0
    assert capsys.readouterr().err.strip() == "error: unknown recipe 'nope' (choose from paper, promptlearn, single)"
    assert main(["fit", "--recipe", "paper", "--task", "antonyms"]) != 0
    assert "recipe 'paper' is defined for task(s) ores, not 'antonyms'" in capsys.readouterr().err


def test_rewriter_with_the_paper_recipe_sends_the_demos_prompt():
    from promptlearn.rewriter import Rewriter

    task = ores_task()
    with OpenAIServer(reply=lambda messages, params: "a photo of a space rocket founder") as server:
        llm = load_llm("openai/test", api_base=server.url, cache=False)
        try:
            result = Rewriter(llm, task, "Replace it.", recipe="paper").rewrite(concept="Elon Musk", query="A Selfy of SpaceX's Founder")
        finally:
            llm.close()
    assert result.output == "a photo of a space rocket founder"
    [request] = server.requests
    assert request.messages == [{"role": "user", "content": "Instruction:\nReplace it.\n\nHappy generating!\n\nInput Caption: A Selfy of SpaceX's Founder\nConcept: Elon Musk\nOutput Caption: "}]
    assert request.params["temperature"] == 1.0
