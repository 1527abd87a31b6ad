"""The toy world: its vocabulary, an exact seeded renderer and the captions a model is trained on.

One object on a plain background, 32 x 32 pixels (32 rather than 64: the model must train on two
CPU cores in minutes, and a 16 x 16 latent is four times cheaper per UNet step than 32 x 32 while
still drawing a circle, a square and a triangle apart at both sizes).

An image is a pure function of its :class:`Scene` (colour, shape, position, size, background): there
are 4 x 3 x 5 x 2 x 3 = 360 of them. A caption names some attributes, using explicit or implicit
words ("crimson" is red, "ball" is a circle), and leaves the rest out; what it leaves out is drawn
at random, so the seed decides it.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Iterator

import numpy as np

IMAGE_SIZE = 32

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 70, 230),
    "yellow": (245, 215, 20),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
POSITIONS: dict[str, tuple[int, int]] = {  # centre (x, y) in pixels
    "left": (9, 16),
    "right": (23, 16),
    "top": (16, 9),
    "bottom": (16, 23),
    "center": (16, 16),
}
SIZES: dict[str, int] = {"small": 4, "large": 7}  # half side in pixels

# implicit words: learned from captions as the very same concept
IMPLICIT_COLOURS = {"crimson": "red", "scarlet": "red", "emerald": "green", "lime": "green",
                    "navy": "blue", "azure": "blue", "golden": "yellow", "lemon": "yellow"}
IMPLICIT_SHAPES = {"ball": "circle", "coin": "circle", "disc": "circle", "box": "square", "tile": "square",
                   "wedge": "triangle", "pyramid": "triangle"}
POSITION_PHRASES = {"left": "on the left", "right": "on the right", "top": "at the top",
                    "bottom": "at the bottom", "center": "in the center"}
SYNONYMS = {"grey": "gray", "centre": "center", "middle": "center"}

ATTRIBUTES = ("colour", "shape", "position", "size", "background")
VALUES: dict[str, tuple[str, ...]] = {"colour": tuple(COLOURS), "shape": SHAPES, "position": tuple(POSITIONS),
                                      "size": tuple(SIZES), "background": tuple(BACKGROUNDS)}


def colour_words(colour: str) -> list[str]:
    """The colour's own name first, then its implicit words."""
    return [colour, *(w for w, c in IMPLICIT_COLOURS.items() if c == colour)]


def shape_words(shape: str) -> list[str]:
    return [shape, *(w for w, s in IMPLICIT_SHAPES.items() if s == shape)]


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    position: str
    size: str
    background: str

    def __post_init__(self) -> None:
        for name, allowed in VALUES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")

    def index(self) -> int:
        """Position of this scene in :func:`all_scenes` (0 .. 359)."""
        return ALL_SCENES_INDEX[self]


def all_scenes() -> list[Scene]:
    return [Scene(*combo) for combo in itertools.product(COLOURS, SHAPES, POSITIONS, SIZES, BACKGROUNDS)]


ALL_SCENES_INDEX = {scene: i for i, scene in enumerate(all_scenes())}


def shape_mask(shape: str, position: str, size: str, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Boolean (H, W) mask of the object, sampled at pixel centres."""
    cx, cy = POSITIONS[position]
    half = SIZES[size]
    ys, xs = np.mgrid[0:image_size, 0:image_size].astype(np.float32) + 0.5
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= half * half
    if shape == "square":
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "triangle":  # apex up, base at the bottom, as wide as it is tall
        return (np.abs(dy) <= half) & (np.abs(dx) <= (dy + half) / 2)
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene as an (H, W, 3) uint8 array; exact and deterministic."""
    image = np.empty((image_size, image_size, 3), dtype=np.uint8)
    image[:] = BACKGROUNDS[scene.background]
    image[shape_mask(scene.shape, scene.position, scene.size, image_size)] = COLOURS[scene.colour]
    return image


def render_pil(scene: Scene):
    from PIL import Image

    return Image.fromarray(render(scene))


@dataclass(frozen=True)
class CaptionPolicy:
    """How often a caption names each attribute, and how often it uses an implicit word."""

    p_colour: float = 0.9
    p_shape: float = 0.9
    p_position: float = 0.6
    p_size: float = 0.4
    p_background: float = 0.5
    p_implicit: float = 0.5


def caption(scene: Scene, rng: random.Random, policy: CaptionPolicy = CaptionPolicy()) -> str:
    """A caption naming a random subset of the scene's attributes, e.g. "a crimson ball on the left"."""
    words = ["a"]
    if rng.random() < policy.p_size:
        words.append(scene.size)
    if rng.random() < policy.p_colour:
        choices = colour_words(scene.colour)
        words.append(choices[0] if rng.random() >= policy.p_implicit else rng.choice(choices[1:]))
    if rng.random() < policy.p_shape:
        choices = shape_words(scene.shape)
        words.append(choices[0] if rng.random() >= policy.p_implicit else rng.choice(choices[1:]))
    else:
        words.append("shape")
    if rng.random() < policy.p_position:
        words.append(POSITION_PHRASES[scene.position])
    if rng.random() < policy.p_background:
        words.append(f"on a {scene.background} background")
    return " ".join(words)


def random_scene(rng: random.Random) -> Scene:
    return Scene(rng.choice(list(COLOURS)), rng.choice(SHAPES), rng.choice(list(POSITIONS)),
                 rng.choice(list(SIZES)), rng.choice(list(BACKGROUNDS)))


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption (or a concept) names, as {attribute: value}; implicit words map to
    their concept ("crimson ball" -> colour red, shape circle). Unknown words are ignored."""
    import re

    words = [SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", text.casefold())]
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        if word in BACKGROUNDS and ("background" in words[i + 1:i + 3] or words[i - 1:i] == ["background"]):
            found["background"] = word
        elif word in COLOURS or word in IMPLICIT_COLOURS:
            found["colour"] = IMPLICIT_COLOURS.get(word, word)
        elif word in SHAPES or word in IMPLICIT_SHAPES:
            found["shape"] = IMPLICIT_SHAPES.get(word, word)
        elif word in POSITIONS:
            found["position"] = word
        elif word in SIZES:
            found["size"] = word
    return found


def iter_captioned(seed: int, policy: CaptionPolicy = CaptionPolicy()) -> Iterator[tuple[Scene, str]]:
    rng = random.Random(seed)
    while True:
        scene = random_scene(rng)
        yield scene, caption(scene, rng, policy)
