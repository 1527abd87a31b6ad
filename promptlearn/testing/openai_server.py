"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` like ``vllm serve`` would, after a configurable
latency, with text from a reply function, and it can be scripted to fail: each request takes
the next :class:`Fault` from a queue (429 with Retry-After, 500, 503, 401, a reply slower than
the client's timeout, malformed JSON, empty content, ...). Every request is logged, so a test
can assert the exact sequence of calls a client made.

>>> from promptlearn.testing.openai_server import Fault, OpenAIServer
>>> with OpenAIServer(latency=0.05) as server:                          # doctest: +SKIP
...     server.inject(Fault.rate_limit(retry_after=0.2), Fault.server_error())
...     llm = load_llm("openai/test", api_base=server.url)
...     llm.complete("hi").text          # 429, then 500, then "echo: hi"
...     [r.messages for r in server.requests]

Standard library only (``http.server.ThreadingHTTPServer`` in a background thread): every
request has its own thread, and latencies are slept without any shared lock, so concurrent
requests overlap as they would on a real server.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping, Sequence

ReplyFn = Callable[[list[dict[str, Any]], dict[str, Any]], str]
"""``reply(messages, params) -> text``: messages as sent, params = the other body fields."""

LatencyFn = Callable[[list[dict[str, Any]], dict[str, Any]], float]

FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "unauthorized",
    "slow",
    "malformed_json",
    "empty_content",
    "null_content",
    "no_choices",
    "context_window",
)


def mixed_faults(slow_seconds: float = 3.0) -> tuple["Fault", ...]:
    """One of every transient fault a real server or gateway shows, for random injection
    (``OpenAIServer(fault_rate=...)``): 429 with Retry-After, 500, a reply slower than a client
    timeout below ``slow_seconds``, malformed JSON, empty and null content, no choices."""
    return (
        Fault.rate_limit(retry_after=0.05),
        Fault.server_error(500),
        Fault.slow(slow_seconds),
        Fault.malformed_json(),
        Fault.empty_content(),
        Fault.null_content(),
        Fault.no_choices(),
    )


def echo_reply(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The default reply: ``"echo: <content of the last message>"`` (deterministic)."""
    return f"echo: {messages[-1].get('content', '') if messages else ''}"


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build with the class methods."""

    kind: str
    status: int = 200
    retry_after: float | None = None
    retry_after_http_date: bool = False
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")

    @classmethod
    def rate_limit(cls, retry_after: float | None = None, *, http_date: bool = False) -> "Fault":
        """HTTP 429; ``retry_after`` seconds go into a Retry-After header (as an HTTP date
        when ``http_date``, which has one-second resolution)."""
        return cls("rate_limit", status=429, retry_after=retry_after, retry_after_http_date=http_date)

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = None) -> "Fault":
        """HTTP 5xx (500 by default; 503 for "service unavailable")."""
        if not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, got {status}")
        return cls("server_error", status=status, retry_after=retry_after)

    @classmethod
    def unavailable(cls, retry_after: float | None = None) -> "Fault":
        return cls.server_error(503, retry_after)

    @classmethod
    def unauthorized(cls, status: int = 401) -> "Fault":
        """HTTP 401 (or 403) with OpenAI's "invalid_api_key" error body."""
        return cls("unauthorized", status=status)

    @classmethod
    def slow(cls, seconds: float) -> "Fault":
        """Answer normally, but only after ``seconds`` more (to exceed the client's timeout)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def malformed_json(cls) -> "Fault":
        """HTTP 200 whose body is not valid JSON."""
        return cls("malformed_json")

    @classmethod
    def empty_content(cls) -> "Fault":
        """HTTP 200 with a choice whose content is ``""``."""
        return cls("empty_content")

    @classmethod
    def null_content(cls) -> "Fault":
        """HTTP 200 with a choice whose content is ``null``."""
        return cls("null_content")

    @classmethod
    def no_choices(cls) -> "Fault":
        """HTTP 200 with ``"choices": []``."""
        return cls("no_choices")

    @classmethod
    def context_window(cls) -> "Fault":
        """HTTP 400 with OpenAI's ``context_length_exceeded`` error."""
        return cls("context_window", status=400)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. ``params`` holds every body field but
    ``messages`` (model, temperature, max_tokens, seed, stop, ...); ``fault`` is the fault
    it was answered with, if any; ``api_key`` is the bearer token the client sent."""

    index: int
    path: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    api_key: str | None
    fault: Fault | None
    received_at: float = field(repr=False)


class OpenAIServer:
    """An OpenAI-compatible chat server in a background thread; see the module docstring.

    ``latency`` is seconds per request, or ``latency(messages, params) -> seconds``;
    ``reply(messages, params) -> str`` makes the answer text (default :func:`echo_reply`).
    ``port=0`` takes a free port. Use as a context manager, or call :meth:`start` and
    :meth:`stop`. All methods are thread-safe.
    """

    def __init__(
        self,
        *,
        latency: float | LatencyFn = 0.0,
        reply: ReplyFn | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "test",
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        fault_mix: Sequence[Fault] | None = None,
    ):
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {fault_rate}")
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_mix = tuple(fault_mix) if fault_mix is not None else mixed_faults()
        self._fault_rng = random.Random(fault_seed)
        self.reply = reply if reply is not None else echo_reply
        self.model = model
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        """The most requests this server was answering at the same time."""

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "OpenAIServer":
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _HTTPServer((self._host, self._port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping (latency, slow faults) are woken and dropped."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() or use it in a with block")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. ``http://127.0.0.1:54321/v1`` (pass it as ``api_base``)."""
        return f"http://{self._host}:{self.port}/v1"

    # ---- scripting and inspection -------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        """Queue faults; each request (in arrival order) takes the next one, if any."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the log of every chat request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the request log, queued faults and the in-flight peak."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self.max_in_flight = 0

    # ---- called from handler threads -----------------------------------------------------------
    def _admit(self, path: str, body: Mapping[str, Any], api_key: str | None) -> RecordedRequest:
        messages = list(body.get("messages") or [])
        params = {k: v for k, v in body.items() if k != "messages"}
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self.fault_rate > 0 and self._fault_rng.random() < self.fault_rate:
                fault = self._fault_rng.choice(self.fault_mix)
            record = RecordedRequest(len(self._requests), path, messages, params, api_key, fault, time.monotonic())
            self._requests.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return record

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep without holding any lock; False when the server is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _latency_for(self, record: RecordedRequest) -> float:
        latency = self.latency
        return float(latency(record.messages, record.params) if callable(latency) else latency)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is normal here; anything else is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # headers and body leave in separate writes; with Nagle's algorithm on, the body would wait
    # for the client's delayed ACK (~40 ms) on every kept-alive request
    disable_nagle_algorithm = True
    server_state: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        return

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            model = self.server_state.model
            self._send_json(200, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "test"}]})
        else:
            self._send_json(404, _error_body(f"no route {self.path}", "not_found_error", None))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, _error_body(f"no route {self.path}", "not_found_error", None))
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_json(400, _error_body("body must be a JSON object with a 'messages' list", "invalid_request_error", None))
            return
        auth = self.headers.get("Authorization") or ""
        api_key = auth[len("Bearer ") :] if auth.startswith("Bearer ") else (auth or None)
        state = self.server_state
        record = state._admit(self.path, body, api_key)
        try:
            self._answer(state, record)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing left to tell it
        finally:
            state._release()

    def _answer(self, state: OpenAIServer, record: RecordedRequest) -> None:
        fault = record.fault
        delay = state._latency_for(record) + (fault.seconds if fault is not None and fault.kind == "slow" else 0.0)
        if not state._sleep(delay):
            self.close_connection = True
            return
        kind = fault.kind if fault is not None else None
        if kind == "rate_limit":
            self._send_json(429, _error_body("Rate limit reached (test server)", "rate_limit_error", "rate_limit_exceeded"), _retry_after(fault))
        elif kind == "server_error":
            self._send_json(fault.status, _error_body(f"server error {fault.status} (test server)", "server_error", None), _retry_after(fault))
        elif kind == "unauthorized":
            # echoes the key, as some gateways do: a client must scrub it from what it prints
            said = f": {record.api_key}" if record.api_key else ""
            self._send_json(fault.status, _error_body(f"Incorrect API key provided{said} (test server)", "invalid_request_error", "invalid_api_key"))
        elif kind == "context_window":
            message = "This model's maximum context length is 8 tokens. However, your messages resulted in 9 tokens."
            self._send_json(400, _error_body(message, "invalid_request_error", "context_length_exceeded"))
        elif kind == "malformed_json":
            self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ', "application/json")
        else:
            text = state.reply(record.messages, record.params)
            content: str | None = {"empty_content": "", "null_content": None}.get(kind, text)  # type: ignore[arg-type]
            self._send_json(200, _completion_body(record, content, no_choices=kind == "no_choices"))

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _retry_after(fault: Fault) -> dict[str, str]:
    if fault.retry_after is None:
        return {}
    if fault.retry_after_http_date:
        return {"Retry-After": formatdate(time.time() + fault.retry_after, usegmt=True)}
    return {"Retry-After": f"{fault.retry_after:g}"}


