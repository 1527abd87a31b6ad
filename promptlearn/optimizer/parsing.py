"""Turning an LLM's answer to a meta-prompt (p_init, p_opt) into an instruction.

Models wrap their answer: "Here is the improved instruction:", code fences, quotes, an echoed
``<instruction>`` field, a closing "Let me know if ..." or "This instruction ensures ...".
Small models also loop, repeating a line or a labelled block several times. The parser removes
that wrapping and repetition and nothing else; it never adds text. What it returns may still
be unusable (empty, a few words): :func:`unusable_reason` says so, and the learner decides what
to do (see :mod:`promptlearn.optimizer.learner`).
"""

from __future__ import annotations

import re
from typing import Sequence

_FIELD = re.compile(r"<(instruction|new_instruction|improved_instruction)>\s*(.*?)\s*(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_LABEL_PREFIX = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:the\s+)?(?:new|improved|better|revised|updated|final|refined|initial|corrected)?\s*"
    r"instruction(?:\s+\d+)?\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*(?=\S)",
    re.IGNORECASE,
)
_COURTESY = re.compile(r"^\s*(?:sure|okay|ok|certainly|of course|absolutely|great)\b[^\n]{0,40}?[!.,]?\s*$", re.IGNORECASE)
# Closing or explaining remarks: everything from the first such line on is dropped.
_CLOSING = re.compile(
    r"^\s*(?:let me know|i hope|hope this|feel free|note:|explanation:|in this example|this (?:new |improved |revised |updated )?"
    r"instruction (?:should|will|ensures|is designed|helps|makes|provides|clearly))\b",
    re.IGNORECASE,
)
# "Sure! Here is ...:", "Below is ...:", "I suggest ...:", "My answer:".
_ANNOUNCE = re.compile(
    r"^(?:(?:sure|okay|ok|certainly|of course|absolutely|great)\b[^\n]*?[.!,]\s*)?"
    r"(?:here(?:'s| is| are| you go)|below is|this is|i (?:would|will|propose|suggest)|my )[^\n]*:$",
    re.IGNORECASE,
)
# A label alone: "Improved instruction:", "The instruction is now:", "Answer:", "Prompt 2:".
_BARE_LABEL = re.compile(
    r"^(?:the\s+)?(?:(?:new|improved|better|revised|updated|final|refined|initial|corrected|rewritten)\s+)?"
    r"(?:instruction|prompt|answer|version|result|output)s?(?:\s+\d+)?(?:\s+is(?:\s+now)?)?\s*\**:$",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}


def parse_instruction(text: str, *, echo_fields: Sequence[str] = (), truncated: bool = False) -> str:
    """The instruction inside an LLM's answer to p_init or p_opt, without preamble, labels,
    code fences, quotes, repeated lines or closing remarks. Returns "" when nothing is left.

    A small model often goes on to copy the meta-prompt's examples: the answer is cut at the
    first line that opens or closes one of the delimited ``echo_fields`` (``<query>``,
    ``</output>``, ...), starts a packed example ("Example 2 (score 0.50):") or is a history
    score line ("score: 0.25"). ``truncated`` (the answer hit max_tokens) drops the unfinished
    sentence at the end, when a finished one comes before it."""
    echo = _echo_pattern(echo_fields)
    text = (text or "").replace("\r\n", "\n").strip()
    field = _FIELD.search(text)
    if field and field.group(2).strip():
        text = field.group(2).strip()
    text = _unfence(text)
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.split("\n"):
        if not kept and (_COURTESY.match(line) or _is_label(line)):
            continue  # preamble before the instruction
        if kept and _CLOSING.match(line) or echo.match(line):
            break
        if _is_label(line, mid_text=True):
            continue  # a label repeated in a loop: "The instruction is now:"
        key = _normalized(line)
        if key and key in seen:
            continue  # a repeated line
        if key:
            seen.add(key)
        kept.append(line.rstrip())
    while kept and (not kept[-1].strip() or _is_label(kept[-1])):
        kept.pop()  # a label announcing what was removed ("Here's an example:" before a fence)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    text = _LABEL_PREFIX.sub("", text, count=1).strip()
    if truncated:
        text = _drop_unfinished_sentence(text)
    return _strip_quotes(text).rstrip(":").strip()


def _drop_unfinished_sentence(text: str) -> str:
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[-1]] if ends else text


def _echo_pattern(fields: Sequence[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(name) for name in fields)
    tags = rf"|</?(?:{names})>\s*$" if names else ""
    return re.compile(rf"^\s*(?:example \d+ \(score [\d.]+\):|score: [\d.]+\s*${tags})", re.IGNORECASE)


def _unfence(text: str) -> str:
    """The inside of the first code fence when only a preamble comes before it; otherwise the
    text without its fenced blocks (code or examples around a prose answer)."""
    fence = _FENCE.search(text)
    if fence is None:
        return text
    before = [line for line in text[: fence.start()].split("\n") if line.strip()]
    if fence.group(1).strip() and all(_COURTESY.match(line) or _is_label(line) for line in before):
        return fence.group(1).strip()
    without = _FENCE.sub("", text).strip()
    return without


def _is_label(line: str, *, mid_text: bool = False) -> bool:
    """A line that only announces what follows: "Here is the improved instruction:", "The
    instruction is now:", "**Answer:**". Inside the text only announcements of "the
    instruction" count, so that an instruction's own "Rewrite the prompt as follows:" or
    "Output the answer in this format:" stays."""
    stripped = line.strip().strip("*#").strip()
    if not stripped.endswith(":") or len(stripped.split()) > 12:
        return False
    if not (_ANNOUNCE.match(stripped) or _BARE_LABEL.match(stripped)):
        return False
    return not mid_text or bool(re.search(r"\binstructions?\b", stripped, re.IGNORECASE))


def _normalized(line: str) -> str:
    return re.sub(r"[\W_]+", " ", line).strip().casefold()


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        inner = text[1:-1].strip()
        if text[0] in inner:  # "a" and "b": not one quoted block
            break
        text = inner
    return text


def unusable_reason(instruction: str, *, min_words: int = 3) -> str | None:
    """Why a parsed instruction cannot be used, or None when it can."""
    if not instruction.strip():
        return "the answer is empty once preamble, fences and quotes are removed"
    words = len(instruction.split())
    if words < min_words:
        return f"the answer has {words} word(s), fewer than {min_words}: {instruction!r}"
    return None
