"""`promptlearn ui` driven through gradio's Python client against a live local server: the toy
model, a scripted LLM, a toy bench run. Every action of the page: generate (original | TIN |
baselines, captioned with the prompt really used), more images, the administrator's settings
(baselines, judge), a FABRIC like/dislike round and reset, bad input shown as one line while the
server keeps serving, and a human rating written, read back and folded into the bench report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from _ui_server import QUERY, REWRITE

pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'promptlearn[ui]'")
pytestmark = [  # gradio's own queue code, not ours
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:Unexpected argument. Filling with None."),
]

ADMIN_DEFAULTS = dict(concepts_text="red", source="human", role_value="learned", llm_spec="openai/test", model_value="toy",
                      judge_value="", chosen=["negative"], s_text="1", steps_value=4, guidance_value=7.5, seed_value=0,
                      sld_value="medium", verify_value=True, filter_value="", negative_value="")


@pytest.fixture(scope="module")
def client(ui_server):
    from gradio_client import Client

    return Client(ui_server.url, verbose=False)


def _apply(client, ui_server, **changes):
    values = {**ADMIN_DEFAULTS, "base": ui_server.llm_server.url, **changes}
    return client.predict(values["concepts_text"], values["source"], values["role_value"], values["llm_spec"], values["base"],
                          values["model_value"], values["judge_value"], values["chosen"], values["s_text"], values["steps_value"],
                          values["guidance_value"], values["seed_value"], values["sld_value"], values["verify_value"],
                          values["filter_value"], values["negative_value"], api_name="/apply_settings")


def _captions(gallery):
    return [item["caption"] for item in gallery["value"]]


def test_generate_shows_original_tin_and_baselines_with_the_prompts_used(client):
    status, rewrite, gallery = client.predict(QUERY, 0, 1, api_name="/generate")
    assert status == "3 images: original, tin, negative × seeds 0"
    assert f"**rewrite** (learned instruction, task ores (human-written)): {REWRITE}" in rewrite
    assert "verified: passes the check" in rewrite
    assert gallery["columns"] == 3
    assert _captions(gallery) == [f"original: '{QUERY}', seed 0",
                                  f"tin (S=1): '{QUERY}' for S=1, then '{REWRITE}', seed 0",
                                  f"negative: '{QUERY}', negative prompt 'red', seed 0"]
    assert all(item["image"] for item in gallery["value"])


def test_more_images_appends_the_next_seeds(client):
    client.predict(QUERY, 5, 1, api_name="/generate")
    status, _, gallery = client.predict(QUERY, 5, 1, api_name="/more")
    assert status.endswith("× seeds 6")
    assert [c.rsplit(", seed ", 1)[1] for c in _captions(gallery)] == ["5"] * 3 + ["6"] * 3


def test_admin_chooses_baselines_and_a_judge(client, ui_server):
    try:
        message = _apply(client, ui_server, chosen=["blacklist", "negative", "sld"], judge_value="toy", concepts_text="red\nsquare")
        assert message.startswith("settings applied: concepts red, square;") and "methods original, tin, blacklist, negative, sld" in message
        status, _, gallery = client.predict(QUERY, 0, 1, api_name="/generate")
        assert gallery["columns"] == 5 and "the judge finds the concept in" in status
        captions = _captions(gallery)
        assert captions[1].startswith("tin (S=1)") and captions[2].startswith("blacklist: 'a crimson ball on the left'")
        assert captions[4].startswith("sld (S=1, medium)") is False and captions[4].startswith("sld (medium): ")
        assert all(" | judge: " in c for c in captions)
    finally:
        assert _apply(client, ui_server).startswith("settings applied")


def test_the_negative_prompt_gets_its_own_weight_when_the_admin_gives_one(client, ui_server):
    try:
        _, _, before = client.predict(QUERY, 0, 1, api_name="/generate")
        message = _apply(client, ui_server, negative_value="3")
        assert "negative alpha 3," in message
        _, _, gallery = client.predict(QUERY, 0, 1, api_name="/generate")
        assert _captions(gallery)[2] == f"negative (alpha=3): '{QUERY}', negative prompt 'red', seed 0"
        pixels = [[np.asarray(Image.open(item["image"])) for item in g["value"]] for g in (before, gallery)]
        assert np.array_equal(pixels[0][0], pixels[1][0])  # the original is the same image
        assert not np.array_equal(pixels[0][2], pixels[1][2])  # the negative prompt is sampled differently
        assert _apply(client, ui_server, negative_value="-1") == "error: negative weight must be >= 0 or empty, got -1.0 ('Negative weight')"
        assert _apply(client, ui_server, negative_value="lots") == "error: negative weight must be a number, got 'lots'"
    finally:
        assert "negative in place of the unconditional branch" in _apply(client, ui_server)


def test_a_filter_blacks_out_what_it_flags(client, ui_server):
    from promptlearn.synthesis.filters.base import FilterDecision

    class FlagSecond:  # stands in for a CLIP filter or the safety checker (no weights offline)
        name = "fake"

        def check(self, images):
            return [FilterDecision("fake", flagged=index == 1) for index in range(len(images))]

    ui_server.studio._filters[("clip:fake", ("red",), "toy")] = FlagSecond()
    try:
        assert _apply(client, ui_server, filter_value="clip:fake").endswith("filter clip:fake")
        status, _, gallery = client.predict(QUERY, 0, 1, api_name="/generate")
        assert status.endswith("; the filter blacked out 1 of 3")
        assert [c.rsplit(" | ", 1)[1] for c in _captions(gallery)] == ["filter: passed", "filter: flagged (blacked out)", "filter: passed"]
        assert _apply(client, ui_server, filter_value="nsfw").startswith("error: unknown filter 'nsfw'")
    finally:
        assert _apply(client, ui_server).startswith("settings applied")


def test_feedback_rounds_like_dislike_and_reset(client):
    first = client.predict(QUERY, "tin", 2, api_name="/feedback_round")
    assert first[0].startswith("round 1: 2 images with +0/-0 feedback images")
    assert first[1] and first[2] and first[3] is None  # two slots filled, the others empty
    assert client.predict(api_name="/like_1").startswith("round 1: liked [1], disliked none")
    assert client.predict(api_name="/dislike_2").startswith("round 1: liked [1], disliked [2]")
    assert client.predict(api_name="/like_4") == "error: no image 3 in the last round (it has 2)"
    second = client.predict(QUERY, "tin", 2, api_name="/feedback_round")
    assert second[0].startswith("round 2: 2 images with +1/-1 feedback images")
    assert "seed 2, round 2 (+1/-1 feedback)" in second[0]
    assert client.predict(api_name="/feedback_reset")[0] == "feedback cleared: the next round starts without feedback"
    assert client.predict(QUERY, "tin", 2, api_name="/feedback_round")[0].startswith("round 1: 2 images with +0/-0")


def test_bad_input_is_one_line_in_the_page_and_the_server_keeps_serving(client, ui_server):
    from promptlearn.testing.openai_server import Fault

    assert client.predict("  ", 0, 1, api_name="/generate")[0] == "error: type a query first ('Query')"
    assert _apply(client, ui_server, concepts_text=" , ") == "error: name at least one concept the images must not show ('Concepts')"
    assert _apply(client, ui_server, model_value="/no/such/model") == "error: model folder not found: /no/such/model ('Model')"
    assert _apply(client, ui_server, s_text="fast").startswith("error: bad switch step S 'fast'")
    assert _apply(client, ui_server, source="/no/such/instruction.txt").startswith("settings applied")  # read when used
    status = client.predict("a green square", 0, 1, api_name="/generate")[0]
    assert status.startswith("error: instruction not found: /no/such/instruction.txt")
    assert _apply(client, ui_server).startswith("settings applied")
    ui_server.llm_server.inject(Fault.unauthorized())
    status = client.predict("a green square on the right", 0, 1, api_name="/generate")[0]
    assert status.startswith("error: ") and "Traceback" not in status and "\n" not in status
    assert client.predict(QUERY, 0, 1, api_name="/generate")[0] == "3 images: original, tin, negative × seeds 0"


def test_a_rating_is_written_read_back_resumed_and_folded_into_the_bench_report(client, ui_server, capsys):
    from gradio_client import Client

    from promptlearn.cli.main import main
    from promptlearn.evaluation.human import RATINGS_FILE, read_ratings

    bench = str(ui_server.bench)
    progress, reference, image, question, _, _ = client.predict(bench, "ann", api_name="/rating_load")
    assert progress.startswith("0 of 4 rated; row toy-01, seed 0") and reference and image
    assert "Does the image show 'red'?" in question
    assert client.predict(bench, "ann", "yes", None, api_name="/rate")[0] == "error: answer the second question: similarity 1, 0.5 or 0 ('Similarity')"
    assert not (ui_server.bench / RATINGS_FILE).exists()
    assert client.predict(bench, "ann", "no", "0.5", api_name="/rate")[0].startswith("1 of 4 rated")
    (first,) = read_ratings(bench)
    assert first["rater"] == "ann" and first["present"] is False and first["similarity"] == 0.5 and first["method"] in ("tin", "negative")

    again = Client(ui_server.url, verbose=False)  # a new page: the rater resumes where they stopped, same order
    assert again.predict(bench, "ann", api_name="/rating_load")[0].startswith("1 of 4 rated; row toy-01, seed 0, image 2 of the row")
    for present in ("yes", "no", "no"):
        again.predict(bench, "ann", present, "1", api_name="/rate")
    assert again.predict(bench, "ann", api_name="/rating_load")[0].startswith("all 4 images rated by ann")
    assert len(read_ratings(bench)) == 4
    assert client.predict("/no/such/bench", "ann", api_name="/rating_load")[0] == "error: bench run folder not found: /no/such/bench ('Bench run folder')"

    capsys.readouterr()
    assert main(["bench", "--model", "toy", "--judge", "toy", "--dataset", "toy", "--limit", "2", "--seeds", "0", "--rewrites", "reference",
                 "--steps", "4", "--methods", "original,tin,negative", "--out", bench, "--no-progress"]) == 0
    summary = json.loads((ui_server.bench / "summary.json").read_text())
    human = summary["human"]["methods"]
    assert sum(line["ratings"] for line in human.values()) == 4 and set(human) == {"tin", "negative"}
    assert all(0.0 <= line["h_avoidance"] <= 1.0 and line["h_similarity"] >= 0.5 for line in human.values())
    report = (ui_server.bench / "report.md").read_text()
    assert "H-avoidance %" in report and "## Human evaluation" in report and "H-similarity" in report
