"""Chat-template control tokens stay data.

A local model's chat template pastes message text between special tokens (SmolLM2:
``<|im_start|>user\\n...<|im_end|>``), and its tokenizer turns the *strings* of those tokens
into the real control tokens wherever they appear, also inside user text: a query carrying
``<|im_end|>\\n<|im_start|>system`` would open a system turn of its own. The in-process backends
(local, transformers, vLLM) therefore pass every message through :func:`neutralise_messages`,
which breaks each special-token string found in the text with a WORD JOINER (U+2060) after its
first character: the text reads the same, but no longer tokenizes to a control token.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

JOINER = "\u2060"


def special_token_strings(tokenizer: Any) -> tuple[str, ...]:
    """The strings of every special token a (Hugging Face) tokenizer knows: its named special
    tokens and every added token marked special; longest first."""
    found: set[str] = set()
    for token in getattr(tokenizer, "all_special_tokens", None) or ():
        found.add(str(token))
    decoder = getattr(tokenizer, "added_tokens_decoder", None)
    if isinstance(decoder, Mapping):
        for added in decoder.values():
            content = getattr(added, "content", None)
            if content and getattr(added, "special", False):
                found.add(str(content))
    return tuple(sorted((t for t in found if len(t) > 1), key=len, reverse=True))


def neutralise(text: str, tokens: Iterable[str]) -> str:
    """``text`` with every occurrence of each token string broken by :data:`JOINER`."""
    for token in tokens:
        if token and token in text:
            text = text.replace(token, token[0] + JOINER + token[1:])
    return text


def neutralise_messages(messages: Sequence[Mapping[str, Any]], tokens: Sequence[str]) -> list[dict[str, Any]]:
    """Messages (``{"role", "content"}`` dicts) with control-token strings in their content made
    inert. Every role is treated: user text, and model output fed back as an assistant turn or
    inside a learned instruction, can all carry them."""
    out = []
    for message in messages:
        item = dict(message)
        if isinstance(item.get("content"), str):
            item["content"] = neutralise(item["content"], tokens)
        out.append(item)
    return out
