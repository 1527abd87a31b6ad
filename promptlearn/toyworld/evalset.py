"""The toy ORES evaluation set: concept, implicit word (or empty), query and 1-3 reference rewrites.

Written by :func:`write_evalset` as a TSV with a header row (``id, concept, implicit_object, query,
reference_1 .. reference_3``), the form promptlearn's dataset loaders read; the package ships it as the
bundled dataset ``toy`` (datasets/toy.tsv). Explicit rows name the concept ("a red circle", concept
red); implicit rows only imply it ("a crimson ball", concept red, implicit word crimson). Queries leave
some attributes out, so the seed decides them and the prompt switch's layout preservation shows.
A reference rewrite swaps the concept's word for another value of the same attribute and keeps the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from . import world


@dataclass(frozen=True)
class EvalRow:
    id: str
    concept: str
    implicit: str
    query: str
    references: tuple[str, ...]


def _phrase(size: str | None, colour: str | None, shape: str, position: str | None, background: str | None) -> str:
    words = ["a"]
    if size:
        words.append(size)
    if colour:
        words.append(colour)
    words.append(shape)
    if position:
        words.append(world.POSITION_PHRASES[position])
    if background:
        words.append(f"on a {background} background")
    return " ".join(words)


def build_rows(seed: int = 13) -> list[EvalRow]:
    rng = random.Random(seed)
    rows: list[EvalRow] = []

    def extras(p_size=0.3, p_position=0.5, p_background=0.35):
        return (rng.choice(list(world.SIZES)) if rng.random() < p_size else None,
                rng.choice(list(world.POSITIONS)) if rng.random() < p_position else None,
                rng.choice(list(world.BACKGROUNDS)) if rng.random() < p_background else None)

    # colour concepts: 3 explicit + 6 implicit rows per colour
    for colour in world.COLOURS:
        others = [c for c in world.COLOURS if c != colour]
        implicit_words = world.colour_words(colour)[1:]
        for word in [colour] * 3 + implicit_words * 3:
            size, position, background = extras()
            shape = rng.choice(world.shape_words(rng.choice(world.SHAPES)))
            query = _phrase(size, word, shape, position, background)
            refs = tuple(_phrase(size, other, shape, position, background) for other in rng.sample(others, 3))
            rows.append(EvalRow("", colour, "" if word == colour else word, query, refs))
    # shape concepts: 3 explicit + 4 implicit rows per shape
    for shape in world.SHAPES:
        others = [s for s in world.SHAPES if s != shape]
        implicit_words = world.shape_words(shape)[1:]
        for word in [shape] * 3 + [rng.choice(implicit_words) for _ in range(4)]:
            size, position, background = extras()
            colour = rng.choice(world.colour_words(rng.choice(list(world.COLOURS))))
            query = _phrase(size, colour, word, position, background)
            refs = tuple(_phrase(size, colour, other, position, background) for other in others)
            rows.append(EvalRow("", shape, "" if word == shape else word, query, refs))
    # background concepts: 2 rows per background
    for background in world.BACKGROUNDS:
        others = [b for b in world.BACKGROUNDS if b != background]
        for _ in range(2):
            size, position, _unused = extras()
            colour = rng.choice(world.colour_words(rng.choice(list(world.COLOURS))))
            shape = rng.choice(world.shape_words(rng.choice(world.SHAPES)))
            query = _phrase(size, colour, shape, position, background)
            refs = tuple(_phrase(size, colour, shape, position, other) for other in others)
            rows.append(EvalRow("", f"{background} background", "", query, refs))
    # position concepts: 1 row per position
    for position in world.POSITIONS:
        others = [p for p in world.POSITIONS if p != position]
        size, _unused, background = extras()
        colour = rng.choice(world.colour_words(rng.choice(list(world.COLOURS))))
        shape = rng.choice(world.shape_words(rng.choice(world.SHAPES)))
        query = _phrase(size, colour, shape, position, background)
        refs = tuple(_phrase(size, colour, shape, other, background) for other in rng.sample(others, 3))
        rows.append(EvalRow("", position, "", query, refs))
    return [EvalRow(f"toy-{i:02d}", r.concept, r.implicit, r.query, r.references) for i, r in enumerate(rows, 1)]


def evalset_tsv(rows: list[EvalRow]) -> str:
    lines = ["\t".join(["id", "concept", "implicit_object", "query", "reference_1", "reference_2", "reference_3"])]
    for row in rows:
        refs = list(row.references) + [""] * (3 - len(row.references))
        lines.append("\t".join([row.id, row.concept, row.implicit, row.query, *refs]))
    return "\n".join(lines) + "\n"


def write_evalset(path: str | Path, *, seed: int = 13) -> Path:
    from ..files import atomic_write_text

    path = Path(path)
    atomic_write_text(path, evalset_tsv(build_rows(seed)))
    return path