def _error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _count_tokens(text: str) -> int:
    return len(text.split())


def _completion_body(record: RecordedRequest, content: str | None, *, no_choices: bool) -> dict[str, Any]:
    prompt_tokens = sum(_count_tokens(str(m.get("content") or "")) for m in record.messages)
    completion_tokens = _count_tokens(content or "")
    choices = [] if no_choices else [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}
    ]
    return {
        "id": f"chatcmpl-test-{record.index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(record.params.get("model") or "test"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def scripted_replies(table: Mapping[str, str | Sequence[str]], default: ReplyFn | None = None) -> ReplyFn:
    """A reply function answering by the last message's content: ``table[content]`` is a fixed
    reply, or a list of replies given in turn (the last one repeats). Other prompts go to
    ``default`` (the echo reply if None). Thread-safe."""
    lock = threading.Lock()
    turns: dict[str, int] = {}
    fallback = default if default is not None else echo_reply

    def reply(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        key = str(messages[-1].get("content", "")) if messages else ""
        if key not in table:
            return fallback(messages, params)
        value = table[key]
        if isinstance(value, str):
            return value
        with lock:
            turn = turns.get(key, 0)
            turns[key] = turn + 1
        return list(value)[min(turn, len(value) - 1)]

    return reply


def main(argv: Sequence[str] | None = None) -> None:
    """Serve in this process until stdin closes (or Ctrl-C): for benchmarks that want the server
    in a process of its own, as a real one would be. Prints the base URL as the first line."""
    parser = argparse.ArgumentParser(prog="python -m promptlearn.testing.openai_server", description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 takes a free port")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered with a random fault (mixed kinds)")
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--slow-seconds", type=float, default=3.0, help="extra delay of a 'slow' fault (set the client timeout below it)")
    args = parser.parse_args(argv)
    server_ = OpenAIServer(
        latency=args.latency, host=args.host, port=args.port, fault_rate=args.fault_rate,
        fault_seed=args.fault_seed, fault_mix=mixed_faults(args.slow_seconds),
    )
    with server_ as server:
        print(server.url, flush=True)
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass


__all__: Iterable[str] = ["Fault", "OpenAIServer", "RecordedRequest", "echo_reply", "mixed_faults", "scripted_replies"]

if __name__ == "__main__":
    main()
