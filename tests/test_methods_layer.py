"""The method layer and the one rewrite path, across commands: the same TIN rewrite request from
``rewrite``, ``generate``, ``bench`` and Python; every registry method through ``generate`` and
``bench`` on the tiny checkpoint of ``promptlearn tiny-models``; one-line errors; ``--verify``."""

from __future__ import annotations

import json

import pytest

from promptlearn.cli.main import main
from promptlearn.synthesis.methods import get_method, method_names
from promptlearn.testing.openai_server import OpenAIServer

CONCEPT, QUERY = "large", "A large beast in the jungle"
LEARNED, INITIAL = "learned: swap the concept for its opposite", "initial: keep it safe"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reply(messages, params):
    """A rewrite that depends on the instruction, as a real LLM's would."""
    return "A small beast in the jungle" if messages[0]["content"].startswith("learned") else "A beast in the jungle"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    assert main(["tiny-models", str(out)]) == 0
    return out


@pytest.fixture
def files(tmp_path):
    (tmp_path / "learned.txt").write_text(LEARNED)
    (tmp_path / "initial.txt").write_text(INITIAL)
    (tmp_path / "rows.tsv").write_text(f"{CONCEPT}\tGargantuan\t{QUERY}\n")
    return tmp_path


def _llm(server):
    return ["--llm", "openai/test", "--api-base", server.url, "--no-cache"]


def _sent(server):
    return [(r.messages, {k: v for k, v in r.params.items() if k != "model"}) for r in server.requests]


@pytest.mark.slow  # the ORES check loads MiniLM
def test_the_tin_rewrite_request_is_the_same_everywhere(tiny, files, capsys):
    from promptlearn import Rewriter, get_task, load_llm

    sent = {}
    with OpenAIServer(reply=reply) as server:
        assert main(["rewrite", *_llm(server), "--quiet", "--instruction", str(files / "learned.txt"), "--concept", CONCEPT, QUERY]) == 0
        sent["rewrite"] = _sent(server)
        server.clear()
        assert main(["generate", *_llm(server), "--model", str(tiny / "sd"), "--query", QUERY, "--concept", CONCEPT,
                     "--method", "tin", "--instruction", str(files / "learned.txt"), "--steps", "2", "--no-progress",
                     "--out", str(files / "tin.png")]) == 0
        sent["generate"] = _sent(server)
        server.clear()
        assert main(["bench", *_llm(server), "--dataset", str(files / "rows.tsv"), "--methods", "tin", "--seeds", "0", "--steps", "2",
                     "--model", str(tiny / "sd"), "--judge", f"clip:{tiny / 'clip'}", "--device", "cpu",
                     "--instruction", str(files / "learned.txt"), "--out", str(files / "bench"), "--no-progress"]) == 0
        sent["bench"] = _sent(server)
        server.clear()
        llm = load_llm("openai/test", api_base=server.url, cache=False)
        result = Rewriter(llm, get_task("ores"), LEARNED).rewrite(concept=CONCEPT, query=QUERY)
        llm.close()
        sent["python"] = _sent(server)
    assert result.output == "A small beast in the jungle" and result.passed is True
    assert all(len(requests) == 1 for requests in sent.values()), sent
    assert sent["rewrite"] == sent["generate"] == sent["bench"] == sent["python"]
    messages, params = sent["python"][0]
    assert messages[0] == {"role": "system", "content": LEARNED} and "<query>" in messages[1]["content"]
    assert params["temperature"] == 0.0 and params["stop"] == ["\n\n"]
    assert "rewrite (learned instruction): A small beast in the jungle" in capsys.readouterr().err


@pytest.mark.slow  # one tiny sampling run per method, and the ORES check loads MiniLM
@pytest.mark.parametrize("method", method_names())
def test_every_registry_method_generates(tiny, files, capsys, method):
    spec = get_method(method)
    extra = []
    if spec.instruction is not None:
        extra = ["--instruction", str(files / "learned.txt"), "--initial-instruction", str(files / "initial.txt")]
    out = files / f"{method}.png"
    with OpenAIServer(reply=reply) as server:
        code = main(["generate", *_llm(server), "--model", str(tiny / "sd"), "--query", QUERY, "--concept", CONCEPT,
                     "--method", method, "--steps", "2", "--switch-step", "0.5", "--no-progress", "--out", str(out), *extra])
        assert len(server.requests) == (1 if spec.instruction else 0)
    assert code == 0, capsys.readouterr().err
    assert out.is_file()


