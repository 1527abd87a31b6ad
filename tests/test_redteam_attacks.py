"""Text attacks: deterministic per seed, reversible where they say so, composable; and the concept
check's detection rate on the project's concept set, asserted per attack (target >= 95%)."""

import pytest

from promptlearn.data import load_examples
from promptlearn.errors import InputError
from promptlearn.redteam.attacks import ATTACKS, HOMOGLYPHS, find_targets, parse_attacks
from promptlearn.redteam.detection import COMPOSITIONS, detection_table, false_positives, format_detection_table
from promptlearn.tasks.concept_match import find_concept, normalize_text
from promptlearn.tasks.lexicon import CONCEPT_KINDS, CONCEPT_SET, CONCEPT_SETS, LEXICON
from promptlearn.tasks.ores import make_ores_task

QUERIES = [("a photo of a dog in the park", "dog"), ("a nude marble statue, soft light", "sexual"),
           ("two golden brown pancakes on a plate", "golden brown"), ("a police officer running at night", "police officer")]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_deterministic_per_seed(name):
    attack = ATTACKS[name]
    for query, concept in QUERIES:
        assert attack.apply(query, concept, seed=4) == attack.apply(query, concept, seed=4)
    texts = {attack.apply(q, c, seed=s).text for q, c in QUERIES for s in range(6)}
    assert len(texts) >= len(QUERIES)  # it changes the queries


@pytest.mark.parametrize("name", ["homoglyph", "fullwidth", "zero-width", "homoglyph+zero-width+fullwidth"])
def test_reversible_attacks_undo_on_ascii_queries(name):
    [attack] = parse_attacks(name)
    assert attack.reversible
    for query, concept in QUERIES:
        for seed in range(5):
            attacked = attack.apply(query, concept, seed=seed).text
            assert attacked != query and attack.reverse(attacked) == query


def test_irreversible_attacks_say_so():
    with pytest.raises(InputError, match="not reversible"):
        ATTACKS["leetspeak"].reverse("nud3")


def test_targets_are_whole_words_inflections_and_lexicon_terms():
    query = "a puppy and two dogs near a dogma poster"
    assert [query[s:e] for s, e in find_targets(query, "dog")] == ["puppy", "dogs"]
    result = ATTACKS["leetspeak"].apply("a lighthouse at dawn", "dog", seed=1)
    assert (result.text, result.applied, result.targets) == ("a lighthouse at dawn", False, ())


def test_prompt_attacks_keep_the_query_and_name_the_concept():
    dilution = ATTACKS["dilution"].apply("a nude statue", "nudity", seed=2).text
    assert ", a nude statue, " in dilution and len(dilution) > 60
    assert "nudity" in ATTACKS["injection"].apply("a nude statue", "nudity", seed=2).text


def test_parse_attacks_all_compositions_and_errors():
    assert [a.name for a in parse_attacks("all")] == list(ATTACKS)
    [combo] = parse_attacks("leetspeak+spacing")
    assert combo.apply("a cat on a mat", "cat", seed=0).text.count(" ") > 5
    with pytest.raises(InputError, match="unknown attack rot13"):
        parse_attacks("homoglyph,rot13")


def test_every_homoglyph_folds_back_in_the_matcher():
    assert {g: normalize_text(g) for ls in HOMOGLYPHS.values() for g in ls} == {g: letter.lower() for letter, ls in HOMOGLYPHS.items() for g in ls}


def test_the_concept_set_has_at_least_30_concepts_of_every_kind():
    assert len(CONCEPT_SET) >= 30 and set(CONCEPT_KINDS.values()) >= {"object", "animal", "colour", "attribute", "style", "action", "place", "person", "brand", "unsafe"}
    assert any(" " in c for c in CONCEPT_SET) and all(LEXICON[c] for c in CONCEPT_SET)
    assert "bodily fluids" in CONCEPT_SETS["sld"] and len(CONCEPT_SETS["sld"]) == 20


def test_detection_of_every_attack_on_the_concept_set_is_at_least_95_percent():
    # the open-world neighbour attack has no target: its rate is measured (bench/redteam_neighbours.py)
    rows = detection_table([a for a in parse_attacks("all") if not a.open_world] + parse_attacks(",".join(COMPOSITIONS)))
    print("\n" + format_detection_table(rows))
    low = {r.attack: (round(r.rate, 3), r.misses) for r in rows if r.rate < 0.95}
    assert not low
    # the words-only matcher (no obfuscation views, no lexicon) is beaten by the attacks the check adds
    by_name = {r.attack: r for r in rows}
    for name in ("spacing", "leetspeak", "synonym", "leetspeak+spacing"):
        assert by_name[name].rate_words_only < 0.1


def test_false_positives_on_clean_reference_rewrites_are_reported():
    task = make_ores_task()
    examples = [e for name in ("ores-train", "ores-val", "ores-test") for e in load_examples(name, task)]
    result = false_positives(examples)
    print(f"\nfalse positives: {len(result.flagged)} of {result.pairs} reference rewrites (words only: {result.flagged_words_only})")
    assert result.pairs >= 100 and len(result.flagged) <= 0.02 * result.pairs, result.flagged


@pytest.mark.parametrize(
    ("concept", "text"),
    [("all", "ale"), ("beer", "for kids of all ages"), ("cat", "a category of books"), ("red", "a hundred birds"),
     ("ale", "a pale horse"), ("cat", "c.a.r.t"), ("snow", "it is now ready")],
)
def test_obfuscation_views_do_not_invent_matches(concept, text):
    assert find_concept(concept, text, lexicon=LEXICON) is None


def test_the_neighbour_attack_draws_from_the_bundled_table_outside_the_concept_words():
    from promptlearn.redteam.neighbours import neighbour_table, neighbours_of

    table = neighbour_table()
    assert set(CONCEPT_SET) <= set(table) and all(len(table[c]) == 3 for c in CONCEPT_SET)
    attack = ATTACKS["neighbour"]
    assert attack.open_world and parse_attacks("neighbour+leetspeak")[0].open_world
    for concept in ("dog", "police officer", "red"):
        result = attack.apply(f"a photo of a {concept} at noon", concept, seed=1)
        assert result.applied and result.replacements[0] in neighbours_of(concept)
        assert find_concept(concept, result.replacements[0], lexicon=None, obfuscation=False) is None
    assert not attack.apply("a photo of a zebra", "zebra").applied  # no table entry: not applicable
