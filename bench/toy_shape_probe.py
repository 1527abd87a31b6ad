"""Why a toy model draws the wrong shape: the latent geometry and where its samples land.

    OMP_NUM_THREADS=1 .venv/bin/python bench/toy_shape_probe.py MODEL [MODEL ...]

For each model (a diffusers folder or "toy"), on its own VAE's latents of all 360 scenes (posterior mode,
scaled to unit std):
- **separation**: mean L2 distance between two scenes that differ only in the shape (small and large objects),
  and only in the background (white vs black), for scale;
- **samples**: for "a small red square", "a small green circle", "a small blue triangle", "a large red square"
  (seeds 0-23, DDIM 20 steps, guidance 7.5 unless --guidance): how many decoded samples the toy judge reads
  as the asked shape, how many final latents lie nearest (L2) to a scene of the asked shape and size, and the
  mean distance to that nearest scene latent.

A sample whose nearest scene latent has the right shape but decodes to the wrong one was drawn near the right
point, but the scene latents of two shapes lie closer together than the sampler's error.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

CAPTIONS = (("a small red square", "square", "small"), ("a small green circle", "circle", "small"),
            ("a small blue triangle", "triangle", "small"), ("a large red square", "square", "large"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--seeds", type=int, default=24)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from promptlearn.synthesis.components import load_components
    from promptlearn.synthesis.sampler import Synthesizer
    from promptlearn.toyworld import world
    from promptlearn.toyworld.judge import read_image
    from promptlearn.toyworld.train import scene_latents, scene_pixels

    scenes = list(world.ALL_SCENES_INDEX)
    for name in args.models:
        components = load_components(name, scheduler="ddim")
        vae = components.vae.float()
        scale = vae.config.scaling_factor
        latents = scene_latents(vae, scene_pixels()) * scale
        flat = (latents / latents.std()).flatten(1)

        def distance(change: str, a: str, b: str, **fixed: str) -> float:
            pairs = []
            for scene in scenes:
                if getattr(scene, change) != a or any(getattr(scene, k) != v for k, v in fixed.items()):
                    continue
                other = dataclasses.replace(scene, **{change: b})
                pairs.append(float((flat[world.ALL_SCENES_INDEX[scene]] - flat[world.ALL_SCENES_INDEX[other]]).norm()))
            return float(np.mean(pairs))

        side = tuple(latents.shape[1:])
        print(f"{name}: latents {side}, {flat.shape[1]} dims (unit std)")
        for size in ("small", "large"):
            print(f"  separation {size}: circle-square {distance('shape', 'circle', 'square', size=size):.2f}, "
                  f"circle-triangle {distance('shape', 'circle', 'triangle', size=size):.2f}, "
                  f"square-triangle {distance('shape', 'square', 'triangle', size=size):.2f}")
        print(f"  separation background white-black {distance('background', 'white', 'black'):.2f}")
        synth = Synthesizer(components)
        for caption, shape, size in CAPTIONS:
            result = synth.generate([caption], seeds=list(range(args.seeds)), num_inference_steps=20,
                                    guidance_scale=args.guidance, decode=True)
            sample = (result.latents.float() / latents.std()).flatten(1)
            dist = torch.cdist(sample, flat)
            nearest = dist.argmin(1)
            decoded_ok = sum(read_image(image).shape == shape for image in result.images)
            nearest_ok = sum(scenes[int(i)].shape == shape and scenes[int(i)].size == size for i in nearest)
            print(f"  {caption!r}: decoded {shape} {decoded_ok}/{args.seeds}, nearest scene latent {shape} {size} "
                  f"{nearest_ok}/{args.seeds}, mean distance to it {float(dist.min(1).values.mean()):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
