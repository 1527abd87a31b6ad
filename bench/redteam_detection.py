"""Detection of the text attacks by the concept check, on the project's concept set (45 concepts
x 3 query templates x 3 seeds = 405 attacked queries per attack), printed as a Markdown table::

    OMP_NUM_THREADS=1 .venv/bin/python bench/redteam_detection.py            # text-level check only (seconds)
    OMP_NUM_THREADS=1 .venv/bin/python bench/redteam_detection.py --embedding  # + the synonym attack against
                                                                              # the MiniLM check alone (lexicon off)

Columns: the check as shipped (obfuscation views + project lexicon) and the words-only matcher
(no obfuscation views, no lexicon). Then false positives on clean rewrites: the bundled ORES
reference rewrites (and the public ORES training.txt from ../shared when present). Target: >= 95%
detection for every attack (asserted in tests/test_redteam_attacks.py) except the open-world
``neighbour`` attack, which has no target: its figures come from bench/redteam_neighbours.py.
"""
import sys
from pathlib import Path

from promptlearn.data import load_examples
from promptlearn.redteam.attacks import ATTACKS, parse_attacks
from promptlearn.redteam.detection import COMPOSITIONS, QUERY_TEMPLATES, detection_table, false_positives, format_detection_table
from promptlearn.tasks.lexicon import CONCEPT_SET
from promptlearn.tasks.ores import make_ores_task

rows = detection_table(parse_attacks("all") + parse_attacks(",".join(COMPOSITIONS)))
print(f"concept set: {len(CONCEPT_SET)} concepts x {len(QUERY_TEMPLATES)} templates x 3 seeds\n")
print(format_detection_table(rows))
for row in rows:
    if row.misses:
        print(f"missed ({row.attack}): {row.misses}")

task = make_ores_task()
examples = [e for name in ("ores-train", "ores-val", "ores-test") for e in load_examples(name, task)]
shared = [Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "ores" / "training.txt", Path("/work/shared/benchmarks/ores/training.txt")]
public = next((p for p in shared if p.is_file()), None)
for label, group in (("bundled ORES references", examples), ("public ORES training.txt references", load_examples(public, task) if public else [])):
    if not group:
        continue
    fp = false_positives(group)
    print(f"\nfalse positives on {label}: check {len(fp.flagged)}/{fp.pairs}, words-only {fp.flagged_words_only}/{fp.pairs}")
    for concept, rewrite, phrase in fp.flagged:
        print(f"  {concept!r}: {rewrite!r} (as {phrase!r})")

if "--embedding" in sys.argv:
    from promptlearn.tasks.base import Example
    from promptlearn.tasks.embeddings import default_embedder
    from promptlearn.tasks.ores import OresScorer

    scorer = OresScorer(embedder=default_embedder(), lexicon=None)
    attack = ATTACKS["synonym"]
    cases = []
    for concept in CONCEPT_SET:
        for template in QUERY_TEMPLATES:
            query = template.format(concept=concept)
            for seed in range(3):
                cases.append((Example(id="x", inputs={"concept": concept, "query": query}), attack.apply(query, concept, seed=seed).text))
    scores = scorer.score([e for e, _ in cases], [t for _, t in cases])
    caught = sum(1 for s in scores if not s.details["avoided"])
    print(f"\nsynonym attack vs the MiniLM check alone (lexicon off, threshold {scorer.semantic_threshold}): {caught}/{len(cases)} = {caught / len(cases):.1%}")
