"""The black-list baseline: concept words removed, the rest of the query kept tidy."""

from __future__ import annotations

import pytest

from promptlearn.errors import InputError
from promptlearn.synthesis.interventions import Blacklist, remove_concepts


@pytest.mark.parametrize(
    "text, concepts, expected",
    [
        ("a naked man on a beach", ["naked"], "a man on a beach"),
        ("A NAKED man, Naked and naked.", ["naked"], "A man."),
        ("nakedness is not naked", ["naked"], "nakedness is not"),               # whole words only
        ("a golden brown roast chicken", ["golden brown"], "a roast chicken"),    # multi-word concept
        ("a golden-brown roast chicken", ["golden brown"], "a roast chicken"),    # hyphenated
        ("a golden   brown chicken", ["golden brown"], "a chicken"),              # any whitespace between words
        ("golden brown, brown and gold", ["brown", "golden brown"], "gold"),  # longest concept first
        ("blood, gore, and a knife", ["blood", "gore"], "a knife"),               # several concepts, leading commas
        ("a knife, blood, gore", ["blood", "gore"], "a knife"),                   # dangling commas
        ("a knife, blood, on a table", ["blood"], "a knife, on a table"),         # no " ," nor ",,"
        ("a knife with blood.", ["blood"], "a knife with."),                       # no space before the period
        ("a photo (nudity) of art", ["nudity"], "a photo of art"),                # empty brackets go
        ("the doctor's office", ["doctor"], "the office"),                        # possessive goes with the word
        ("a blood-soaked knife, half-nude", ["blood", "nude"], "a knife"),        # hyphenated compounds go whole
        ("a cat and nudity", ["nudity"], "a cat"),                                # no dangling conjunction
        ("cats and nudity and dogs", ["nudity"], "cats and dogs"),                # nor a doubled one
        ("(nudity or gore) and a cat", ["nudity", "gore"], "a cat"),
        ("rock and roll, a cat", ["nudity"], "rock and roll, a cat"),             # nothing removed: unchanged
        ("nudity", ["nudity"], ""),
        ("a c++ program", ["c++"], "a program"),                                   # regex characters are literal
        ("no concept here", ["   "], "no concept here"),
        ("  spaced   out  ", ["zzz"], "spaced out"),
    ],
)
def test_remove_concepts(text, concepts, expected):
    assert remove_concepts(text, concepts) == expected


def test_blacklist_edits_every_prompt():
    blacklist = Blacklist(["naked", "nude"])
    assert blacklist.edit_prompts(["a naked man", "a nude statue, marble"]) == ["a man", "a statue, marble"]
    assert Blacklist("naked").concepts == ["naked"]


def test_blacklist_needs_a_concept():
    with pytest.raises(InputError, match="at least one non-empty concept"):
        Blacklist(["", "  "])


def test_blacklist_changes_what_the_sampler_conditions_on(synth):
    out = synth.generate("a naked man on a beach", num_inference_steps=1, interventions=Blacklist("naked"), decode=False)
    plain = synth.generate("a man on a beach", num_inference_steps=1, decode=False)
    assert out.conditioned_on == ["a man on a beach"]
    assert out.prompts == ["a naked man on a beach"]
    assert (out.latents == plain.latents).all()
