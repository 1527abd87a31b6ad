"""The two shapes a backend can take. The :class:`~promptlearn.llm.client.LLM` client adds
cache, retries, bounded concurrency and accounting around either one."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from .types import Completion, Request


@runtime_checkable
class ChatBackend(Protocol):
    """A backend that answers one request at a time (a remote API). The client runs many
    requests concurrently, so :meth:`acomplete` must be safe to await concurrently."""

    name: str

    def identity(self) -> Mapping[str, Any]:
        """What, besides the request, decides the answer: backend, model, a secret-free API base.
        Goes into the cache key, so it must never hold credentials."""
        ...

    async def acomplete(self, request: Request) -> Completion: ...


@runtime_checkable
class BatchBackend(Protocol):
    """A backend that generates many requests in one call (a local engine: transformers, vLLM).
    The client hands it at most ``max_batch_size`` requests at a time, from one worker thread."""

    name: str
    max_batch_size: int

    def identity(self) -> Mapping[str, Any]: ...

    def complete_batch(self, requests: Sequence[Request]) -> list[Completion]: ...


Backend = ChatBackend | BatchBackend
