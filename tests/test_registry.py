"""Finding tasks: built-in names, registered factories, user .py and .yaml task files."""

import textwrap

import pytest

from promptlearn.errors import DataFileError, InputError
from promptlearn.tasks import Example, Task, get_task, list_tasks, register_task
from promptlearn.tasks import registry
from promptlearn.tasks.parsers import first_line
from promptlearn.tasks.scorers import ContainsScorer, ExactMatchScorer


@pytest.fixture
def clean_registry(monkeypatch):
    """Tests that register tasks get a private copy of the registry."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._registry()))


def test_builtin_tasks_are_listed_with_summaries():
    listed = dict(list_tasks())
    assert {"ores", "antonyms"} <= set(listed)
    assert all(listed[name] for name in ("ores", "antonyms"))
    assert get_task("ores").name == "ores" and get_task("antonyms").input_fields == ("word",)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown task 'nope' \(known: .*antonyms.*ores"):
        get_task("nope")


def test_register_task(clean_registry):
    def make() -> Task:
        return Task(name="echo", input_fields=("x",), scorer=ExactMatchScorer(), description_template="d", predict_template="p", summary="echo it")

    register_task("echo", make)
    assert get_task("echo").name == "echo" and ("echo", "echo it") in list_tasks()
    with pytest.raises(InputError, match="already registered"):
        register_task("echo", make)
    register_task("echo", make, replace=True)
    with pytest.raises(InputError, match="task name"):
        register_task("Bad Name", make)


def test_factory_must_return_a_task(clean_registry):
    register_task("broken", lambda: "not a task")
    with pytest.raises(InputError, match="expected a promptlearn Task, got str"):
        get_task("broken")


PY_TASK = """
from promptlearn.tasks import Task
from promptlearn.tasks.scorers import ExactMatchScorer

{body}
"""


def write_py(tmp_path, body: str, name="mytask.py"):
    path = tmp_path / name
    path.write_text(PY_TASK.format(body=textwrap.dedent(body)))
    return path


def test_python_file_with_TASK(tmp_path):
    path = write_py(tmp_path, "TASK = Task(name='upper', input_fields=('text',), scorer=ExactMatchScorer(), description_template='tasks/antonyms/task.j2', predict_template='tasks/antonyms/predict.j2')")
    assert get_task(str(path)).name == "upper"


def test_python_file_with_make_task(tmp_path):
    path = write_py(tmp_path, "def make_task():\n    return Task(name='lower', input_fields=('text',), scorer=ExactMatchScorer(), description_template='d', predict_template='p')")
    assert get_task(str(path)).name == "lower"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("def (:", "import failed: SyntaxError"),
        ("raise RuntimeError('boom')", "import failed: RuntimeError: boom"),
        ("X = 1", "defines neither TASK"),
        ("TASK = 42", "expected a promptlearn Task, got int"),
        ("def make_task():\n    raise KeyError('k')", "make_task\\(\\) failed: KeyError"),
    ],
)
def test_broken_python_files_are_one_line_errors_naming_the_file(tmp_path, body, problem):
    path = write_py(tmp_path, body)
    with pytest.raises(InputError, match=problem) as info:
        get_task(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_task_file(tmp_path):
    with pytest.raises(InputError, match="task file not found"):
        get_task(str(tmp_path / "absent.yaml"))


def test_yaml_task_inline(tmp_path):
    path = tmp_path / "past.yaml"
    path.write_text(textwrap.dedent("""\
        name: past-tense
        input_fields: [verb]
        description: "Past tense: give the simple past of an English verb."
        predict: |
          {{ verb | field("verb") }}
          Past tense:
        parser: first_line
        scorer: exact_match
        human_instruction: Write the simple past tense of the verb.
        default_trainset: antonyms-train
        """))
    task = get_task(str(path))
    assert task.name == "past-tense" and task.input_fields == ("verb",) and task.parse is first_line
    assert isinstance(task.scorer, ExactMatchScorer) and task.requires_references
    assert task.human_instruction.startswith("Write") and task.default_trainset == "antonyms-train"
    library = task.prompt_library()
    assert task.render_predict(library, Example(id="1", inputs={"verb": "go"}, references=("went",))) == "<verb>\ngo\n</verb>\nPast tense:"
    assert task.render_description(library).startswith("Past tense")
    with pytest.raises(InputError, match="reference"):
        task.check_example(Example(id="1", inputs={"verb": "go"}))


def test_yaml_task_with_template_files_and_local_dataset(tmp_path):
    (tmp_path / "task.j2").write_text("Find the capital of a country.")
    (tmp_path / "predict.j2").write_text("{{ country | field('country') }}")
    (tmp_path / "capitals.jsonl").write_text('{"country": "France", "reference": "Paris"}\n')
    path = tmp_path / "capitals.yml"
    path.write_text("name: capitals\ninput_fields: [country]\ndescription_file: task.j2\npredict_file: predict.j2\nscorer: contains\ndefault_trainset: capitals.jsonl\n")
    task = get_task(str(path))
    assert isinstance(task.scorer, ContainsScorer)
    assert task.default_trainset == str(tmp_path / "capitals.jsonl")
    assert task.templates["yaml/capitals/task.j2"] == "Find the capital of a country."


def test_yaml_task_with_ores_scorer(tmp_path):
    path = tmp_path / "ores2.yaml"
    path.write_text("name: ores2\ninput_fields: [concept, query]\ndescription: d\npredict: \"{{ concept | field('c') }} {{ query | field('q') }}\"\nscorer: ores\n")
    task = get_task(str(path))
    with pytest.raises(InputError, match="names no concept"):
        task.check_example(Example(id="1", inputs={"concept": ",", "query": "q"}))


BASE_YAML = "name: t\ninput_fields: [x]\ndescription: d\npredict: \"{{ x | field('x') }}\"\nscorer: exact_match\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: t\ninput_fields: x: y\n", r":2: invalid YAML: mapping values are not allowed"),
        ("- a\n- b\n", "expected a mapping"),
        (BASE_YAML + "colour: red\n", "unknown key\\(s\\) colour"),
        (BASE_YAML.replace("exact_match", "bleu"), "scorer 'bleu' is not one of"),
        (BASE_YAML + "parser: json\n", "parser 'json' is not one of"),
        (BASE_YAML.replace("[x]", "[]"), "'input_fields' must be a non-empty list"),
        (BASE_YAML.replace("[x]", "[x, x]"), "duplicates"),
        (BASE_YAML.replace("name: t", "name: Bad Name"), "must be lower-case"),
        (BASE_YAML.replace("description: d", "description_file: missing.j2"), "'description_file' not found"),
        (BASE_YAML + "predict_file: p.j2\n", "give exactly one of 'predict'"),
        (BASE_YAML.replace("field('x') }}", "field('x') "), "prompt template"),  # jinja syntax error
        (BASE_YAML.replace("x | field", "y | field"), "'y' is undefined"),
        (BASE_YAML.replace("[x]", "[concept]").replace("x | field", "concept | field").replace("exact_match", "ores"), "needs input fields 'concept' and 'query'"),
    ],
)
def test_broken_yaml_files_are_one_line_errors_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "task.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError, match=problem) as info:
        get_task(str(path))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_folder_instead_of_task_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        get_task(str(tmp_path))
