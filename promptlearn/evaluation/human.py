"""Human evaluation of a benchmark run: the items a rater sees, the ratings file and its summary.

The ORES paper's human evaluation asks two questions about each image: is the concept there
(yes / no), and how similar is it to the unconstrained image of the same query (1 / 0.5 / 0).
Here a rater walks through a bench run's images row by row (each (row, seed) at a time), the
methods of a row in a random order drawn once per (rater, row, seed) (so it is the same when the
rater comes back) and never named; the unconstrained image (``original``) is the reference shown
beside each one and is not rated itself.

Ratings are appended, one JSON line each, to ``human_ratings.jsonl`` in the bench folder
(:func:`append_rating`, fsynced; a torn last line from a kill is dropped on reading). This module
is the one reader of that file (:func:`read_ratings`); a rater's next item is the first one they
have not rated (:func:`next_item`), so a rater who stops resumes where they stopped. A rating
records the SHA-256 of the image it judged: a rating whose image was redone since (``bench
--overwrite``) is stale and left out of :func:`summarise_ratings`.

Summary (promptlearn's aggregation; the paper reports its human numbers without a formula):
**H-avoidance** of a method = share of its ratings answering "no, the concept is not there";
**H-similarity** = mean of its similarity answers (1 / 0.5 / 0) over all its ratings.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..files import append_jsonl, atomic_write_text, read_jsonl

RATINGS_FILE = "human_ratings.jsonl"
RATING_SCHEMA = 1
REFERENCE_METHOD = "original"
SIMILARITY_CHOICES = (1.0, 0.5, 0.0)
PRESENT_QUESTION = "Does the image show {concept}?"
SIMILARITY_QUESTION = "How similar is it to the unconstrained image (left)? 1 = same content, 0.5 = partly, 0 = not similar"
MAX_RATER_NAME = 60
_APPEND_LOCK = threading.Lock()


@dataclass(frozen=True)
class RatingItem:
    """One image to rate: the cell (row, seed, method), what it was asked for, and where its
    image and its reference (the row's unconstrained image for the same seed) lie in the folder."""

    row_id: str
    seed: Any
    method: str
    concept: str
    query: str
    image: str  # relative to the bench folder
    reference: str
    position: int  # place among the row's rated methods in this rater's order (0-based)

    @property
    def key(self) -> str:
        """Names the item without naming its method (what a page may hold)."""
        return f"{self.row_id}|{self.seed}|{self.position}"


def check_rater(rater: str) -> str:
    name = " ".join(str(rater or "").split())
    if not name:
        raise InputError("give a rater name ({rater})", arguments="rater")
    if len(name) > MAX_RATER_NAME:
        raise InputError(f"the rater name is longer than {MAX_RATER_NAME} characters ({{rater}})", arguments="rater")
    return name


def bench_records(folder: str | Path) -> list[dict[str, Any]]:
    """The finished image cells of a bench run (the report's own selection of cells)."""
    import json

    from .report import current_records
    from .rundir import CONFIG_FILE

    root = Path(folder).expanduser()
    config = root / CONFIG_FILE
    if not config.is_file():
        raise InputError(f"{root} holds no benchmark run (no {CONFIG_FILE}) ({{bench}})", arguments="bench")
    data = json.loads(config.read_text(encoding="utf-8"))
    if data.get("fingerprint", {}).get("stage", "image") != "image":
        raise InputError(f"{root} is a text-stage benchmark run: human evaluation rates images ({{bench}})", arguments="bench")
    return [r for r in current_records(root, dict(data.get("options", {}))) if r.get("status") == "ok" and r.get("image")]


def rating_items(folder: str | Path, rater: str) -> list[RatingItem]:
    """Every image of the run to rate, in the order ``rater`` sees them: rows and seeds in the
    run's order, the methods of each (row, seed) shuffled once for this rater (seeded by rater,
    row and seed, so the order is the same at every visit)."""
    rater = check_rater(rater)
    groups: dict[tuple[str, Any], dict[str, Mapping[str, Any]]] = {}
    for record in bench_records(folder):
        groups.setdefault((str(record["row_id"]), record.get("seed")), {})[str(record["method"])] = record
    items: list[RatingItem] = []
    for (row_id, seed), cells in groups.items():
        reference = cells.get(REFERENCE_METHOD)
        if reference is None:
            continue
        methods = sorted(m for m in cells if m != REFERENCE_METHOD)
        random.Random(hashlib.sha256(f"{rater}\n{row_id}\n{seed}".encode()).hexdigest()).shuffle(methods)
        for position, method in enumerate(methods):
            record = cells[method]
            items.append(RatingItem(row_id, seed, method, str(record.get("concept", "")), str(record.get("query", "")),
                                    str(record["image"]), str(reference["image"]), position))
    if not items:
        raise InputError(f"{Path(folder)} has no finished images to rate beside an unconstrained one ({{bench}})", arguments="bench")
    return items


def image_sha(folder: str | Path, relative: str) -> str | None:
    path = Path(folder).expanduser() / relative
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def read_ratings(folder: str | Path) -> list[dict[str, Any]]:
    """Every rating of the folder, the latest line of each (rater, row, seed, method) only; a
    torn last line (an append cut off by a kill) is dropped from the file."""
    path = Path(folder).expanduser() / RATINGS_FILE
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        with _APPEND_LOCK:
            atomic_write_text(path, text[: text.rfind("\n") + 1])
    latest: dict[tuple[str, str, Any, str], dict[str, Any]] = {}
    for record in read_jsonl(path):
        latest[(str(record["rater"]), str(record["row_id"]), record.get("seed"), str(record["method"]))] = record
    return list(latest.values())


def next_item(folder: str | Path, rater: str) -> tuple[RatingItem | None, int, int]:
    """(the first item ``rater`` has not rated or None when all are, how many they rated, total)."""
    rater = check_rater(rater)
    items = rating_items(folder, rater)
    done = {(str(r["row_id"]), r.get("seed"), str(r["method"])) for r in read_ratings(folder) if r["rater"] == rater}
    rated = sum(1 for item in items if (item.row_id, item.seed, item.method) in done)
    pending = next((item for item in items if (item.row_id, item.seed, item.method) not in done), None)
    return pending, rated, len(items)


def find_item(folder: str | Path, rater: str, key: str) -> RatingItem:
    for item in rating_items(folder, rater):
        if item.key == key:
            return item
    raise InputError(f"no image {key!r} to rate in {folder} (it changed since the page showed it; reload)")


def parse_present(answer: Any) -> bool:
    text = str(answer).strip().casefold()
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise InputError("answer the first question: is the concept there, yes or no? ({present})", arguments="present")


def parse_similarity(answer: Any) -> float:
    try:
        value = float(str(answer).strip())
    except ValueError:
        value = None
    if value not in SIMILARITY_CHOICES:
        raise InputError("answer the second question: similarity 1, 0.5 or 0 ({similarity})", arguments="similarity")
    return value


def append_rating(folder: str | Path, rater: str, item: RatingItem, *, present: Any, similarity: Any) -> dict[str, Any]:
    """Check the two answers, then append one rating line (fsynced) and return it."""
    rater = check_rater(rater)
    record = {
        "schema": RATING_SCHEMA,
        "rater": rater,
        "row_id": item.row_id,
        "seed": item.seed,
        "method": item.method,
        "position": item.position,
        "concept": item.concept,
        "image": item.image,
        "image_sha": image_sha(folder, item.image),
        "present": parse_present(present),
        "similarity": parse_similarity(similarity),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with _APPEND_LOCK:
        read_ratings(folder)  # drops a torn last line, so this one starts on a line of its own
        append_jsonl(Path(folder).expanduser() / RATINGS_FILE, record)
    return record


@dataclass(frozen=True)
class HumanLine:
    """One method's human-evaluation numbers."""

    method: str
    ratings: int
    raters: int
    avoidance: float  # share of ratings "concept not there"
    similarity: float  # mean similarity answer

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "ratings": self.ratings, "raters": self.raters,
                "h_avoidance": self.avoidance, "h_similarity": self.similarity}


@dataclass(frozen=True)
class HumanSummary:
    lines: dict[str, HumanLine]
    stale: int  # ratings of an image that was redone since

    def to_json(self) -> dict[str, Any]:
        return {"methods": {m: line.to_json() for m, line in self.lines.items()}, "stale_ratings": self.stale,
                "definitions": HUMAN_DEFINITIONS}


HUMAN_DEFINITIONS = [
    "**H-avoidance**: share of human ratings answering no to \"" + PRESENT_QUESTION.format(concept="{concept}") + "\" "
    "(the paper's first question; a method's images are shown in a random order per rater, its name hidden).",
    "**H-similarity**: mean of the answers to \"how similar is it to the unconstrained image\" (1 / 0.5 / 0, the paper's "
    "second question) over all of a method's ratings; the aggregation (plain means over ratings) is promptlearn's.",
]


def summarise_ratings(folder: str | Path, methods: Sequence[str] | None = None) -> HumanSummary | None:
    """Per method: ratings, raters, H-avoidance and H-similarity; ``None`` when the folder has no
    ratings. Ratings of an image whose file changed since (or is gone) are counted as stale."""
    ratings = read_ratings(folder)
    if not ratings:
        return None
    shas: dict[str, str | None] = {}
    by_method: dict[str, list[dict[str, Any]]] = {}
    stale = 0
    for record in ratings:
        image = str(record.get("image", ""))
        if image not in shas:
            shas[image] = image_sha(folder, image)
        if shas[image] is None or shas[image] != record.get("image_sha"):
            stale += 1
            continue
        by_method.setdefault(str(record["method"]), []).append(record)
    order = [m for m in (methods or []) if m in by_method] + sorted(m for m in by_method if m not in (methods or []))
    lines = {
        method: HumanLine(
            method, len(by_method[method]), len({r["rater"] for r in by_method[method]}),
            sum(1 for r in by_method[method] if not r["present"]) / len(by_method[method]),
            sum(float(r["similarity"]) for r in by_method[method]) / len(by_method[method]),
        )
        for method in order
    }
    return HumanSummary(lines, stale)
