"""``promptlearn tasks``."""

from promptlearn.cli.main import main


def test_tasks_lists_builtin_tasks_with_fields_and_data(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["NAME", "FIELDS"]
    rows = {line.split()[0]: line for line in out[1:]}
    assert "concept, query" in rows["ores"] and "ores-train / ores-val" in rows["ores"]
    assert "word" in rows["antonyms"] and "antonyms-train / antonyms-val" in rows["antonyms"]


def test_unknown_option_is_one_line_error(capsys):
    assert main(["tasks", "--bogus"]) != 0
    assert capsys.readouterr().err.startswith("error: ")
