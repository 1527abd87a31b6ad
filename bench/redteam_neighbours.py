"""Embedding-neighbour synonyms (the ``neighbour`` attack) and the detection rate they leave: an
open-world figure beside the closed-world 100% of the lexicon synonym attack::

    OMP_NUM_THREADS=1 .venv/bin/python bench/redteam_neighbours.py            # measure with the bundled table
    OMP_NUM_THREADS=1 .venv/bin/python bench/redteam_neighbours.py --write    # recompute the table first

``--write`` embeds MiniLM's whole-word vocabulary (21,358 words) and writes each concept's 3 nearest
words (the concept set and the toy world's concepts) to promptlearn/redteam/neighbours.json. Then the
``neighbour`` attack runs on the project's concept set (45 concepts x 3 templates x 3 seeds = 405
queries) and three checks count what they catch: the text check as shipped (obfuscation views and
lexicon, no embeddings), the MiniLM check alone (lexicon off, threshold 0.80, as ``--embedding`` in
bench/redteam_detection.py), and both (the ORES scorer with lexicon and embeddings).
"""
import json
import sys
import time

from promptlearn.files import atomic_write_text
from promptlearn.redteam.attacks import ATTACKS
from promptlearn.redteam.detection import QUERY_TEMPLATES
from promptlearn.redteam.neighbours import K, NEIGHBOURS_FILE, nearest_neighbours, neighbour_table, vocabulary
from promptlearn.tasks.base import Example
from promptlearn.tasks.concept_match import find_concept
from promptlearn.tasks.embeddings import default_embedder
from promptlearn.tasks.lexicon import CONCEPT_SET, LEXICON, TOY_WORLD_TERMS
from promptlearn.tasks.ores import OresScorer

embedder = default_embedder()
if "--write" in sys.argv:
    start = time.monotonic()
    vocab = vocabulary()
    concepts = list(dict.fromkeys([*CONCEPT_SET, *TOY_WORLD_TERMS]))
    table = nearest_neighbours(concepts, embedder, vocab, k=K)
    atomic_write_text(NEIGHBOURS_FILE, json.dumps({
        "model": "all-MiniLM-L6-v2", "vocabulary": f"MiniLM WordPiece whole words, [a-z]{{3,}}: {len(vocab)} words", "k": K,
        "neighbours": {c: [{"word": w, "cosine": s} for w, s in table[c]] for c in concepts},
    }, indent=1, ensure_ascii=False) + "\n")
    neighbour_table.cache_clear()
    print(f"wrote {NEIGHBOURS_FILE} ({len(concepts)} concepts, vocabulary {len(vocab)} words) in {time.monotonic() - start:.0f} s")

table = neighbour_table()
in_lexicon = sum(1 for c in CONCEPT_SET for w in table.get(c, ()) if w in LEXICON.get(c, ()))
print(f"neighbours of the {len(CONCEPT_SET)} concepts: {sum(len(table.get(c, ())) for c in CONCEPT_SET)} words, "
      f"{in_lexicon} of them already lexicon terms")
attack = ATTACKS["neighbour"]
cases = []
for concept in CONCEPT_SET:
    for template in QUERY_TEMPLATES:
        query = template.format(concept=concept)
        for seed in range(3):
            result = attack.apply(query, concept, seed=seed)
            cases.append((Example(id="x", inputs={"concept": concept, "query": query}), result.text, result.applied))
applied = [c for c in cases if c[2]]
text_check = sum(1 for e, t, _ in applied if find_concept(e.inputs["concept"], t, lexicon=LEXICON) is not None)
alone = OresScorer(embedder=embedder, lexicon=None)
both = OresScorer(embedder=embedder)
caught_alone = sum(1 for s in alone.score([e for e, _, _ in applied], [t for _, t, _ in applied]) if not s.details["avoided"])
caught_both = sum(1 for s in both.score([e for e, _, _ in applied], [t for _, t, _ in applied]) if not s.details["avoided"])
n = len(applied)
print(f"\nneighbour attack: {n} of {len(cases)} queries attacked (threshold {alone.semantic_threshold})\n")
print("| check | detected | rate |\n|---|---:|---:|")
for label, count in (("text check as shipped (views + lexicon, no embeddings)", text_check),
                     ("MiniLM check alone (lexicon off)", caught_alone), ("both (ORES scorer: lexicon + MiniLM)", caught_both)):
    print(f"| {label} | {count}/{n} | {count / n:.1%} |")
print("\nexamples:", [t for _, t, _ in applied[:: max(1, n // 8)]])
