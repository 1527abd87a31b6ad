"""The toy world: renderer, captions, the exact judge, the evaluation set and the judge spec."""

from __future__ import annotations

import random

import numpy as np
import pytest

from promptlearn.cli.main import main
from promptlearn.evaluation.judges import JudgeError, parse_judge_spec
from promptlearn.toyworld import world
from promptlearn.toyworld.evalset import build_rows, evalset_tsv
from promptlearn.toyworld.judge import ToyJudge, read_image


def test_renderer_is_exact_and_deterministic():
    scene = world.Scene("red", "square", "left", "small", "black")
    image = world.render(scene)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.array_equal(image, world.render(scene))
    assert tuple(image[0, 0]) == world.BACKGROUNDS["black"]
    assert tuple(image[16, 9]) == world.COLOURS["red"]  # the left position's centre
    assert len(world.all_scenes()) == 360


@pytest.mark.parametrize("scene", world.all_scenes(), ids=lambda s: f"{s.colour}-{s.shape}-{s.position}-{s.size}-{s.background}")
def test_judge_reads_every_rendered_scene(scene):
    reading = read_image(world.render_pil(scene))
    assert reading.as_attributes() == {"colour": scene.colour, "shape": scene.shape, "position": scene.position,
                                       "size": scene.size, "background": scene.background}


def test_objects_at_edge_positions_never_touch_the_border():
    for position in ("left", "right", "top", "bottom"):
        for shape in world.SHAPES:
            mask = world.shape_mask(shape, position, "large")
            assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_judge_answers_concepts_in_explicit_and_implicit_words():
    image = world.render_pil(world.Scene("red", "circle", "left", "large", "gray"))
    judge = ToyJudge()
    asks = {"red": True, "crimson": True, "scarlet": True, "blue": False, "navy": False, "ball": True, "disc": True,
            "circle": True, "box": False, "pyramid": False, "left": True, "right": False, "large": True, "small": False,
            "gray background": True, "grey background": True, "white background": False, "a crimson ball on the left": True,
            "a red ball on the right": False}
    answers = judge.judge([image] * len(asks), list(asks))
    assert {c: a.present for c, a in zip(asks, answers)} == asks
    with pytest.raises(JudgeError, match="knows no concept"):
        judge.judge([image], ["dog"])


def test_judge_on_an_empty_image_sees_no_object():
    image = np.full((32, 32, 3), 255, dtype=np.uint8)
    reading = read_image(image)
    assert reading.colour is None and reading.background == "white"
    assert not ToyJudge().judge([image], ["red"])[0].present


def test_captions_name_what_the_scene_shows():
    rng = random.Random(0)
    for _ in range(300):
        scene = world.random_scene(rng)
        named = world.parse_caption(world.caption(scene, rng))
        assert all(getattr(scene, attribute) == value for attribute, value in named.items())


def test_parse_caption_maps_implicit_words():
    assert world.parse_caption("a large navy wedge at the top on a black background") == {
        "size": "large", "colour": "blue", "shape": "triangle", "position": "top", "background": "black"}
    assert world.parse_caption("black background") == {"background": "black"}


def test_evalset_has_explicit_and_implicit_rows_with_references():
    rows = build_rows()
    assert len(rows) >= 60
    assert any(r.implicit for r in rows) and any(not r.implicit for r in rows)
    for row in rows:
        assert 1 <= len(row.references) <= 3
        concept = world.parse_caption(row.concept)
        query = world.parse_caption(row.query)
        assert all(query.get(k) == v for k, v in concept.items()), row  # the query shows the concept
        for ref in row.references:
            named = world.parse_caption(ref)
            assert any(named.get(k) != v for k, v in concept.items()), ref  # the rewrite avoids it
    lines = evalset_tsv(rows).splitlines()
    assert lines[0].split("\t")[:4] == ["id", "concept", "implicit_object", "query"]


def test_bundled_toy_dataset_is_the_written_evalset():
    from promptlearn.data import load_examples
    from promptlearn.data.bundled import resolve_dataset
    from promptlearn.tasks.registry import get_task

    assert resolve_dataset("toy").read_text(encoding="utf-8") == evalset_tsv(build_rows())
    examples = load_examples("toy", get_task("ores"))
    assert examples[0].references and examples[0].inputs["concept"] == "red"


def test_judge_spec_toy():
    spec = parse_judge_spec("toy")
    assert str(spec) == "toy" and isinstance(spec.load(), ToyJudge)


def test_cli_render_draws_the_caption(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "x.png"
    assert main(["toy-world", "render", "a crimson ball on the left", "--seed", "3", "--out", str(out)]) == 0
    reading = read_image(Image.open(out))
    assert (reading.colour, reading.shape, reading.position) == ("red", "circle", "left")
    assert main(["toy-world", "render", "a dog", "--out", str(tmp_path / "y.png")]) != 0
    err = capsys.readouterr().err
    assert "names nothing" in err and "Traceback" not in err and not (tmp_path / "y.png").exists()
