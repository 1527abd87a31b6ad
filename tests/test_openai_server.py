"""The OpenAI-compatible test server itself, spoken to with the standard library only."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from promptlearn.testing.openai_server import Fault, OpenAIServer, scripted_replies


def post(server: OpenAIServer, body: dict, key: str | None = "sk-test") -> tuple[int, dict, object]:
    request = urllib.request.Request(
        server.url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, dict(response.headers), raw
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def chat(content: str, **params) -> dict:
    return {"model": "test", "messages": [{"role": "user", "content": content}], **params}


def test_echo_reply_usage_and_log(openai_server):
    status, _, raw = post(openai_server, chat("one two three", temperature=0.5, seed=3))
    body = json.loads(raw)
    assert status == 200
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: one two three"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    [record] = openai_server.requests
    assert record.params == {"model": "test", "temperature": 0.5, "seed": 3}
    assert record.api_key == "sk-test" and record.fault is None


def test_faults_are_consumed_in_order(openai_server):
    openai_server.inject(Fault.rate_limit(retry_after=1.5), Fault.unavailable(), Fault.unauthorized(), Fault.malformed_json(), Fault.empty_content())
    results = [post(openai_server, chat(f"r{i}")) for i in range(6)]
    assert [status for status, _, _ in results] == [429, 503, 401, 200, 200, 200]
    assert results[0][1]["Retry-After"] == "1.5"
    with pytest.raises(json.JSONDecodeError):
        json.loads(results[3][2])
    assert json.loads(results[4][2])["choices"][0]["message"]["content"] == ""
    assert json.loads(results[5][2])["choices"][0]["message"]["content"] == "echo: r5"
    assert [r.fault.kind if r.fault else None for r in openai_server.requests] == [
        "rate_limit", "server_error", "unauthorized", "malformed_json", "empty_content", None
    ]
    assert openai_server.pending_faults == 0


def test_latency_overlaps_across_requests():
    with OpenAIServer(latency=0.3) as server:
        threads = [threading.Thread(target=post, args=(server, chat(f"c{i}"))) for i in range(8)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 1.2  # sequential would take 2.4 s
    assert server.max_in_flight >= 4


def test_scripted_replies():
    reply = scripted_replies({"fixed": "always this", "turns": ["first", "second"]})
    with OpenAIServer(reply=reply) as server:
        texts = [json.loads(post(server, chat(p))[2])["choices"][0]["message"]["content"] for p in ["fixed", "turns", "turns", "turns", "other"]]
    assert texts == ["always this", "first", "second", "second", "echo: other"]


def test_bad_requests_and_routes(openai_server):
    assert post(openai_server, {"model": "test"})[0] == 400
    request = urllib.request.Request(openai_server.url + "/nothing", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404
    with urllib.request.urlopen(openai_server.url + "/models", timeout=5) as response:
        assert json.loads(response.read())["data"][0]["id"] == "test"
    assert openai_server.requests == []


def test_stop_wakes_a_slow_request():
    server = OpenAIServer().start()
    server.inject(Fault.slow(30))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            post(server, chat("never answered"))
        except OSError as error:  # the server hangs up: the slow answer is dropped
            outcome.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.perf_counter()
    server.stop()
    thread.join(timeout=5)
    assert time.perf_counter() - started < 2 and not thread.is_alive()
    assert len(outcome) == 1


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(404)
