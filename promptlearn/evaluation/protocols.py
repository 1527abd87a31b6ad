"""The seams between the harness and the parts it drives: an image generator and a query
rewriter. The harness knows them only through these Protocols; ``adapters.py`` fits the
project's Synthesizer and Predictor to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from ..errors import InputError, PromptlearnError
from ..tasks.base import Example
from .cells import Rewrite


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make. ``method`` names a method of the registry
    (:mod:`promptlearn.synthesis.methods`); ``rewrite`` is set for the methods that rewrite,
    ``switch_step`` (S in sampler steps, set by the method's switch policy) for those that switch."""

    method: str
    query: str
    concept: str
    seed: int
    rewrite: str | None = None
    switch_step: int | None = None


@runtime_checkable
class ImageGenerator(Protocol):
    """Makes one image (a PIL image) per request; the same request gives the same image."""

    def identity(self) -> dict[str, Any]:
        """Model, steps, guidance, size, S: recorded in the run's config and report."""
        ...

    def generate(self, request: GenerationRequest) -> Any: ...


@runtime_checkable
class QueryRewriter(Protocol):
    """Rewrites each row's query with an instruction; a failed row is a :class:`Rewrite` with
    ``error`` set, never an exception for the whole batch."""

    def identity(self) -> dict[str, Any]: ...

    def rewrite(self, rows: Sequence[Example], instruction: str) -> list[Rewrite]: ...
    # a rewriter that draws rewrites per image also takes ``seed=`` (see PredictorRewriter)


def check_rewrite_methods(
    needs: Iterable[tuple[str, str]], instructions: Mapping[str, str], rewriter: QueryRewriter | None
) -> None:
    """Refuse a method that rewrites with an instruction when there is no LLM rewriter or no such
    instruction; ``needs`` holds (method name, name of the instruction it rewrites with)."""
    for method, instruction in needs:
        if rewriter is None:
            raise InputError(f"method {method!r} needs an LLM rewriter ({{rewriter}})", arguments="rewriter")
        if not instructions.get(instruction, "").strip():
            raise InputError(f"method {method!r} needs the {instruction} instruction ({{instructions}})", arguments="instructions")


def rewrite_rows(rewriter: QueryRewriter, rows: Sequence[Example], instruction: str, *, seed: int | None = None) -> list[Rewrite]:
    """``rewriter.rewrite(rows, instruction)`` (with ``seed=`` for a per-image draw), refusing an
    answer without one rewrite per row."""
    rewrites = list(rewriter.rewrite(rows, instruction) if seed is None else rewriter.rewrite(rows, instruction, seed=seed))
    if len(rewrites) != len(rows):
        raise PromptlearnError(f"the rewriter returned {len(rewrites)} rewrites for {len(rows)} rows")
    return rewrites
