"""Where units of work run: in this process (``local``, the default) or on Ray actors (``ray``).

The benchmark's cells, the text stage's chunks and ``rewrite --input``'s chunks are the same
units on both executors; only where they run changes. The caller keeps the store: results come
back to this process (in completion order) and are recorded there, so the run folder, its lock,
its resume rules and its files are those of the local path.

A *worker* is what a unit needs loaded (a diffusion model and a judge, an LLM client and a
rewriter): ``load()`` builds it once per worker (once in this process, once per Ray actor), and
``fn(worker, item)`` does one unit. A unit that raises a :class:`PromptlearnError` (an
explained failure, such as a rejected API key: every unit would fail alike) stops the run with
that error, on both executors. A unit that raises anything else (a CUDA error, a dropped
connection) is tried again, up to ``retries`` more times, then comes back as failed with its
one-line error; a Ray actor that dies (killed, out of
memory, its node lost) is replaced and its units are given to the others again (bounded the
same way, so a unit that kills every worker it touches fails instead of looping).

>>> with LocalExecutor().start(lambda: 10) as pool:
...     [o.value for o in pool.map(lambda worker, item: worker + item, [1, 2])]
[11, 12]
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from .errors import InputError, PromptlearnError

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
DEFAULT_RETRIES = 2
"""Further attempts of a unit that raised or whose worker died, before it is recorded failed."""

LOCAL_AGENT_TIMEOUT_MS = "120000"
"""How long a local Ray waits for its agents to start (Ray's own default fails on a loaded 2-core machine)."""

RAY_MISSING = "{executor} ray needs Ray, which is not installed: pip install 'promptlearn[ray]'"


@dataclass(frozen=True)
class Outcome:
    """One unit's end: ``value`` (what ``fn`` returned) or ``error`` (its last failure, one line)
    after ``attempts`` tries; ``index`` is the unit's position in the items given to ``map``."""

    index: int
    value: Any = None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


class Pool(Protocol):
    """Started workers; a context manager that stops them."""

    workers: int

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(worker)`` on one worker (e.g. the loaded model's identity)."""
        ...

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        """Every item as ``fn(worker, item)``, outcomes in completion order."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Pool": ...

    def __exit__(self, *exc: object) -> None: ...


class Executor(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """What the run's options record (never the fingerprint: both executors make the same cells)."""
        ...

    def start(self, load: Callable[[], Any]) -> Pool: ...


def _error_text(exc: BaseException) -> str:
    from .evaluation.cells import error_text

    return error_text(exc)


# -- local -------------------------------------------------------------------------------------


class LocalExecutor:
    """Units run one after another in this process, with the same retry rule as on Ray."""

    name = "local"

    def __init__(self, *, retries: int = DEFAULT_RETRIES):
        if retries < 0:
            raise InputError(f"{{retries}} must be >= 0, got {retries}", arguments="retries")
        self.retries = retries

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": 1}

    def start(self, load: Callable[[], Any]) -> "_LocalPool":
        return _LocalPool(load(), self.retries)


class _LocalPool:
    workers = 1

    def __init__(self, worker: Any, retries: int):
        self.worker = worker
        self.retries = retries

    def call(self, fn: Callable[[Any], Any]) -> Any:
        return fn(self.worker)

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        for index, item in enumerate(items):
            for attempt in range(1, self.retries + 2):
                try:
                    value = fn(self.worker, item)
                except PromptlearnError:  # explained: every unit would fail alike
                    raise
                except Exception as exc:  # retried, then reported as the unit's failure
                    if attempt > self.retries:
                        yield Outcome(index, error=_error_text(exc), attempts=attempt)
                    else:
                        logger.info("unit %d failed (attempt %d): %s; trying again", index, attempt, _error_text(exc))
                    continue
                yield Outcome(index, value=value, attempts=attempt)
                break

    def close(self) -> None:
        self.worker = None

    def __enter__(self) -> "_LocalPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Preloaded:
    """A ``load`` for what the caller already made: returns ``value`` (for the local executor;
    a Ray actor would get a pickled copy)."""

    value: Any

    def __call__(self) -> Any:
        return self.value


# -- ray ---------------------------------------------------------------------------------------


def import_ray() -> Any:
    """The ``ray`` module, or one :class:`InputError` line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(RAY_MISSING, arguments="executor") from None
    return ray


class _Worker:
    """The Ray actor: holds one loaded worker and runs units on it."""

    def __init__(self, load: Callable[[], Any]):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        self.worker, self.error = None, None
        try:
            self.worker = load()
        except Exception as exc:  # said by ready(), in one line (Ray's own error is a traceback)
            self.error = _error_text(exc)

    def ready(self) -> str | None:
        """None once loaded; else why the load failed."""
        return self.error

    def call(self, fn: Callable[[Any], Any]) -> Any:
        self._check()
        return fn(self.worker)

    def run(self, fn: Callable[[Any, Any], Any], item: Any) -> Any:
        self._check()
        return fn(self.worker, item)

    def _check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the worker could not load: {self.error}")


class RayExecutor:
    """Units run on ``workers`` Ray actors, each with ``cpus_per_worker`` CPUs and
    ``gpus_per_worker`` GPUs (a fraction shares a GPU). ``address`` (or ``RAY_ADDRESS``) joins a
    running cluster; without it a local Ray is started on this machine (and stopped after).
    ``inflight`` units are queued per actor so an actor never waits for the next one."""

    name = "ray"

    def __init__(
        self,
        *,
        workers: int = 2,
        gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0,
        address: str | None = None,
        retries: int = DEFAULT_RETRIES,
        inflight: int = 2,
        local_cpus: int | None = None,
    ):
        if workers < 1:
            raise InputError(f"{{workers}} must be >= 1, got {workers}", arguments="workers")
        if gpus_per_worker < 0:
            raise InputError(f"{{gpus_per_worker}} must be >= 0, got {gpus_per_worker}", arguments="gpus_per_worker")
        if cpus_per_worker < 0:
            raise InputError(f"{{cpus_per_worker}} must be >= 0, got {cpus_per_worker}", arguments="cpus_per_worker")
        if retries < 0:
            raise InputError(f"{{retries}} must be >= 0, got {retries}", arguments="retries")
        import_ray()  # one clear line now, before any model loads
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.retries = retries
        self.inflight = max(1, inflight)
        self.local_cpus = local_cpus

    def describe(self) -> dict[str, Any]:
        return {"executor": "ray", "workers": self.workers, "gpus_per_worker": self.gpus_per_worker,
                "cpus_per_worker": self.cpus_per_worker, "ray_address": self.address or "local"}

    def start(self, load: Callable[[], Any]) -> "_RayPool":
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, logging_level=logging.WARNING)
            else:
                start_local_ray(self.local_cpus or max(1, os.cpu_count() or 1))
            started = True
        try:
            return _RayPool(self, load, started)
        except BaseException:
            if started:
                ray.shutdown()
            raise


def start_local_ray(cpus: int, *, attempts: int = 2, **options: Any) -> None:
    """Start a local Ray with ``cpus`` CPUs (no dashboard), trying again once: on a loaded machine
    Ray's own start can time out waiting for its agents."""
    ray = import_ray()
    os.environ.setdefault("RAY_agent_register_timeout_ms", LOCAL_AGENT_TIMEOUT_MS)
    options = {"include_dashboard": False, "logging_level": logging.WARNING, **options}
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=cpus, **options)
            return
        except Exception as exc:  # Ray raises a bare Exception when its node does not come up
            ray.shutdown()
            if attempt == attempts:
                raise PromptlearnError(f"a local Ray did not start: {_ray_cause(exc)}") from None
            logger.warning("a local Ray did not start (%s); trying again", _ray_cause(exc))


class _RayPool:
    def __init__(self, executor: RayExecutor, load: Callable[[], Any], started: bool):
        self.ray = import_ray()
        self.executor = executor
        self.workers = executor.workers
        self._started = started
        self._cls = self.ray.remote(num_cpus=executor.cpus_per_worker, num_gpus=executor.gpus_per_worker, max_restarts=0)(_Worker)
        self._load = self.ray.put(load)
        self.replaced = 0
        self.actors = [self._cls.remote(self._load) for _ in range(executor.workers)]
        self._wait_ready(self.actors)

    def _wait_ready(self, actors: list[Any]) -> None:
        """Wait until the actors have loaded their worker; a load that fails is one clear error."""
        try:
            errors = [e for e in self.ray.get([a.ready.remote() for a in actors]) if e is not None]
        except Exception as exc:  # an actor that could not start at all
            errors = [_ray_cause(exc)]
        if errors:
            self.close()
            raise PromptlearnError(f"a Ray worker could not load: {errors[0]}")

    def call(self, fn: Callable[[Any], Any]) -> Any:
        return self.ray.get(self.actors[0].call.remote(fn))

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        fn_ref = ray.put(fn)
        queue: deque[tuple[int, Any, int]] = deque((i, item, 0) for i, item in enumerate(items))
        running: dict[Any, tuple[Any, int, Any, int]] = {}  # ref -> (actor, index, item, attempts so far)
        load: dict[Any, int] = {actor: 0 for actor in self.actors}
        # an actor that dies is replaced; more deaths than this in one map is not a flaky worker
        max_replacements = self.workers * (self.executor.retries + 1)
        replaced_here = 0

        def fail_or_requeue(index: int, item: Any, attempts: int, error: str) -> Outcome | None:
            if attempts > self.executor.retries:
                return Outcome(index, error=error, attempts=attempts)
            logger.info("unit %d failed (attempt %d): %s; trying again", index, attempts, error)
            queue.appendleft((index, item, attempts))
            return None

        while queue or running:
            # keep every live actor busy with up to `inflight` units
            for actor in list(load):
                while queue and load[actor] < self.executor.inflight:
                    index, item, attempts = queue.popleft()
                    ref = actor.run.remote(fn_ref, item)
                    running[ref] = (actor, index, item, attempts)
                    load[actor] += 1
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                actor, index, item, attempts = running.pop(ref)
                if actor in load:
                    load[actor] -= 1
                try:
                    value = ray.get(ref)
                except RayActorError as exc:  # the worker died: its units go to the others
                    if actor in load:
                        del load[actor]
                        self.actors.remove(actor)
                        replaced_here += 1
                        self.replaced += 1
                        if replaced_here > max_replacements:
                            raise PromptlearnError(f"Ray workers keep dying ({replaced_here} replaced): {_ray_cause(exc)}") from None
                        logger.warning("a Ray worker died (%s); starting another and redoing its units", _ray_cause(exc))
                        fresh = self._cls.remote(self._load)
                        self.actors.append(fresh)
                        load[fresh] = 0
                    outcome = fail_or_requeue(index, item, attempts + 1, f"worker died: {_ray_cause(exc)}")
                except RayTaskError as exc:  # the unit raised
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, PromptlearnError):  # explained: stops the run, as locally
                        raise cause from None
                    outcome = fail_or_requeue(index, item, attempts + 1, _ray_cause(exc))
                else:
                    outcome = Outcome(index, value=value, attempts=attempts + 1)
                if outcome is not None:
                    yield outcome

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        self.actors = []
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
            self._started = False

    def __enter__(self) -> "_RayPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ray_cause(exc: BaseException) -> str:
    """The one line of a Ray error: the user's exception inside a task error, else Ray's own."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        return _error_text(cause)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- choosing one ------------------------------------------------------------------------------


def make_executor(
    name: str = "local",
    *,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    address: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> LocalExecutor | RayExecutor:
    """The executor named ``name`` (``local`` or ``ray``). The Ray settings (``workers``,
    ``gpus_per_worker``, ``address``) are refused with ``local``, which runs one worker here."""
    if name not in EXECUTORS:
        raise InputError(f"unknown {{executor}} {name!r}; choose {' or '.join(EXECUTORS)}", arguments="executor")
    if name == "local":
        given = [arg for arg, value in (("workers", workers), ("gpus_per_worker", gpus_per_worker), ("ray_address", address)) if value is not None]
        if given:
            raise InputError("{" + given[0] + "} is a setting of the ray executor ({executor} ray)", arguments=(given[0], "executor"))
        return LocalExecutor(retries=retries)
    return RayExecutor(workers=workers or 2, gpus_per_worker=gpus_per_worker or 0.0, address=address, retries=retries)


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` cut into lists of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def iter_outcomes(pool: Pool, fn: Callable[[Any, Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Outcome]]:
    """``pool.map`` with each outcome paired with its item."""
    items = list(items)
    for outcome in pool.map(fn, items):
        yield items[outcome.index], outcome
