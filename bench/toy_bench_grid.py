"""A Figure-3-like grid from a toy bench run folder: one row per query, one column per method.

    .venv/bin/python bench/toy_bench_grid.py RUN_FOLDER OUT.png [--seed 0] [--rows 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=10)
    args = parser.parse_args(argv)

    from PIL import Image

    from promptlearn.evaluation.rows import safe_name
    from promptlearn.toyworld.plots import method_grid

    config = json.loads((args.run / "config.json").read_text())
    methods = config["options"]["methods"] if "options" in config else config["methods"]
    records = [json.loads(line) for line in (args.run / "results.jsonl").read_text().splitlines() if line.strip()]
    queries = {}
    for r in records:
        queries.setdefault(r["row_id"], (r.get("query", ""), r.get("concept", "")))
    row_ids = list(queries)[: args.rows]
    images, titles = [], []
    for row_id in row_ids:
        folder = args.run / "images" / safe_name(row_id)
        images.append([Image.open(folder / f"{m}-seed{args.seed}.png").convert("RGB") for m in methods])
        query, concept = queries[row_id]
        titles.append(f"{query} (no {concept})")
    method_grid(images, titles, methods, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
