"""The exact judge of the toy world: "is there {concept} in the image?" answered from pixels.

It reads a 32 x 32 image (any size is resized to it) as the renderer draws it: the border is
background (no object reaches it), the object is every pixel far from the background colour, its
colour is the palette colour most of its pixels are nearest to, its shape follows from how much of
its bounding box it fills and how its width grows downwards, its position and size from the box.
A concept names one or more attributes, in explicit or implicit words ("red", "crimson", "ball",
"on the left", "black background", "large blue square"); it is present when every one matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..evaluation.judges.base import JudgeAnswer, JudgeError, check_batch
from . import world

OBJECT_DISTANCE = 90.0  # RGB distance from the background beyond which a pixel belongs to the object
MIN_OBJECT_PIXELS = 8
COLOUR_SHARE = 0.3  # a colour is present when at least this share of the object's pixels shows it


@dataclass(frozen=True)
class Reading:
    """What the judge sees in one image; object attributes are None when there is no object."""

    background: str
    colour: str | None
    colours: dict[str, float]  # share of object pixels nearest each object colour
    shape: str | None
    position: str | None
    size: str | None
    pixels: int

    def as_attributes(self) -> dict[str, str | None]:
        return {"colour": self.colour, "shape": self.shape, "position": self.position,
                "size": self.size, "background": self.background}


def _array(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, np.ndarray):
        array = image
    else:
        pil = image.convert("RGB")
        if pil.size != (world.IMAGE_SIZE, world.IMAGE_SIZE):
            pil = pil.resize((world.IMAGE_SIZE, world.IMAGE_SIZE), Image.NEAREST)
        array = np.asarray(pil)
    return array.astype(np.float32)[..., :3]


def _nearest(pixels: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> np.ndarray:
    colours = np.array(list(palette.values()), dtype=np.float32)
    distance = ((pixels[..., None, :] - colours) ** 2).sum(-1)
    return distance.argmin(-1)


def read_image(image: Any) -> Reading:
    """Background, object colour, shape, position and size of one image."""
    array = _array(image)
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    bg_colour = np.median(border, axis=0)
    background = list(world.BACKGROUNDS)[int(_nearest(bg_colour[None], world.BACKGROUNDS)[0])]
    mask = np.sqrt(((array - bg_colour) ** 2).sum(-1)) > OBJECT_DISTANCE
    count = int(mask.sum())
    if count < MIN_OBJECT_PIXELS:
        return Reading(background, None, {}, None, None, None, count)
    labels = _nearest(array[mask], world.COLOURS)
    names = list(world.COLOURS)
    shares = {name: float((labels == i).mean()) for i, name in enumerate(names)}
    colour = max(shares, key=shares.get)
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    height, width = bottom - top + 1, right - left + 1
    fill = count / float(height * width)
    rows = mask[top:bottom + 1, left:right + 1].sum(1)
    quarter = max(1, height // 4)
    top_width, bottom_width = rows[:quarter].mean(), rows[-quarter:].mean()
    if top_width < 0.55 * bottom_width and fill < 0.75:
        shape = "triangle"
    elif fill > 0.9:
        shape = "square"
    else:
        shape = "circle"
    cx, cy = (left + right + 1) / 2.0, (top + bottom + 1) / 2.0
    dx, dy = cx - 16.0, cy - 16.0
    if max(abs(dx), abs(dy)) < 3.5:
        position = "center"
    elif abs(dx) >= abs(dy):
        position = "left" if dx < 0 else "right"
    else:
        position = "top" if dy < 0 else "bottom"
    size = "large" if max(height, width) >= 12 else "small"
    return Reading(background, colour, shares, shape, position, size, count)


def concept_attributes(concept: str) -> dict[str, str]:
    """The attributes a concept names, or :class:`JudgeError` when it names none of the world's."""
    found = world.parse_caption(concept)
    if not found:
        raise JudgeError(f"the toy judge knows no concept {concept!r}; use a colour, shape, position, size or "
                         "'<white|black|gray> background' (implicit words such as crimson or ball count too)")
    return found


def shows(reading: Reading, attributes: dict[str, str]) -> bool:
    for name, value in attributes.items():
        if name == "colour":
            if reading.colours.get(value, 0.0) < COLOUR_SHARE:
                return False
        elif reading.as_attributes()[name] != value:
            return False
    return True


class ToyJudge:
    """The exact judge of the toy world (no model): ``p_yes`` is 1.0 or 0.0."""

    name = "toy"

    def identity(self) -> dict[str, Any]:
        return {"kind": "toy", "object_distance": OBJECT_DISTANCE, "colour_share": COLOUR_SHARE, "version": 1}

    def judge(self, images: Sequence[Any], concepts: Sequence[str]) -> list[JudgeAnswer]:
        check_batch(images, concepts)
        out = []
        for image, concept in zip(images, concepts):
            attributes = concept_attributes(concept)
            reading = read_image(image)
            present = shows(reading, attributes)
            raw = ", ".join(f"{k}={v}" for k, v in reading.as_attributes().items())
            out.append(JudgeAnswer(present=present, raw=("yes: " if present else "no: ") + raw, p_yes=float(present)))
        return out
