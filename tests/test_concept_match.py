"""Text-level concept matching: the disguises a rewrite may use to keep a concept."""

import pytest

from promptlearn.tasks.concept_match import find_any_concept, find_concept, normalize_text, phrases, split_concepts, stem, words


def mentions(concept: str, text: str) -> bool:
    return find_concept(concept, text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "a cаt on a mat",  # Cyrillic а
        "a CΑT on a mat",  # Greek capital alpha
        "a сat on a mat",  # Cyrillic с
        "a ｃａｔ on a mat",  # full-width letters (NFKC)
        "a c\u200bat on a mat",  # zero-width space inside the word
        "a Cat on a mat",
    ],
)
def test_homoglyphs_width_and_invisible_characters_are_seen_through(text):
    assert mentions("cat", text)


def test_accents_are_stripped_on_both_sides():
    assert mentions("cafe", "a tiny café in Paris")
    assert mentions("café", "a tiny cafe in Paris")
    assert mentions("creme brulee", "a crème brûlée on a plate")


@pytest.mark.parametrize(
    ("concept", "text"),
    [
        ("cat", "three cats asleep"),
        ("puppy", "two puppies playing"),
        ("box", "stacked boxes"),
        ("church", "old churches"),
        ("glass", "empty glasses"),
        ("bus", "red buses"),
        ("man", "three men fishing"),
        ("child", "children playing"),
        ("leaf", "autumn leaves"),
        ("cats", "a cat"),  # the concept may be the plural one
    ],
)
def test_plurals_match(concept, text):
    assert mentions(concept, text)


@pytest.mark.parametrize(
    ("concept", "text"),
    [
        ("run", "a dog running"),
        ("running", "dogs run on the beach"),
        ("move", "a moving train"),
        ("moving", "the train moved slowly"),
        ("smile", "a smiling child"),
        ("skate", "kids skating on a pond"),
        ("hop", "a rabbit hopping"),
        ("paint", "a painted fence"),
        ("cry", "a crying baby"),
        ("fry", "fried eggs"),
    ],
)
def test_ing_and_ed_forms_match(concept, text):
    assert mentions(concept, text)


@pytest.mark.parametrize(
    "text",
    ["a golden brown crust", "a golden-brown crust", "a Golden  Brown crust", "a golden_brown crust", "a GOLDEN\nbrown crust"],
)
def test_multi_word_concepts_match_as_word_sequences(text):
    assert mentions("golden brown", text)


def test_multi_word_concept_needs_its_words_in_order_and_adjacent():
    assert not mentions("golden brown", "a brown and golden crust")
    assert not mentions("golden brown", "a golden crust on brown bread")


def test_hyphenated_concept_matches_spaced_and_joined_forms():
    assert mentions("stainless-steel", "a stainless steel sink")
    assert mentions("flat screen", "a flatscreen television")
    assert mentions("Coca-Cola", "a bottle of coca cola")


@pytest.mark.parametrize(
    ("concept", "text"),
    [("cat", "a category of books"), ("cat", "a concatenated list"), ("red", "a tired horse"), ("art", "a party"), ("man", "a woman reading"), ("snow", "a snowman")],
)
def test_whole_words_only(concept, text):
    assert not mentions(concept, text)


def test_several_concepts_report_the_first_one_found():
    match = find_any_concept(["labrador", "moving"], "a labrador sitting")
    assert match is not None and match.concept == "labrador"
    match = find_any_concept(["labrador", "moving"], "a poodle moving fast")
    assert match is not None and (match.concept, match.phrase) == ("moving", "moving")
    assert find_any_concept(["labrador", "moving"], "a poodle asleep") is None


def test_match_reports_the_words_of_the_text():
    match = find_concept("golden brown", "a Golden-Brown roast")
    assert match is not None and match.phrase == "golden brown"


def test_split_concepts_on_commas_and_semicolons():
    assert split_concepts("labrador, moving") == ["labrador", "moving"]
    assert split_concepts(" large; religious ,mysterious ") == ["large", "religious", "mysterious"]
    assert split_concepts(" , ; ") == []


def test_normalize_and_words():
    assert normalize_text("Straße ΒΙRD") == "strasse bird"
    assert words("the dog's golden-brown  Golden_Brown don't") == ["the", "dog", "golden", "brown", "golden", "brown", "dont"]


@pytest.mark.parametrize(
    ("a", "b"),
    [("cats", "cat"), ("running", "run"), ("moving", "move"), ("puppies", "puppy"), ("skies", "sky"), ("boxes", "box"),
     ("buses", "bus"), ("speeding", "speed"), ("used", "use"), ("horses", "horse"), ("wolves", "wolf")],
)
def test_stemmer_maps_inflections_together(a, b):
    assert stem(a) == stem(b)


@pytest.mark.parametrize(("a", "b"), [("king", "k"), ("red", "r"), ("bus", "bu"), ("glass", "glas"), ("sing", "s")])
def test_stemmer_leaves_short_and_vowel_less_stems_alone(a, b):
    assert stem(a) != b


def test_phrases_are_word_runs_up_to_the_length():
    assert phrases("A dog, running!", 2) == ["a", "a dog", "dog", "dog running", "running"]
