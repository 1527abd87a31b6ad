"""Short toy-world recipe experiments: train the text encoder + UNet phase of a recipe variant on a reused VAE,
then measure its fidelity (toy judge) as `promptlearn toy-world eval` does.

    OMP_NUM_THREADS=1 .venv/bin/python bench/toy_recipes.py --out runs/recipe-v --unet-steps 700 \\
        --set prediction_type=v_prediction --set zero_snr=true

Prints one line per attribute and writes OUT/experiment.json (recipe, steps, wall times, fidelity).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--vae-from", default="toy")
    parser.add_argument("--unet-steps", type=int, default=700)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig field=value (JSON value), repeatable")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from dataclasses import asdict, fields

    from promptlearn.errors import InputError
    from promptlearn.synthesis.components import load_components
    from promptlearn.toyworld.fidelity import model_fidelity
    from promptlearn.toyworld.train import TrainConfig, train

    config = TrainConfig(vae_from=args.vae_from, unet_steps=args.unet_steps)
    known = {f.name for f in fields(TrainConfig)}
    for item in args.set:
        name, _, text = item.partition("=")
        if name not in known:
            parser.error(f"--set {item!r}: {name!r} is no TrainConfig field")
        value = _value(text)
        setattr(config, name, tuple(value) if isinstance(value, list) else value)
    started = time.monotonic()
    try:
        model = train(args.out, config, progress=False)  # checks the config before it makes the run folder
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train_s = time.monotonic() - started
    started = time.monotonic()
    result = model_fidelity(load_components(str(model), scheduler="ddim"), samples=args.samples, progress=False)
    eval_s = time.monotonic() - started
    table = {a: row["share"] for a, row in result["per_attribute"].items()}
    record = json.loads((args.out / "record.json").read_text())
    summary = {"recipe": asdict(config), "unet_seconds": record["phase_seconds"].get("unet"), "wall_train_s": round(train_s, 1),
               "eval_s": round(eval_s, 1), "unet_final_loss": record["unet_final_loss"], "fidelity": table,
               "samples": args.samples}
    (args.out / "experiment.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ("unet_seconds", "wall_train_s", "eval_s", "unet_final_loss")}))
    for attribute, share in table.items():
        print(f"fidelity {attribute:<10} {share:.3f}" if share is not None else f"fidelity {attribute:<10} n/a")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
