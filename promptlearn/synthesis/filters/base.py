"""What every output filter returns and accepts: :class:`FilterDecision` per image, images as PIL,
NumPy (diffusers ``output_type="np"``) or torch tensors (``output_type="pt"``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ...errors import InputError


@dataclass(frozen=True)
class ConceptScore:
    """How one image relates to one unacceptable concept and its acceptable counterpart (CLIP filter)."""

    concept: str
    p_unacceptable: float  # softmax over the two scaled cosine similarities, unacceptable side
    similarity_unacceptable: float  # cosine similarity of image and unacceptable text
    similarity_acceptable: float  # cosine similarity of image and acceptable text
    flagged: bool


@dataclass(frozen=True)
class FilterDecision:
    """One filter's verdict on one image.

    ``score`` is the filter's evidence for flagging where it has one (the CLIP filter's largest
    ``p_unacceptable``); ``concepts`` holds the CLIP filter's per-concept numbers."""

    filter: str
    flagged: bool
    score: float | None = None
    concepts: tuple[ConceptScore, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record, e.g. for a run directory's ``images.jsonl``."""
        return asdict(self)


@runtime_checkable
class ImageFilter(Protocol):
    """Anything that judges a batch of images; ``name`` appears in each decision and in logs."""

    name: str

    def check(self, images: Any) -> list[FilterDecision]:
        """One decision per image, in order."""
        ...


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.dtype == np.uint8:
        return Image.fromarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"images must be uint8 or float arrays in [0, 1], not {array.dtype}")
    return Image.fromarray((np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8))


def to_pil_images(images: Any) -> list[Image.Image]:
    """Turn one image or a batch into a list of RGB PIL images.

    Accepted: a PIL image or a sequence of them; a NumPy array ``(H, W, 3)`` or ``(N, H, W, 3)``
    (uint8, or floats in [0, 1] as diffusers returns with ``output_type="np"``); a torch tensor
    ``(3, H, W)`` or ``(N, 3, H, W)`` with values in [0, 1] (diffusers' ``output_type="pt"``)."""
    if isinstance(images, Image.Image):
        return [images.convert("RGB")]
    if type(images).__module__.startswith("torch"):
        import torch

        if not isinstance(images, torch.Tensor):
            raise InputError(f"cannot read images from a {type(images).__name__}")
        if images.ndim not in (3, 4) or images.shape[-3] != 3:
            raise InputError(f"an image tensor must be (N, 3, H, W) or (3, H, W), not {tuple(images.shape)}")
        batch = images.detach().float().cpu().reshape(-1, *images.shape[-3:]).permute(0, 2, 3, 1).numpy()
        return [_array_to_pil(image) for image in batch]
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise InputError(f"an image array must be (N, H, W, 3) or (H, W, 3), not {images.shape}")
        return [_array_to_pil(image) for image in images.reshape(-1, *images.shape[-3:])]
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if not images:
            return []
        pil: list[Image.Image] = []
        for image in images:
            if isinstance(image, Image.Image):
                pil.append(image.convert("RGB"))
            else:
                pil.extend(to_pil_images(image))
        return pil
    raise InputError(f"cannot read images from a {type(images).__name__}")
