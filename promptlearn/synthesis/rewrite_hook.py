"""Rewrite a query on the fly with an LLM and a learned instruction (TIN's first stage).

A minimal stand-in: the integrator swaps :func:`rewrite_query` for the optimizer team's rewriter.
"""

from __future__ import annotations

from ..llm.errors import BadResponseError


def rewrite_query(llm, instruction: str, concept: str, query: str) -> str:
    """Ask ``llm`` (a :class:`promptlearn.llm.LLM`) to rewrite ``query`` so it no longer shows ``concept``.

    The instruction is the system message; the user message names the concept and the query.
    Greedy decoding, so the same inputs give the same rewrite (and hit the LLM cache).
    """
    messages = [
        {"role": "system", "content": instruction},
        {"role": "user", "content": f"Concept: {concept}\nQuery: {query}"},
    ]
    text = llm.complete(messages, temperature=0.0, max_tokens=128).text.strip()
    if not text:
        raise BadResponseError(f"the LLM returned an empty rewrite for {query!r}")
    return text
