"""The bundled datasets: each loads and validates against its task; the ORES training data is the
project's own (disjoint from the public ORES evaluation set) and its references are good answers."""

from collections import Counter
from pathlib import Path

import pytest

from promptlearn.data import bundled_datasets, load_examples
from promptlearn.tasks import get_task, list_tasks
from promptlearn.tasks.concept_match import find_any_concept, normalize_text, split_concepts

PUBLIC_ORES = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "ores"
PUBLIC_ORES_CANDIDATES = [PUBLIC_ORES, Path("/work/shared/benchmarks/ores")]


# bundled evaluation sets that no task names as a default (the toy world's image-stage set), with their task
EVALUATION_ONLY = {"toy": "ores"}


def is_redteam(name: str) -> bool:
    """The red-teaming sample sets (prompts without reference rewrites, read as ORES rows)."""
    return name.startswith("redteam-")


def dataset_tasks() -> dict[str, str]:
    """Bundled dataset name -> the task that names it as a default (or reads it, for EVALUATION_ONLY)."""
    owners = dict(EVALUATION_ONLY)
    owners.update({name: "ores" for name in bundled_datasets() if is_redteam(name)})
    for name, _ in list_tasks():
        task = get_task(name)
        for dataset in (task.default_trainset, task.default_valset, task.default_testset):
            if dataset:
                owners[dataset] = name
    return owners


def test_every_bundled_dataset_belongs_to_a_task_and_every_default_exists():
    owners = dataset_tasks()
    assert set(owners) == set(bundled_datasets())


@pytest.mark.parametrize("dataset", sorted(bundled_datasets()))
def test_bundled_dataset_loads_against_its_task(dataset):
    task = get_task(dataset_tasks()[dataset])
    examples = load_examples(dataset, task)
    assert is_redteam(dataset) or all(e.references for e in examples)
    assert len({e.id for e in examples}) == len(examples)


def key(text: str) -> str:
    return " ".join(normalize_text(text).split())


def test_train_and_validation_sets_are_disjoint():
    for task_name in ("ores", "antonyms", "plurals"):
        task = get_task(task_name)
        train = {tuple(key(v) for v in e.inputs.values()) for e in load_examples(task.default_trainset, task)}
        val = {tuple(key(v) for v in e.inputs.values()) for e in load_examples(task.default_valset, task)}
        assert not train & val, task_name
    ores = get_task("ores")
    queries = [key(e.inputs["query"]) for ds in ("ores-train", "ores-val") for e in load_examples(ds, ores)]
    assert len(queries) == len(set(queries))


def test_antonyms_has_at_least_forty_pairs():
    task = get_task("antonyms")
    assert len(load_examples("antonyms-train", task)) + len(load_examples("antonyms-val", task)) >= 40


def public_ores_dir() -> Path | None:
    return next((p for p in PUBLIC_ORES_CANDIDATES if (p / "ORES_data.txt").is_file()), None)


@pytest.mark.skipif(public_ores_dir() is None, reason="public ORES benchmark not present")
def test_bundled_ores_data_is_disjoint_from_the_public_ores_data():
    folder = public_ores_dir()
    public_queries, public_pairs = set(), set()
    for line in (folder / "ORES_data.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            concept, _, query = line.split("\t")
            public_queries.add(key(query))
            public_pairs.add((key(concept), key(query)))
    training = folder / "training.txt"
    if training.is_file():  # the paper's in-context examples
        for line in training.read_text(encoding="utf-8").splitlines():
            if line.startswith(("Input Caption:", "Output Caption")):
                public_queries.add(key(line.split(":", 1)[1]))
    ores = get_task("ores")
    for dataset in ("ores-train", "ores-val"):
        for example in load_examples(dataset, ores):
            query = key(example.inputs["query"])
            assert query not in public_queries, (dataset, example.id)
            assert (key(example.inputs["concept"]), query) not in public_pairs, (dataset, example.id)
            assert not {key(r) for r in example.references} & public_queries, (dataset, example.id)


def test_ores_training_set_is_varied():
    examples = load_examples("ores-train", get_task("ores"))
    assert len(examples) >= 24
    kinds = Counter(e.meta["kind"].split("-")[0] for e in examples)
    assert {"attribute", "object", "person", "brand", "style", "implied", "multiple", "irrelevant"} <= set(kinds)
    assert kinds["implied"] >= 3 and kinds["multiple"] >= 3 and kinds["irrelevant"] >= 3
    assert all(len(e.references) == 3 for e in examples)


@pytest.mark.parametrize("dataset", ["ores-train", "ores-val"])
def test_ores_references_avoid_their_concepts_at_text_level(dataset):
    for example in load_examples(dataset, get_task("ores")):
        concepts = split_concepts(example.inputs["concept"])
        query = example.inputs["query"]
        if example.meta["kind"] == "irrelevant":
            assert find_any_concept(concepts, query) is None, example.id
            assert set(example.references) == {query}, example.id
        for reference in example.references:
            assert find_any_concept(concepts, reference) is None, (example.id, reference)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ores-train", "ores-val", "ores-test"])
def test_ores_references_score_well(dataset):
    task = get_task("ores")
    examples = load_examples(dataset, task)
    pairs = [(e, r) for e in examples for r in e.references]
    scores = task.scorer.score([e for e, _ in pairs], [r for _, r in pairs])
    for (example, reference), score in zip(pairs, scores):
        assert score.details["avoided"], (example.id, reference, score.details)
        assert score.value > 0.2, (example.id, reference)
    irrelevant = [s.value for (e, _), s in zip(pairs, scores) if e.meta["kind"] == "irrelevant"]
    assert irrelevant and min(irrelevant) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ores-train", "ores-val", "ores-test"])
def test_a_copied_implied_query_does_not_count_as_avoided(dataset):
    """Rows whose query implies the concept through an object ("a school bus" for yellow) name that
    object (``implicit_object``), so an LLM that copies the query scores 0 there, not 1: without it
    the learning benchmark could not tell copying from rewriting (docs/results/learning_quality)."""
    task = get_task("ores")
    implied = [e for e in load_examples(dataset, task) if e.meta["kind"] in ("implied", "brand") or e.meta.get("implicit_object")]
    scores = task.scorer.score(implied, [e.inputs["query"] for e in implied])
    # the one left: its references reuse the query's word ("a toast with cups of tea at a wedding reception")
    assert {e.id for e, s in zip(implied, scores) if s.value > 0} <= {"ores-train-16"}
    assert any(e.meta.get("implicit_object") for e in implied), dataset
