"""The S sweep on the toy world: TIN (reference rewrites) at every switch step S, avoidance and
similarity (mean ± std over seeds) against S, the paper's trade-off (its Figure 4 shape).

    OMP_NUM_THREADS=1 .venv/bin/python bench/toy_s_sweep.py --out docs/results/toy/sweep [--rows 68] [--seeds 0-4]

Recipe: the toy model (--model toy), DDIM, T = 20 steps, guidance 7.5, the toy dataset's first
reference rewrite per row, the exact toy judge (avoided = the judge does not see the concept),
similarity = 1 - clip(MSE / (1/6), 0, 1) against the same seed's unconstrained image (the bench's
metric). S = T is the original image; S = 0 is the rewrite alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="toy")
    parser.add_argument("--dataset", default="toy")
    parser.add_argument("--rows", type=int, default=None, help="first N rows [default: all]")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--s-values", default="0,1,2,3,4,5,6,8,10,12,15,20")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from promptlearn.data import load_examples
    from promptlearn.evaluation.rows import parse_seeds
    from promptlearn.evaluation.metrics import mean_std, visual_similarity
    from promptlearn.files import atomic_write_json
    from promptlearn.synthesis.components import load_components
    from promptlearn.synthesis.interventions.prompt_switch import PromptSwitch
    from promptlearn.synthesis.sampler import Synthesizer
    from promptlearn.tasks.registry import get_task
    from promptlearn.toyworld.judge import ToyJudge
    from promptlearn.toyworld.plots import method_grid, sweep_plot

    started = time.perf_counter()
    rows = load_examples(args.dataset, get_task("ores"), limit=args.rows)
    seeds = parse_seeds(args.seeds)
    s_values = [int(s) for s in args.s_values.split(",")]
    synth = Synthesizer(load_components(args.model, scheduler="ddim"))
    judge = ToyJudge()
    queries = [row.inputs["query"] for row in rows]
    rewrites = [row.references[0] for row in rows]
    concepts = [row.inputs["concept"] for row in rows]
    common = dict(seeds=seeds, num_inference_steps=args.steps, guidance_scale=args.guidance)

    original = synth.generate(queries, **common).images  # prompt-major: row 0 seeds..., row 1 seeds...
    per_sample_concepts = [c for c in concepts for _ in seeds]
    points, grid_images = [], {}
    for s in s_values:
        images = synth.generate(queries, interventions=[PromptSwitch(rewrites, switch_step=s)], **common).images
        answers = judge.judge(images, per_sample_concepts)
        sims = [visual_similarity(img, ref) for img, ref in zip(images, original)]
        # per seed: share avoided and mean similarity over rows; then mean ± std over seeds
        avoid_by_seed, sim_by_seed = [], []
        for k, _seed in enumerate(seeds):
            idx = [r * len(seeds) + k for r in range(len(rows))]
            avoid_by_seed.append(sum(not answers[i].present for i in idx) / len(idx))
            sim_by_seed.append(sum(sims[i] for i in idx) / len(idx))
        a, m = mean_std(avoid_by_seed), mean_std(sim_by_seed)
        points.append({"S": s, "avoidance": a.mean, "avoidance_std": a.std, "similarity": m.mean, "similarity_std": m.std})
        grid_images[s] = images
        print(f"S={s:>2}: avoidance {a.mean:.3f} ± {a.std:.3f}   similarity {m.mean:.3f} ± {m.std:.3f}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    sweep_plot(points, args.out / "s_sweep.png", total_steps=args.steps)
    shown = list(range(min(8, len(rows))))
    method_grid(
        [[original[r * len(seeds)]] + [grid_images[s][r * len(seeds)] for s in s_values] for r in shown],
        [f"{queries[r]}  (no {concepts[r]})" for r in shown],
        ["original"] + [f"S={s}" for s in s_values],
        args.out / "s_sweep_grid.png",
    )
    wall = time.perf_counter() - started
    atomic_write_json(args.out / "s_sweep.json", {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/toy_s_sweep.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "recipe": "TIN with the dataset's first reference rewrite; DDIM; toy judge; similarity 1 - clip(MSE/(1/6))",
        "rows": len(rows), "seeds": seeds, "steps": args.steps, "guidance": args.guidance,
        "points": points, "wall_seconds": round(wall, 1),
    })
    print(f"wrote {args.out / 's_sweep.png'} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
