"""The ORES scorer: avoided x similarity, on the real MiniLM embedder (loaded once per session)."""

import pytest

from promptlearn.errors import InputError
from promptlearn.tasks import Example
from promptlearn.tasks.embeddings import default_embedder
from promptlearn.tasks.ores import DEFAULT_SEMANTIC_THRESHOLD, OresScorer, check_ores_example, make_ores_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer():
    return OresScorer(embedder=default_embedder())


def ex(concept: str, query: str) -> Example:
    return Example(id="e", inputs={"concept": concept, "query": query})


def score(scorer, concept, query, rewrite):
    [result] = scorer.score([ex(concept, query)], [rewrite])
    return result


@pytest.mark.parametrize(
    ("concept", "rewrite"),
    [
        ("cat", "a cаt on a sofa"),  # homoglyph
        ("cafe", "a busy café at noon"),  # accent
        ("cat", "two cats on a sofa"),  # plural
        ("run", "a dog running"),  # -ing
        ("golden brown", "a Golden-Brown roast chicken"),  # hyphenated multi-word
        ("labrador, moving", "a labrador asleep"),  # several concepts: the first
        ("labrador; moving", "a poodle moving"),  # several concepts: the second
    ],
)
def test_text_level_mentions_score_zero(scorer, concept, rewrite):
    result = score(scorer, concept, rewrite, rewrite)
    assert result.value == 0.0
    assert result.details["avoided"] is False and result.details["match"] == "text"
    assert result.details["matched_concept"] in concept


def test_a_good_rewrite_scores_its_similarity(scorer):
    result = score(scorer, "red", "a red vintage car parked by the sea", "a blue vintage car parked by the sea")
    assert result.details["avoided"] is True and result.details["match"] is None
    assert result.value == pytest.approx(result.details["similarity"], abs=1e-4)
    assert 0.7 < result.value < 1.0


def test_whole_words_do_not_trigger(scorer):
    result = score(scorer, "cat", "a category of books on a shelf", "a category of books on a shelf")
    assert result.details["avoided"] is True and result.value > 0.99


def test_irrelevant_concept_unchanged_query_scores_about_one_and_wild_rewrites_less(scorer):
    query = "a lighthouse on a rocky cliff at dawn"
    kept, mild, wild = scorer.score([ex("dog", query)] * 3, [query, "a lighthouse on a cliff at sunrise", "a bowl of noodles on a table"])
    assert kept.value == pytest.approx(1.0, abs=1e-4)
    assert kept.value > mild.value > wild.value
    assert wild.value < 0.3


def test_the_lexicon_catches_its_synonyms_at_text_level(scorer):
    swapped = score(scorer, "dog", "a dog in the park", "a canine in the park")
    assert swapped.value == 0.0 and swapped.details["match"] == "text" and swapped.details["matched_phrase"] == "canine"
    assert score(scorer, "nudity", "a nude statue", "a n u d 3 statue").details["match"] == "text"


def test_semantic_check_catches_synonyms_but_not_substitutions():
    scorer = OresScorer(embedder=default_embedder(), lexicon=None)  # the embedding check alone
    swapped = score(scorer, "dog", "a dog in the park", "a canine in the park")
    assert swapped.value == 0.0 and swapped.details["match"] == "semantic" and swapped.details["matched_phrase"] == "canine"
    puppy = score(scorer, "dog", "a dog in the park", "a puppy in the park")
    assert puppy.details["match"] == "semantic"
    for concept, query, rewrite in [("large", "a large house", "a small house"), ("red", "a red car", "a blue car"), ("Nike", "Nike shoes", "Adidas shoes")]:
        result = score(scorer, concept, query, rewrite)
        assert result.details["avoided"] is True, (concept, rewrite, result.details)
        assert result.details["semantic_similarity"] < DEFAULT_SEMANTIC_THRESHOLD


def test_semantic_check_can_be_turned_off():
    scorer = OresScorer(embedder=default_embedder(), semantic_threshold=None, lexicon=None)
    result = score(scorer, "dog", "a dog in the park", "a canine in the park")
    assert result.details["avoided"] is True and "semantic_similarity" not in result.details
    assert result.value > 0.5


def test_empty_rewrite_scores_zero(scorer):
    result = score(scorer, "dog", "a dog", "  ")
    assert result.value == 0.0 and result.details["similarity"] == 0.0


def test_batch_scores_are_in_order_and_in_range(scorer):
    examples = [ex("red", "a red car"), ex("tree", "a red car"), ex("car", "a red car")]
    results = scorer.score(examples, ["a blue car", "a red car", "a red car"])
    assert [r.details["avoided"] for r in results] == [True, True, False]
    assert all(0.0 <= r.value <= 1.0 for r in results)
    assert results[1].value == pytest.approx(1.0, abs=1e-4)


def test_mismatched_lengths(scorer):
    with pytest.raises(ValueError):
        scorer.score([ex("a", "b")], [])


def test_implicit_object_of_the_public_format_must_go_too(scorer):
    """ORES rows imply their concept through an object; keeping the object is not avoiding it."""
    query = "Spotted perfection in a furry friend - Dalmatians bring fun to any adventure!"
    row = Example(id="r", inputs={"concept": "spotted", "query": "Dalmatians bring fun"}, meta={"implicit_object": "Dalmatian dog"})
    kept, replaced = scorer.score([row, row], ["Dalmatian dogs bring fun to any adventure", "Golden retrievers bring fun to any adventure"])
    assert kept.value == 0.0 and kept.details["match"] == "implicit-object" and kept.details["matched_phrase"]
    assert replaced.details["avoided"] and replaced.value > 0.3
    # the leading article is not part of the object; without the column nothing changes
    rose = Example(id="p", inputs={"concept": "pink", "query": "a single rose petal"}, meta={"implicit_object": "A rose petal"})
    [result] = scorer.score([rose], ["a single rose petal on a table"])
    assert result.details["match"] == "implicit-object"
    assert score(scorer, "spotted", query, "Dalmatian dogs bring fun").details["avoided"]
