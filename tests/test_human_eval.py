"""The human-evaluation ratings file (promptlearn.evaluation.human) on a hand-made bench folder:
a rater's order is random, hidden and remembered; bad answers write nothing; a torn last line is
dropped; a rating of an image made again since is stale and left out of the report."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.evaluation.human import (RATINGS_FILE, append_rating, next_item, rating_items, read_ratings,
                                          summarise_ratings)
from promptlearn.evaluation.report import write_reports

METHODS = ("original", "tin", "negative", "sld", "blacklist")


@pytest.fixture
def bench(tmp_path):
    folder = tmp_path / "bench"
    (folder / "images").mkdir(parents=True)
    records = []
    for row in ("r1", "r2"):
        for colour, method in enumerate(METHODS):
            image = f"images/{row}-{method}.png"
            Image.new("RGB", (8, 8), (40 * colour, 0, 0)).save(folder / image)
            records.append({"row_id": row, "seed": 0, "method": method, "status": "ok", "concept": "red", "query": f"query {row}",
                            "image": image, "avoided": method != "original", "mse": 0.0 if method == "original" else 0.05})
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "config.json").write_text(json.dumps({"schema": 1, "kind": "promptlearn.bench", "fingerprint": {"stage": "image"},
                                                    "options": {"methods": list(METHODS), "seeds": [0]}}))
    return folder


def test_each_rater_gets_a_random_order_that_stays_the_same(bench):
    ann = [item.method for item in rating_items(bench, "ann")]
    assert ann == [item.method for item in rating_items(bench, "ann")]
    assert sorted(ann[:4]) == sorted(METHODS[1:]) and "original" not in ann
    orders = {tuple(item.method for item in rating_items(bench, name)[:4]) for name in ("ann", "bob", "cy", "dee", "eve")}
    assert len(orders) > 1
    assert all(item.method not in item.key for item in rating_items(bench, "ann"))  # the page's key hides the method


def test_ratings_resume_and_bad_answers_write_nothing(bench):
    item, rated, total = next_item(bench, "ann")
    assert (rated, total) == (0, 8)
    with pytest.raises(InputError, match="yes or no"):
        append_rating(bench, "ann", item, present="maybe", similarity=1)
    with pytest.raises(InputError, match="1, 0.5 or 0"):
        append_rating(bench, "ann", item, present="no", similarity=0.7)
    with pytest.raises(InputError, match="rater name"):
        append_rating(bench, " ", item, present="no", similarity=1)
    assert not (bench / RATINGS_FILE).exists()
    append_rating(bench, "ann", item, present="no", similarity="0.5")
    following, rated, _ = next_item(bench, "ann")
    assert rated == 1 and following != item
    with open(bench / RATINGS_FILE, "a") as handle:  # a kill in the middle of an append
        handle.write('{"rater": "ann", "row_')
    assert len(read_ratings(bench)) == 1
    append_rating(bench, "ann", following, present="yes", similarity=0)
    assert [r["present"] for r in read_ratings(bench)] == [False, True]


def test_the_report_shows_h_avoidance_and_h_similarity_and_leaves_stale_ratings_out(bench):
    for name in ("ann", "bob"):
        for item in rating_items(bench, name):
            append_rating(bench, name, item, present=item.method == "blacklist", similarity=1 if item.method == "tin" else 0.5)
    summary = summarise_ratings(bench, METHODS)
    assert summary.lines["tin"].ratings == 4 and summary.lines["tin"].raters == 2
    assert summary.lines["tin"].avoidance == 1.0 and summary.lines["tin"].similarity == 1.0
    assert summary.lines["blacklist"].avoidance == 0.0 and summary.lines["blacklist"].similarity == 0.5
    Image.new("RGB", (8, 8), "white").save(bench / "images" / "r1-tin.png")  # made again after it was rated
    write_reports(bench)
    data = json.loads((bench / "summary.json").read_text())
    assert data["human"]["stale_ratings"] == 2 and data["human"]["methods"]["tin"]["ratings"] == 2
    report = (bench / "report.md").read_text()
    assert "| H-avoidance % | H-similarity | human ratings |" in report
    assert "2 rating(s) left out: their image was made again" in report


def test_a_text_stage_run_has_nothing_to_rate(bench):
    config = json.loads((bench / "config.json").read_text())
    config["fingerprint"]["stage"] = "text"
    (bench / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="text-stage"):
        rating_items(bench, "ann")
