"""The chat-turn history of a ``chat`` history policy (the ORES paper's).

The conversation is a list of ``{"role", "content"}`` messages stored in the run's state. A call
sends ``messages + [its prompt]``; afterwards :func:`append_turn` first cuts a conversation that
holds ``limit`` or more messages to its first ``keep_first`` plus last ``keep_last`` messages and
then appends the prompt and the answer as a user/assistant pair. With the paper's 6 / 2 / 2 a
conversation grows 2 -> 4 -> 6 and then stays at 6: p_init and p_0, the previous turn, this one.
"""

from __future__ import annotations

from typing import Any

from .recipes import HistoryPolicy

Messages = list[dict[str, Any]]


def append_turn(messages: Messages, prompt: str, answer: str, policy: HistoryPolicy) -> Messages:
    """The conversation after one call: cut (when it reached ``policy.limit``), then the pair."""
    kept = list(messages)
    if len(kept) >= policy.limit:
        kept = kept[: policy.keep_first] + kept[len(kept) - policy.keep_last :]
    return kept + [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


__all__ = ["append_turn"]
