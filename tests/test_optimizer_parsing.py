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
        ("```\n```", "```\n```"),
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