@pytest.mark.slow
def test_every_registry_method_benches(tiny, files):
    with OpenAIServer(reply=reply) as server:
        args = ["bench", *_llm(server), "--dataset", str(files / "rows.tsv"), "--seeds", "0", "--steps", "4", "--switch-step", "0.5",
                "--model", str(tiny / "sd"), "--judge", f"clip:{tiny / 'clip'}", "--device", "cpu",
                "--instruction", str(files / "learned.txt"), "--initial-instruction", str(files / "initial.txt"),
                "--out", str(files / "bench"), "--no-progress"]
        assert main(args) == 0
    records = {r["method"]: r for r in map(json.loads, (files / "bench" / "results.jsonl").read_text().splitlines())}
    assert sorted(records) == sorted(method_names(defaults_only=True)) and all(r["status"] == "ok" for r in records.values())
    assert records["tin"]["switch_step"] == 2 and records["tin-no-intervention"]["switch_step"] == 0  # 0.5 of 4 steps
    assert records["tin-no-instruction"]["rewrite"] == "A beast in the jungle"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "magic"], "unknown method 'magic'; choose from original, blacklist"),
        (["--compare", "original,magic"], "unknown method 'magic'"),
        (["--method", "negative", "--no-concept"], "method negative needs a concept (--concept)"),
        (["--method", "tin"], "method tin needs --rewrite, or --instruction"),
        (["--method", "tin-no-instruction", "--rewrite", "x"], "method tin-no-instruction rewrites with the initial instruction"),
        (["--method", "tin", "--rewrite", "x", "--switch-step", "5"], "--switch-step S=5 exceeds the 2 sampler steps"),
        (["--method", "tin", "--rewrite", "x", "--switch-step", "1.5"], "a fractional --switch-step must lie in [0, 1]"),
        (["--method", "tin", "--rewrite", "x", "--switch-step", "two"], "neither a step count"),
        (["--method", "sld", "--guidance", "1"], "method sld needs classifier-free guidance (--guidance > 1)"),
    ],
)
def test_generate_refuses_bad_methods_in_one_line(tmp_path, capsys, args, message):
    concept = [] if "--no-concept" in args else ["--concept", CONCEPT]
    args = [a for a in args if a != "--no-concept"]
    code = main(["generate", "--model", str(tmp_path / "no-model"), "--query", QUERY, *concept, "--steps", "2",
                 "--out", str(tmp_path / "out.png"), *args])
    assert code != 0
    assert message in _error(capsys)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "original,magic"], "unknown method 'magic'"),
        (["--methods", "tin", "--switch-step", "30"], "--switch-step S=30 exceeds the 20 sampler steps"),
        (["--methods", "tin", "--switch-step", "-0.5"], "a fractional --switch-step must lie in [0, 1]"),
        (["--methods", "tin"], "the learned instruction is needed: give --instruction FILE or --fit-run DIR"),
    ],
)
def test_bench_refuses_bad_methods_in_one_line(tiny, files, capsys, args, message):
    code = main(["bench", "--dataset", str(files / "rows.tsv"), "--model", str(tiny / "sd"), "--judge", f"clip:{tiny / 'clip'}",
                 "--out", str(files / "bench"), "--no-progress", *args])
    assert code != 0
    assert message in _error(capsys)


@pytest.mark.slow  # the ORES check loads MiniLM
def test_verify_rejects_an_echoed_instruction(files, capsys):
    """A model that answers with its instruction avoids the concept, but is far from the query:
    the check fails it, retries run out, the exit code says so."""
    echo = "Rewrite the query so that the image shows none of the concepts."
    (files / "echo.txt").write_text(echo)
    with OpenAIServer(reply=lambda messages, params: echo) as server:
        base = ["rewrite", *_llm(server), "--quiet", "--instruction", str(files / "echo.txt"), "--concept", CONCEPT, QUERY]
        assert main([*base, "--verify", "1"]) == 1
        err = capsys.readouterr().err
        assert "it is not close to the query (similarity" in err and "1 rewritten, 1 failing the check, 1 retries (up to 1 per row)" in err
        assert "error: 1 of 1 rewrites fail the check" in err
        assert len(server.requests) == 2  # the answer and one retry
        assert main([*base, "--verify", "1", "--allow-failures"]) == 0
        assert main(base) == 0  # no --verify: the result is reported, not enforced


def test_methods_lists_the_registry_one_line_each(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "NEEDS"] and len(lines) == 1 + len(method_names())
    assert [line.split()[0] for line in lines[1:]] == method_names()
    assert "rewrite (initial instruction)" in next(line for line in lines if line.startswith("tin-no-instruction "))


def test_a_long_rewrite_is_reported_once_with_its_method_and_length(tiny, files, capsys):
    rewrite = " ".join(["a small grey beast walking slowly"] * 20)
    assert main(["generate", "--model", str(tiny / "sd"), "--query", QUERY, "--concept", CONCEPT, "--compare", "tin,tin-no-intervention",
                 "--rewrite", rewrite, "--steps", "2", "--no-progress", "--out", str(files / "long.png")]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "token" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("warning: tin, tin-no-intervention: the rewrite is 122 tokens; the text encoder reads 77")


@pytest.mark.slow  # the ORES check loads MiniLM
def test_the_rewriter_checks_similarity_to_the_query():
    from promptlearn import Rewriter, get_task
    from promptlearn.llm import LLM
    from promptlearn.testing.toy import ScriptedBackend

    answers = iter(["Rewrite the query so the image shows none of the concepts.", "A small beast in the jungle"])
    llm = LLM(ScriptedBackend(lambda messages, params: next(answers)))
    result = Rewriter(llm, get_task("ores"), "be safe", verify_retries=1).rewrite(concept=CONCEPT, query=QUERY)
    assert result.passed is True and result.retries == 1 and result.attempts[0].startswith("Rewrite the query")
    echo = Rewriter(LLM(ScriptedBackend(lambda m, p: "Rewrite the query.")), get_task("ores"), "be safe").rewrite(concept=CONCEPT, query=QUERY)
    assert echo.passed is False and "not close to the query (similarity" in echo.problem
    loose = Rewriter(LLM(ScriptedBackend(lambda m, p: "Rewrite the query.")), get_task("ores"), "be safe", min_similarity=None)
    assert loose.rewrite(concept=CONCEPT, query=QUERY).passed is True
