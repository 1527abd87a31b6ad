"""The toy world: a synthetic world of one coloured shape on a plain background, a small
Stable-Diffusion-shaped model trained on it here (shipped as ``--model toy``), an exact pixel judge
(``--judge toy``) and an ORES evaluation set for it (``--dataset toy``). See docs/toy-world.md."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

CHECKPOINT_DIR = "checkpoint"

# Recipe choices, here (a light module) so that the CLI's flags and the trainer check one list each.
PREDICTION_TYPES = ("epsilon", "v_prediction")
POSITION_EMBEDDINGS = ("none", "learned", "learned-attention", "text-map")  # ToyUNet2DConditionModel's options


def checkpoint_path() -> Path:
    """The folder of the trained toy checkpoint shipped with the package (diffusers layout)."""
    path = Path(__file__).resolve().parent / CHECKPOINT_DIR
    if not (path / "model_index.json").is_file():
        raise InputError(f"the toy model is missing from this install ({path}); train one with "
                         "'promptlearn toy-world train --out DIR' and pass --model DIR/model")
    return path
