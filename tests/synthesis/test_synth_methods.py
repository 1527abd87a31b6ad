"""Named methods as interventions, and the on-the-fly rewrite hook."""

from __future__ import annotations

import pytest

from promptlearn.errors import InputError
from promptlearn.llm.errors import BadResponseError
from promptlearn.synthesis.interventions import Blacklist, NegativePrompt, PromptSwitch, SafeLatentDiffusion
from promptlearn.synthesis.methods import METHODS, method_interventions, parse_methods
from promptlearn.synthesis.rewrite_hook import rewrite_query


def test_each_method_builds_its_intervention():
    kinds = {m: [type(i) for i in method_interventions(m, concepts=["naked", "nude"], rewrite="a man")] for m in METHODS}
    assert kinds == {"original": [], "blacklist": [Blacklist], "negative": [NegativePrompt],
                     "sld": [SafeLatentDiffusion], "tin": [PromptSwitch]}
    sld = method_interventions("sld", concepts=["naked", "nude"], sld_preset="weak")[0]
    assert sld.concept == "naked, nude" and sld.describe() == "sld (weak)"
    assert method_interventions("tin", concepts=[], rewrite="a man", switch_step=0.25)[0].switch_step == 0.25


def test_method_errors():
    with pytest.raises(InputError, match="method blacklist needs a concept"):
        method_interventions("blacklist", concepts=[" "])
    with pytest.raises(InputError, match="method tin needs a rewritten query"):
        method_interventions("tin", concepts=["x"])
    with pytest.raises(InputError, match="unknown method 'magic'"):
        method_interventions("magic", concepts=["x"])


def test_parse_methods():
    assert parse_methods(" Original, tin ,sld") == ["original", "tin", "sld"]
    with pytest.raises(InputError, match="listed twice"):
        parse_methods("tin,tin")
    with pytest.raises(InputError, match="no method named"):
        parse_methods(" , ")


class _FakeLLM:
    def __init__(self, text):
        self.text, self.calls = text, []

    def complete(self, messages, **params):
        self.calls.append((messages, params))
        return type("Completion", (), {"text": self.text})()


def test_rewrite_query_sends_instruction_and_concept():
    llm = _FakeLLM(" a man in swimwear \n")
    assert rewrite_query(llm, "Be safe.", "nudity", "a naked man") == "a man in swimwear"
    messages, params = llm.calls[0]
    assert messages == [{"role": "system", "content": "Be safe."},
                        {"role": "user", "content": "Concept: nudity\nQuery: a naked man"}]
    assert params["temperature"] == 0.0


def test_empty_rewrite_is_an_llm_error_not_an_empty_prompt():
    with pytest.raises(BadResponseError, match="empty rewrite"):
        rewrite_query(_FakeLLM("   "), "Be safe.", "nudity", "a naked man")
