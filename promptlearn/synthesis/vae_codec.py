"""Images to latents and back through the checkpoint's VAE (with SD/SDXL scaling conventions)."""

from __future__ import annotations

from typing import Sequence

import torch
from PIL import Image

from .components import DiffusionComponents


def _processor(components: DiffusionComponents):
    from diffusers.image_processor import VaeImageProcessor

    return VaeImageProcessor(vae_scale_factor=components.vae_scale_factor)


def _mean_std(vae, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    mean, std = vae.config.get("latents_mean"), vae.config.get("latents_std")
    if mean is None or std is None:
        return None
    shape = (1, -1, 1, 1)
    return (torch.tensor(mean).view(shape).to(latents), torch.tensor(std).view(shape).to(latents))


class _UpcastIfNeeded:
    """SDXL's VAE overflows in float16 (``force_upcast``): decode in float32, then cast back."""

    def __init__(self, vae):
        self.vae = vae
        self.active = vae.dtype == torch.float16 and bool(vae.config.get("force_upcast", False))

    def __enter__(self):
        if self.active:
            self.vae.to(torch.float32)
        return self.vae.dtype

    def __exit__(self, *exc) -> None:
        if self.active:
            self.vae.to(torch.float16)


@torch.no_grad()
def decode_latents(components: DiffusionComponents, latents: torch.Tensor) -> list[Image.Image]:
    """Final latents ``(B, C, h, w)`` to B PIL images."""
    vae = components.vae
    with _UpcastIfNeeded(vae) as dtype:
        latents = latents.to(device=vae.device, dtype=dtype)
        stats = _mean_std(vae, latents)
        scale = vae.config.scaling_factor
        latents = latents * stats[1] / scale + stats[0] if stats is not None else latents / scale
        images = vae.decode(latents, return_dict=False)[0]
    return _processor(components).postprocess(images, output_type="pil")


@torch.no_grad()
def encode_images(components: DiffusionComponents, images: Sequence[Image.Image], *, height: int, width: int) -> torch.Tensor:
    """PIL images (resized to ``height`` x ``width``) to latents ``(N, C, h, w)``, using the mode of
    the VAE posterior so that the same image always gives the same latents."""
    vae = components.vae
    pixels = _processor(components).preprocess([image.convert("RGB") for image in images], height=height, width=width)
    with _UpcastIfNeeded(vae) as dtype:
        latents = vae.encode(pixels.to(device=vae.device, dtype=dtype)).latent_dist.mode()
        stats = _mean_std(vae, latents)
        scale = vae.config.scaling_factor
        latents = (latents - stats[0]) * scale / stats[1] if stats is not None else latents * scale
    return latents.to(dtype=components.dtype)
