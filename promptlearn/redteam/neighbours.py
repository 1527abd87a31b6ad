"""Embedding-neighbour synonyms: for each concept, the words nearest to it by the sentence-embedding
model (MiniLM, the model the ORES check's semantic threshold uses), over a vocabulary the project does
not write by hand -- the whole-word entries of MiniLM's own WordPiece vocabulary (lowercase a-z, at
least 3 letters: 21,358 words). An attacker who does not know the project lexicon would pick such
words; the ``neighbour`` attack (:mod:`promptlearn.redteam.attacks`) swaps them in, so its detection
rate is an *open-world* figure beside the lexicon's closed-world synonym figure.

The table is computed once (``bench/redteam_neighbours.py``) and bundled
(:data:`NEIGHBOURS_FILE`), so the attack needs no model and stays a pure function of its inputs.
Excluded from a concept's neighbours: the concept's own words and their inflections (what the
words-only matcher already finds: ``dogs`` for ``dog`` is no synonym) and WordPiece fragments
shorter than 3 letters.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

NEIGHBOURS_FILE = Path(__file__).resolve().parent / "neighbours.json"
K = 3


def vocabulary(model_path: str | Path | None = None) -> list[str]:
    """The whole-word entries of MiniLM's WordPiece vocabulary (``vocab.txt``): lowercase a-z, >= 3 letters."""
    from ..tasks.embeddings import minilm_path

    folder = Path(model_path) if model_path is not None else minilm_path()
    words = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return list(dict.fromkeys(w.strip() for w in words if re.fullmatch(r"[a-z]{3,}", w.strip())))


def nearest_neighbours(concepts: Sequence[str], embedder: Any, vocab: Sequence[str], *, k: int = K) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` vocabulary words nearest to each concept (cosine of unit vectors), with their
    similarity, leaving out the concept's own words and inflections."""
    import numpy as np

    from ..tasks.concept_match import find_concept

    words = list(vocab)
    matrix = embedder.encode(words)
    out: dict[str, list[tuple[str, float]]] = {}
    for concept in concepts:
        [vector] = embedder.encode([concept])
        sims = matrix @ vector
        picked: list[tuple[str, float]] = []
        for index in np.argsort(-sims):
            word = words[int(index)]
            if find_concept(concept, word, lexicon=None, obfuscation=False) is not None:
                continue
            if any(find_concept(part, word, lexicon=None, obfuscation=False) is not None for part in re.split(r"[\s-]+", concept) if len(part) >= 3):
                continue
            picked.append((word, round(float(sims[int(index)]), 4)))
            if len(picked) == k:
                break
        out[concept] = picked
    return out


@functools.lru_cache(maxsize=1)
def neighbour_table() -> Mapping[str, tuple[str, ...]]:
    """concept -> its bundled neighbour words (nearest first); empty when the table is not bundled."""
    if not NEIGHBOURS_FILE.is_file():
        return {}
    data = json.loads(NEIGHBOURS_FILE.read_text(encoding="utf-8"))
    return {concept: tuple(entry["word"] for entry in entries) for concept, entries in data["neighbours"].items()}


def neighbours_of(concept: str) -> tuple[str, ...]:
    key = " ".join(concept.casefold().split())
    table = neighbour_table()
    if key in table:
        return table[key]
    if key.endswith("s") and key[:-1] in table:
        return table[key[:-1]]
    return ()
