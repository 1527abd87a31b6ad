"""Parsing an LLM's answer to a meta-prompt into an instruction."""

import pytest

from promptlearn.optimizer.parsing import parse_instruction, unusable_reason


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Rewrite the query without the concept.", "Rewrite the query without the concept."),
        ("Here is the improved instruction:\nRewrite the query.", "Rewrite the query."),
        ("Sure! Here's a better instruction:\n\n\"Rewrite the query.\"", "Rewrite the query."),
        ("Sure!\nHere is the new instruction:\nRewrite it.\nKeep the rest.", "Rewrite it.\nKeep the rest."),
        ("```\nRewrite the query.\n```", "Rewrite the query."),
        ("Here you go:\n```text\nRewrite the query.\n```\nLet me know if you need more.", "Rewrite the query."),
        ("Improved instruction: Rewrite the query.", "Rewrite the query."),
        ("**New Instruction:** Rewrite the query.", "Rewrite the query."),
        ("<instruction>\nRewrite the query.\n</instruction>", "Rewrite the query."),
        ("\u201cRewrite the query.\u201d", "Rewrite the query."),
        ("'Rewrite the query.'\n\nI hope this helps!", "Rewrite the query."),
        ('"Replace "red" with "blue"."', '"Replace "red" with "blue"."'),  # not one quoted block
        ("Instruction: ", ""),
        ("```\n```", ""),
        ("", ""),
    ],
)
def test_parse_instruction(answer, expected):
    assert parse_instruction(answer) == expected


def test_parser_keeps_a_colon_line_that_is_the_instruction():
    # only a line announcing the answer is dropped, not an instruction ending in a colon
    assert parse_instruction("Follow these steps:\n1. Find the concept.\n2. Replace it.") == "Follow these steps:\n1. Find the concept.\n2. Replace it."


def test_unusable_reason():
    assert unusable_reason("") is not None
    assert "fewer than 3" in unusable_reason("Rewrite it")
    assert unusable_reason("Rewrite the query.") is None
    assert unusable_reason("Rewrite it", min_words=2) is None


# answers of the embedded SmolLM2-135M-Instruct to the default meta-prompts
SMOLLM_INIT = (
    "To rewrite a user's text-to-image query, you need to remove all the given concepts from the original query. "
    "This can be done by using the `filter` function.\n\nHere's an example:\n\n```python\nimport image\n\n"
    "def rewrite_query(query):\n    return image.filter_image(query)\n```\n\nIn this example, the `filter_image` function "
    "takes a lambda function."
)
SMOLLM_LOOP = (
    'The instruction is:\n\n"Refine the instruction to make it more specific."\n\nHere\'s the corrected instruction:\n\n'
    '"Refine the instruction to make it more specific."\n\nThe instruction is now:\n\n"Refine the instruction to make it more specific."'
)


def test_real_small_model_answers():
    assert parse_instruction(SMOLLM_INIT) == (
        "To rewrite a user's text-to-image query, you need to remove all the given concepts from the original query. "
        "This can be done by using the `filter` function."
    )
    assert parse_instruction(SMOLLM_LOOP) == "Refine the instruction to make it more specific."
    assert parse_instruction("The instruction is:\nRewrite the query:\nRewrite the query.") == "Rewrite the query"


@pytest.mark.parametrize(
    "text",
    [
        "Rewrite the query.\nOutput the answer in this format:\n<rewrite>",
        "Rewrite the prompt as follows:\n1. Find the concept.\n2. Replace it.",
        "Answer with the following:\nthe rewritten query only.",
    ],
)
def test_instruction_lines_that_look_like_labels_stay(text):
    assert parse_instruction(text) == text


def test_repeated_lines_and_labels_are_removed_once():
    answer = "Rewrite the query.\nKeep the style.\nRewrite the query!\nThe improved instruction:\nKeep the style."
    assert parse_instruction(answer) == "Rewrite the query.\nKeep the style."


SMOLLM_ECHO = (
    "To rewrite a user's query, remove the given concepts.\n\nExample 1 (score 0.00):\n<concept>\nround\n</concept>\n"
    "<query>\na round wooden table\n</query>\n<output>\nTo remove"
)


def test_an_echo_of_the_packed_batch_is_cut():
    assert parse_instruction(SMOLLM_ECHO, echo_fields=("concept", "query", "output")) == "To rewrite a user's query, remove the given concepts."
    # the tags alone (no example header) are cut too, but only those of the named fields
    assert parse_instruction("Remove the concept.\n<query>\na dog\n</query>", echo_fields=("query",)) == "Remove the concept."
    assert parse_instruction("Remove the concept.\n<rewrite>", echo_fields=("query",)) == "Remove the concept.\n<rewrite>"


def test_echoed_history_and_an_unfinished_last_sentence_are_dropped():
    # answers of SmolLM2 in a real fit (promptlearn fit --task ores --llm local)
    echo = "The instruction should be rewritten to fix.\n</instruction>\nscore: 0.02\n\nThe instruction"
    assert parse_instruction(echo, echo_fields=("instruction",)) == "The instruction should be rewritten to fix."
    cut = "Remove the concept from the query. Keep the rest of the scene.\n\nThe"
    assert parse_instruction(cut, truncated=True) == "Remove the concept from the query. Keep the rest of the scene."
    assert parse_instruction(cut) == cut  # a finished answer is kept whole
    assert parse_instruction("Remove the concept from", truncated=True) == "Remove the concept from"
