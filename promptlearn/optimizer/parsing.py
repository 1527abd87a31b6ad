"""Turning an LLM's answer to a meta-prompt (p_init, p_opt) into an instruction.

Models wrap their answer: "Here is the improved instruction:", code fences, quotes, an echoed
``<instruction>`` field, a closing "Let me know if ...". :func:`parse_instruction` removes that
wrapping and nothing else; it never adds text. What it returns may still be unusable (empty, a
few words): :func:`unusable_reason` says so, and the learner decides what to do (see
:mod:`promptlearn.optimizer.learner`).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_FIELD = re.compile(r"<(instruction|new_instruction|improved_instruction)>\s*(.*?)\s*(?:</\1>|\Z)", re.DOTALL | re.IGNORECASE)
_LABEL = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:the\s+)?(?:new|improved|better|revised|updated|final|refined|initial)?\s*"
    r"instruction(?:\s+\d+)?\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
# A first line that only announces the answer: "Sure! Here is an improved instruction:".
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course|absolutely)\b[^\n]*?[.!,:]?\s*)?"
    r"(?:here(?:'s| is| are)|below is|this is|i (?:would|will|propose|suggest)|my )[^\n]*:\s*$",
    re.IGNORECASE,
)
_COURTESY = re.compile(r"^\s*(?:sure|okay|ok|certainly|of course|absolutely)[!.,]*\s*$", re.IGNORECASE)
_CLOSING = re.compile(
    r"^\s*(?:let me know|i hope|feel free|this (?:new |improved |revised )?instruction (?:should|will)|"
    r"hope this helps)\b.*$",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}


def parse_instruction(text: str) -> str:
    """The instruction inside an LLM's answer to p_init or p_opt, without preamble, label,
    code fence, quotes or closing remark. Returns "" when nothing is left."""
    text = (text or "").replace("\r\n", "\n").strip()
    field = _FIELD.search(text)
    if field and field.group(2).strip():
        text = field.group(2).strip()
    fence = _FENCE.search(text)
    if fence and fence.group(1).strip():
        text = fence.group(1).strip()
    lines = text.split("\n")
    while lines and (not lines[0].strip() or _COURTESY.match(lines[0]) or _PREAMBLE.match(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _CLOSING.match(lines[-1])):
        lines.pop()
    text = "\n".join(lines).strip()
    text = _LABEL.sub("", text, count=1).strip()
    text = _strip_quotes(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


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
