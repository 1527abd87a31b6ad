"""Dataset loaders: each format, bundled names, and every malformed case named by file:line."""

import json

import pytest

from promptlearn.data import bundled_datasets, load_examples, resolve_dataset
from promptlearn.errors import DataFileError, InputError
from promptlearn.tasks.antonyms import make_antonyms_task
from promptlearn.tasks.ores import make_ores_task

ORES = make_ores_task()
ANTONYMS = make_antonyms_task()


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_ores_tsv(tmp_path):
    path = write(tmp_path, "eval.txt", "large\tGargoyle\tA gargoyle on a roof.\n\npink\tA rose petal\tPetals on the floor.\n")
    examples = load_examples(path, ORES)
    assert [e.id for e in examples] == ["eval-1", "eval-3"]
    assert examples[0].inputs == {"concept": "large", "query": "A gargoyle on a roof."}
    assert examples[0].meta == {"implicit_object": "Gargoyle"} and examples[0].references == ()


def test_tsv_with_header_is_a_table(tmp_path):
    path = write(tmp_path, "words.tsv", "word\treference\tnote\nhot\tcold\t\"quoted\" text\n")
    [example] = load_examples(path, ANTONYMS)
    assert example.inputs == {"word": "hot"} and example.references == ("cold",) and example.meta == {"note": '"quoted" text'}


def test_headerless_tsv_needs_an_ores_task(tmp_path):
    path = write(tmp_path, "words.tsv", "hot\tcold\n")
    with pytest.raises(DataFileError, match=r"words.tsv:1: .*needs a header row naming word"):
        load_examples(path, ANTONYMS)


def test_jsonl_flat_and_nested_forms(tmp_path):
    rows = [
        {"id": "a", "concept": "cat", "query": "a cat", "references": ["a dog", "a fox"], "kind": "object"},
        {"concept": "red", "query": "a red car", "reference": "a blue car"},
        {"id": 7, "inputs": {"concept": "tree", "query": "a tree"}, "references": [], "meta": {"source": "me"}},
    ]
    path = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    a, b, c = load_examples(path, ORES)
    assert (a.id, a.references, a.meta) == ("a", ("a dog", "a fox"), {"kind": "object"})
    assert (b.id, b.references) == ("d-2", ("a blue car",))
    assert (c.id, c.inputs["query"], c.meta) == ("7", "a tree", {"source": "me"})


def test_jsonl_round_trips_example_to_json(tmp_path):
    original = load_examples("ores-val", ORES)
    path = write(tmp_path, "copy.jsonl", "".join(json.dumps(e.to_json()) + "\n" for e in original))
    assert load_examples(path, ORES) == original


def test_csv_with_header_and_reference_columns(tmp_path):
    path = write(tmp_path, "d.csv", 'id,word,reference1,reference_2,source\nw1,hot,cold,"chilly, cool",list\nw2,big,small,,\n')
    first, second = load_examples(path, ANTONYMS)
    assert first.id == "w1" and first.references == ("cold", "chilly, cool") and first.meta == {"source": "list"}
    assert second.references == ("small",)


def test_limit_and_bundled_names():
    assert len(load_examples("ores-train", ORES, limit=3)) == 3
    assert {"ores-train", "ores-val", "antonyms-train", "antonyms-val"} <= set(bundled_datasets())
    assert resolve_dataset("ores-train").name == "ores_train.jsonl"
    with pytest.raises(InputError, match="limit"):
        load_examples("ores-train", ORES, limit=0)


@pytest.mark.parametrize(
    ("name", "text", "where", "problem"),
    [
        ("d.jsonl", '{"concept": "cat", "query": "a cat"}\n{"concept": "cat"\n', 2, "bad JSON"),
        ("d.jsonl", '{"concept": "cat", "query": "a cat"}\n\n["cat"]\n', 3, "expected a JSON object"),
        ("d.jsonl", '{"concept": "cat"}\n', 1, "missing field 'query'"),
        ("d.jsonl", '{"concept": "", "query": "a cat"}\n', 1, "needs field\\(s\\) concept"),
        ("d.jsonl", '{"concept": " ,; ", "query": "a cat"}\n', 1, "names no concept"),
        ("d.jsonl", '{"concept": 3, "query": "a cat"}\n', 1, "field 'concept' must be a string"),
        ("d.jsonl", '{"id": "x", "concept": "a", "query": "b"}\n{"id": "x", "concept": "c", "query": "d"}\n', 2, "duplicate id 'x' \\(first on line 1\\)"),
        ("d.jsonl", '{"concept": "a", "query": "b", "references": "c"}\n', 1, "'references' must be a list"),
        ("d.jsonl", '{"concept": "a", "query": "b", "references": [], "reference": "c"}\n', 1, "not both"),
        ("d.jsonl", '{"id": null, "concept": "a", "query": "b"}\n{"id": true, "concept": "a", "query": "b"}\n', 2, "id must be"),
        ("d.txt", "large\tGargoyle\tA gargoyle.\nsmall\tonly two\n", 2, "expected 3 tab-separated columns"),
        ("d.txt", "large\tGargoyle\tA gargoyle.\n\tMouse\tA mouse.\n", 2, "needs field\\(s\\) concept"),
        ("d.txt", "large\tGargoyle\t \n", 1, "needs field\\(s\\) query"),
        ("d.csv", "concept,query\ncat,a cat\ndog\n", 3, "expected 2 columns, found 1"),
        ("d.csv", "concept,text\ncat,a cat\n", 1, "header lacks column\\(s\\) query"),
        ("d.csv", "concept,query,query\n", 1, "duplicate column\\(s\\) query"),
        ("d.csv", 'concept,query\ncat,"a cat\n', 2, "malformed row"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, name, text, where, problem):
    path = write(tmp_path, name, text)
    with pytest.raises(DataFileError, match=problem) as info:
        load_examples(path, ORES)
    assert str(info.value).startswith(f"{path}:{where}: ")
    assert info.value.line == where


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"concept": "a", "query": "b"}\n{"concept": "caf\xe9", "query": "b"}\n')
    with pytest.raises(DataFileError, match=r"d.jsonl:2: not UTF-8 text \(byte 0xe9\)"):
        load_examples(path, ORES)


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffword,reference\nhot,cold\n".encode("utf-8"))
    assert load_examples(path, ANTONYMS)[0].inputs == {"word": "hot"}


def test_missing_references_for_a_reference_based_task(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"word": "hot", "references": ["cold"]}\n{"word": "big"}\n')
    with pytest.raises(DataFileError, match=r"d.jsonl:2: .*needs at least one reference"):
        load_examples(path, ANTONYMS)


@pytest.mark.parametrize("text", ["", "\n\n", "concept,query\n"])
def test_empty_dataset_is_an_input_error(tmp_path, text):
    path = write(tmp_path, "empty.csv" if "," in text else "empty.jsonl", text)
    with pytest.raises(InputError, match="has no examples"):
        load_examples(path, ORES)


def test_missing_folder_and_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="dataset not found: nope.*bundled dataset: .*ores-train"):
        load_examples("nope", ORES)
    with pytest.raises(InputError, match="is a folder"):
        load_examples(tmp_path, ORES)
    path = write(tmp_path, "d.xml", "<x/>")
    with pytest.raises(InputError, match="unsupported format .xml"):
        load_examples(path, ORES)
