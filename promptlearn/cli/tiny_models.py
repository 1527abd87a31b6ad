"""``promptlearn tiny-models``: write tiny random-weight SD and CLIP checkpoints to smoke-test an install."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("tiny-models")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random weights.")
@click.option("--v-prediction", is_flag=True, help="Write an SD 2.x-style v-prediction checkpoint.")
@click.option("--safety-checker", is_flag=True, help="Add a (tiny, random) StableDiffusionSafetyChecker.")
def tiny_models(out_dir: Path, seed: int, v_prediction: bool, safety_checker: bool) -> None:
    """Write OUT_DIR/sd (a Stable Diffusion pipeline) and OUT_DIR/clip (a CLIP model + processor).

    The weights are random and tiny, so the pictures are noise; the point is to check that
    sampling, filters and the CLI run end to end without downloading anything."""
    from ..errors import InputError
    from ..files import check_output_folder
    from ..synthesis.tiny import write_tiny_clip, write_tiny_sd

    check_output_folder(out_dir, "OUT_DIR")
    for name in ("sd", "clip"):
        target = out_dir / name
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InputError(f"OUT_DIR {out_dir}: {target} already exists and is not empty; choose another OUT_DIR")
    prediction_type = "v_prediction" if v_prediction else "epsilon"
    sd = write_tiny_sd(out_dir / "sd", seed=seed, prediction_type=prediction_type, with_safety_checker=safety_checker)
    clip = write_tiny_clip(out_dir / "clip", seed=seed)
    click.echo(f"wrote {sd}")
    click.echo(f"wrote {clip}")
