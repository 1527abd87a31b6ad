"""Measurements on the toy world: the judge's accuracy on rendered images, and a model's fidelity
(the share of samples showing what their caption asked, attribute by attribute)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from . import world
from .judge import ToyJudge, read_image


def judge_accuracy(*, seed: int = 0, captions_per_scene: int = 2) -> dict[str, Any]:
    """Ask the judge about every scene: each of its attributes (present), each other value of every
    attribute (absent), and random captions' words incl. implicit ones (present). Returns counts."""
    judge = ToyJudge()
    rng = random.Random(seed)
    images, concepts, truth = [], [], []
    for scene in world.all_scenes():
        image = world.render_pil(scene)
        values = {"colour": world.COLOURS, "shape": world.SHAPES, "position": world.POSITIONS,
                  "size": world.SIZES, "background": world.BACKGROUNDS}
        for attribute, allowed in values.items():
            actual = getattr(scene, attribute)
            for value in allowed:
                concept = f"{value} background" if attribute == "background" else value
                images.append(image)
                concepts.append(concept)
                truth.append(value == actual)
        for word in world.colour_words(scene.colour)[1:] + world.shape_words(scene.shape)[1:]:
            images.append(image)
            concepts.append(word)
            truth.append(True)
        for _ in range(captions_per_scene):
            text = world.caption(scene, rng)
            if world.parse_caption(text):  # "a shape" names nothing to ask about
                images.append(image)
                concepts.append(text)
                truth.append(True)
    answers = judge.judge(images, concepts)
    wrong = [(c, t) for c, t, a in zip(concepts, truth, answers) if a.present != t]
    return {"questions": len(answers), "correct": len(answers) - len(wrong),
            "accuracy": (len(answers) - len(wrong)) / len(answers), "wrong": wrong[:20]}


def model_fidelity(components: Any, *, samples: int = 200, seed: int = 0, steps: int = 20, guidance: float = 7.5,
                   batch: int = 25, progress: bool = True, guidance_rescale: float = 0.0) -> dict[str, Any]:
    """Generate ``samples`` images from random captions (seeded) and judge every attribute each caption
    names. Returns, per attribute, how many were asked and how many the image showed."""
    from ..progress import progress_bar
    from ..synthesis.sampler import Synthesizer

    rng = random.Random(seed)
    synth = Synthesizer(components)
    asked: Counter[str] = Counter()
    shown: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    jobs = []
    for i in range(samples):
        scene = world.random_scene(rng)
        jobs.append((world.caption(scene, rng), 10_000 + i // batch))  # one noise seed per batch of captions
    images = []
    with progress_bar(samples, "toy-world: fidelity", enabled=progress, unit="image") as bar:
        for start in range(0, samples, batch):
            chunk = jobs[start:start + batch]
            out = synth.generate([t for t, _ in chunk], seeds=[chunk[0][1]], num_inference_steps=steps, guidance_scale=guidance,
                                guidance_rescale=guidance_rescale)
            images.extend(out.images)
            bar.update(len(chunk))
    for (text, sample_seed), image in zip(jobs, images):
        wanted = world.parse_caption(text)
        got = read_image(image).as_attributes()
        for attribute, value in wanted.items():
            asked[attribute] += 1
            shown[attribute] += int(got[attribute] == value)
        if len(examples) < 40:
            examples.append({"caption": text, "seed": sample_seed, "read": got})
    table = {a: {"asked": asked[a], "shown": shown[a], "share": shown[a] / asked[a] if asked[a] else None}
             for a in world.ATTRIBUTES}
    all_ok = sum(shown.values()) / max(1, sum(asked.values()))
    return {"samples": samples, "steps": steps, "guidance": guidance, "guidance_rescale": guidance_rescale, "seed": seed, "per_attribute": table,
            "all_attributes": all_ok, "examples": examples, "images": images, "captions": [t for t, _ in jobs]}
