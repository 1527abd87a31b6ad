"""The method registry: one spec per method, its needs, its switch policy, its caption."""

from __future__ import annotations

import pytest

from promptlearn.errors import InputError
from promptlearn.synthesis.interventions import Blacklist, NegativePrompt, PromptSwitch, SafeLatentDiffusion
from promptlearn.synthesis.methods import (
    MethodSpec,
    get_method,
    list_methods,
    method_interventions,
    method_names,
    parse_methods,
    register_method,
)
from promptlearn.synthesis.switch_step import parse_switch_step


def test_each_method_builds_its_intervention():
    kinds = {m: [type(i) for i in method_interventions(m, concepts=["naked", "nude"], rewrite="a man")] for m in method_names()}
    assert kinds == {"original": [], "blacklist": [Blacklist], "negative": [NegativePrompt],
                     "sld": [SafeLatentDiffusion], "tin": [PromptSwitch], "tin-no-instruction": [PromptSwitch],
                     "tin-no-intervention": [PromptSwitch], "tin-human": [PromptSwitch],
                     "tin-in-context": [PromptSwitch]}
    sld = method_interventions("sld", concepts=["naked", "nude"], sld_preset="weak")[0]
    assert sld.concept == "naked, nude" and sld.describe() == "sld (weak)"
    assert method_interventions("tin", concepts=[], rewrite="a man", switch_step=0.25)[0].switch_step == 0.25
    assert method_interventions("tin-no-intervention", concepts=[], rewrite="a man", switch_step=5)[0].switch_step == 0


def test_specs_say_what_they_need():
    assert [m.name for m in list_methods()][:5] == ["original", "blacklist", "negative", "sld", "tin"]
    assert get_method("tin-no-instruction").instruction == "initial" and get_method("tin").instruction == "learned"
    assert get_method("negative").needs_guidance and not get_method("tin").needs_guidance
    assert get_method("tin").describe(switch_step=0.5) == "tin (S=0.5)"
    assert get_method("tin-no-intervention").describe(switch_step=3) == "tin-no-intervention (S=0)"
    assert get_method("sld").describe(sld_preset="max") == "sld (max)"
    assert get_method("tin").needs() == "rewrite (learned instruction), switch step S"


def test_method_errors_name_arguments():
    with pytest.raises(InputError, match=r"method blacklist needs a concept \(concepts\)"):
        method_interventions("blacklist", concepts=[" "])
    with pytest.raises(InputError, match=r"method tin needs a rewritten query \(rewrite"):
        method_interventions("tin", concepts=["x"])
    with pytest.raises(InputError, match="unknown method 'magic'; choose from original, blacklist"):
        method_interventions("magic", concepts=["x"])
    with pytest.raises(InputError, match=r"needs classifier-free guidance \(guidance > 1\)"):
        get_method("sld").check(concepts=["x"], guidance=1.0)
    with pytest.raises(InputError, match="switch_step S=5 exceeds the 2 sampler steps"):
        get_method("tin").check(switch_step=5, num_steps=2, check_rewrite=False)
    get_method("tin-no-intervention").check(switch_step=5, num_steps=2, check_rewrite=False)  # S is 0 whatever is given


def test_parse_methods():
    assert parse_methods(" Original, tin ,sld") == ["original", "tin", "sld"]
    with pytest.raises(InputError, match="listed twice"):
        parse_methods("tin,tin")
    with pytest.raises(InputError, match="no method named"):
        parse_methods(" , ")


def test_parse_switch_step():
    assert parse_switch_step("2") == 2 and parse_switch_step("0.25") == 0.25 and parse_switch_step(3) == 3
    with pytest.raises(InputError, match="neither a step count"):
        parse_switch_step("two")


def test_registering_a_method_is_one_call(monkeypatch):
    from promptlearn.synthesis import methods as registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = register_method(MethodSpec("double-negative", "negative prompt twice", lambda inputs: [
        NegativePrompt(list(inputs.concepts)), NegativePrompt(list(inputs.concepts))], needs_concepts=True, needs_guidance=True))
    assert get_method("double-negative") is spec and "double-negative" in parse_methods("original,double-negative")
    assert [type(i) for i in method_interventions("double-negative", concepts=["x"])] == [NegativePrompt, NegativePrompt]
    with pytest.raises(InputError, match="already registered"):
        register_method(spec)
    with pytest.raises(InputError, match="bad method name"):
        register_method(MethodSpec("Bad Name", "", lambda inputs: []))
