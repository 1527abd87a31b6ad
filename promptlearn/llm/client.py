"""The LLM client: one object in front of any backend, adding the disk cache, retries with
backoff, bounded concurrency that preserves order, progress and accounting."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import replace
from typing import Any, Mapping, Sequence

from ..progress import progress_bar
from .backend import BatchBackend, ChatBackend
from .cache import CompletionCache, cache_key
from .errors import InvalidRequestError, LLMError
from .retry import RetryPolicy
from .types import Completion, MessagesLike, Request, SamplingParams, make_request
from .usage import Usage

RequestLike = Request | MessagesLike


# Requests in flight at once for chat backends: enough for an optimizer step's validation set and
# next mini-batch to go out in one round; rate limits are handled by retries with Retry-After.
DEFAULT_CONCURRENCY = 16


class LLM:
    """Chat messages in, :class:`Completion` out.

    >>> llm = LLM(backend)                                    # doctest: +SKIP
    >>> llm.complete("Say hi", temperature=0).text            # doctest: +SKIP
    >>> llm.complete_many([req1, req2], concurrency=16)       # doctest: +SKIP

    ``concurrency`` bounds the requests in flight for chat (remote) backends; batch (local)
    backends get at most ``max_batch_size`` requests per engine call instead. Results always
    come back in request order. Identical requests in one batch are sent once.
    """

    def __init__(
        self,
        backend: ChatBackend | BatchBackend,
        *,
        cache: CompletionCache | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        usage: Usage | None = None,
        spec: str | None = None,
    ):
        if concurrency < 1:
            raise InvalidRequestError(f"concurrency must be >= 1, got {concurrency}")
        self.backend = backend
        self.cache = cache
        self.retry = retry if retry is not None else RetryPolicy()
        self.concurrency = concurrency
        self.usage = usage if usage is not None else Usage()
        self.spec = spec or f"{backend.name}/{backend.identity().get('model', '?')}"
        self._identity = dict(backend.identity())
        # a local engine runs one batch at a time, even when several callers share this client
        self._engine_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LLM({self.spec!r})"

    # ---- public, synchronous ------------------------------------------------------------
    def complete(
        self, messages: RequestLike, params: SamplingParams | Mapping[str, Any] | None = None, **overrides: Any
    ) -> Completion:
        """One completion. ``messages`` is a string, a list of ``{"role", "content"}`` dicts or a
        :class:`Request`; ``params``/keyword overrides set temperature, max_tokens, seed, ..."""
        request = self._as_request(messages, params, overrides)
        return self.complete_many([request], progress=False)[0]

    def complete_many(
        self,
        requests: Sequence[RequestLike],
        *,
        params: SamplingParams | Mapping[str, Any] | None = None,
        concurrency: int | None = None,
        progress: bool | str = False,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Many completions, concurrently, in request order.

        With ``return_exceptions=False`` the first :class:`LLMError` is raised (after cancelling
        what is still in flight); with ``True`` failed slots hold their :class:`LLMError`.
        ``progress`` shows a bar (a string sets its label)."""
        prepared = [self._as_request(r, params, {}) for r in requests]
        return _run_sync(
            self.acomplete_many(
                prepared, concurrency=concurrency, progress=progress, return_exceptions=return_exceptions
            )
        )

    # ---- public, asynchronous ------------------------------------------------------------
    async def acomplete(
        self, messages: RequestLike, params: SamplingParams | Mapping[str, Any] | None = None, **overrides: Any
    ) -> Completion:
        request = self._as_request(messages, params, overrides)
        return (await self.acomplete_many([request]))[0]

    async def acomplete_many(
        self,
        requests: Sequence[RequestLike],
        *,
        params: SamplingParams | Mapping[str, Any] | None = None,
        concurrency: int | None = None,
        progress: bool | str = False,
        return_exceptions: bool = False,
    ) -> list[Any]:
        prepared = [self._as_request(r, params, {}) for r in requests]
        keys = [cache_key(self._identity, r) for r in prepared]
        results: dict[str, Any] = {}
        pending: dict[str, Request] = {}
        for key, request in zip(keys, prepared):
            if key in results or key in pending:
                continue
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                results[key] = hit
            else:
                pending[key] = request

        label = progress if isinstance(progress, str) else f"LLM {self.spec}"
        with progress_bar(len(prepared), label, enabled=bool(progress), unit="call") as bar:
            counts = Counter(keys)
            bar.update(len(prepared) - sum(counts[k] for k in pending))

            def done(key: str, value: Any) -> None:
                results[key] = value
                if isinstance(value, Completion):
                    self.usage.record(value)  # on arrival: a call paid for counts even if the batch fails later
                bar.update(counts[key])

            if isinstance(self.backend, BatchBackend):
                await self._complete_batched(pending, done, return_exceptions)
            else:
                await self._complete_concurrent(pending, done, concurrency or self.concurrency, return_exceptions)

        out = []
        recorded = set(pending)  # the first slot of each key sent was recorded by done()
        for key in keys:
            value = results[key]
            if isinstance(value, Completion):
                if key in recorded:
                    recorded.discard(key)
                else:  # a cache hit, or a duplicate answered by the same call: no new cost
                    self.usage.record(value if value.cached else replace(value, cached=True))
            out.append(value)
        return out

    # ---- internals ------------------------------------------------------------------------
    def _as_request(self, item: RequestLike, params: Any, overrides: Mapping[str, Any]) -> Request:
        if isinstance(item, Request):
            if params is None and not overrides:
                return item
            return make_request(item.messages, params or item.params, **overrides)
        return make_request(item, params, **overrides)

    def _store(self, key: str, completion: Completion) -> Completion:
        if self.cache is not None:
            self.cache.put(key, completion)
        return completion

    async def _complete_concurrent(self, pending, done, concurrency: int, return_exceptions: bool) -> None:
        semaphore = asyncio.Semaphore(concurrency)
        backend: ChatBackend = self.backend  # type: ignore[assignment]

        async def one(key: str, request: Request) -> None:
            async with semaphore:
                try:
                    completion = await self.retry.run(lambda: backend.acomplete(request), on_retry=self.usage.record_retry)
                except LLMError as error:
                    self.usage.record_error()
                    if not return_exceptions:
                        raise
                    done(key, error)
                    return
                done(key, self._store(key, completion))

        tasks = [asyncio.create_task(one(k, r)) for k, r in pending.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _complete_batched(self, pending, done, return_exceptions: bool) -> None:
        backend: BatchBackend = self.backend  # type: ignore[assignment]
        items = list(pending.items())
        size = max(1, int(backend.max_batch_size))
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            requests = [r for _, r in chunk]
            try:
                completions = await self.retry.run(
                    lambda: asyncio.to_thread(self._run_engine, backend, requests), on_retry=self.usage.record_retry
                )
            except LLMError as error:
                self.usage.record_error()
                if not return_exceptions:
                    raise
                for key, _ in chunk:
                    done(key, error)
                continue
            if len(completions) != len(chunk):
                raise LLMError(
                    f"{backend.name} returned {len(completions)} completions for {len(chunk)} requests",
                    backend=backend.name,
                )
            for (key, _), completion in zip(chunk, completions):
                done(key, self._store(key, completion))

    def _run_engine(self, backend: BatchBackend, requests: list[Request]) -> list[Completion]:
        with self._engine_lock:
            return backend.complete_batch(requests)

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
        if self.cache is not None:
            self.cache.close()


def _run_sync(coro):
    """Run a coroutine to completion from synchronous code, also when an event loop is already
    running in this thread (a notebook): then it runs in a worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the calling thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="promptlearn-llm")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
