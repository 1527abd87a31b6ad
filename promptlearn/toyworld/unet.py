"""The toy world's UNet: diffusers' stock UNet2DConditionModel plus a learned 2-D positional embedding.

The stock UNet has no way to know *where* a latent cell is: its convolutions are translation-equivariant and
only the zero padding at the border breaks the symmetry, so every cell of the 4 x 4 level (where the toy
model's cross-attention reads the caption) gets the same text signal, and "on the left" cannot be mapped to
the left cells (docs/toy-world.md: with the stock UNet, position fidelity stayed at chance with every recipe
and the UNet's output barely changed when only the position word changed).

``ToyUNet2DConditionModel(position_embedding="learned", ...)`` adds one learnable tensor
``conv_in.position_embedding`` of shape (block_out_channels[0], sample_size, sample_size), initialised with
2-D sinusoids (half the channels code the column, half the row), to ``conv_in``'s output. ``conv_in`` stays
a ``Conv2d`` (a subclass) with its own ``weight`` and ``bias``, so every state-dict key of the stock parts is
unchanged and the embedding is the one extra parameter. ``position_embedding="none"`` is the stock UNet.

The option is in the config (``register_to_config``), the folder is diffusers' own (``unet/config.json``
with ``_class_name: ToyUNet2DConditionModel``), and
:func:`promptlearn.synthesis.components.load_components` maps that class name to this module
(:data:`promptlearn.synthesis.components.PROMPTLEARN_CLASSES`).
"""

from __future__ import annotations

import inspect
import math

import torch
from diffusers import UNet2DConditionModel
from torch import nn

POSITION_EMBEDDINGS = ("none", "learned")


def sinusoidal_2d(channels: int, height: int, width: int) -> torch.Tensor:
    """A (channels, height, width) map: channels // 2 sin/cos pairs of the column, the rest of the row,
    at geometric frequencies (a cell's coordinates in [0, 1], lowest frequency one half turn per image)."""
    half = channels // 2
    out = torch.zeros(channels, height, width)
    for axis, (start, count, size) in enumerate(((0, half, width), (half, channels - half, height))):
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        pairs = count // 2
        for k in range(pairs):
            freq = math.pi * 2 ** k
            sin, cos = torch.sin(freq * coords), torch.cos(freq * coords)
            if axis == 0:  # columns: vary along width
                out[start + 2 * k] = sin[None, :].expand(height, width)
                out[start + 2 * k + 1] = cos[None, :].expand(height, width)
            else:
                out[start + 2 * k] = sin[:, None].expand(height, width)
                out[start + 2 * k + 1] = cos[:, None].expand(height, width)
    return out


class PositionalConv2d(nn.Conv2d):
    """A Conv2d whose output gets a learnable (out_channels, height, width) positional embedding added."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int, height: int, width: int):
        with torch.random.fork_rng(devices=[]):  # the stock conv's init already drew; do not shift the RNG stream
            super().__init__(in_channels, out_channels, kernel_size=kernel_size, padding=padding)
        self.position_embedding = nn.Parameter(sinusoidal_2d(out_channels, height, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if y.shape[-2:] != self.position_embedding.shape[-2:]:
            raise ValueError(f"positional embedding is {tuple(self.position_embedding.shape[-2:])}, "
                             f"the latent {tuple(y.shape[-2:])}; this UNet samples only at its sample_size")
        return y + self.position_embedding.to(y.dtype)


class ToyUNet2DConditionModel(UNet2DConditionModel):
    """UNet2DConditionModel with an optional learned positional embedding after ``conv_in`` (see module doc)."""

    def __init__(self, *args, position_embedding: str = "none", **kwargs):
        if position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(f"position_embedding must be one of {', '.join(POSITION_EMBEDDINGS)}, not {position_embedding!r}")
        super().__init__(*args, **kwargs)  # the stock __init__ registers its own arguments in the config
        self.register_to_config(position_embedding=position_embedding)
        if position_embedding == "learned":
            stock = self.conv_in
            side = self.config.sample_size
            height, width = (side, side) if isinstance(side, int) else tuple(side)
            conv = PositionalConv2d(stock.in_channels, stock.out_channels, stock.kernel_size[0], stock.padding[0], height, width)
            conv.weight, conv.bias = stock.weight, stock.bias
            self.conv_in = conv


# diffusers reads a model's config keys from its __init__ signature: the stock arguments plus ours
_stock = inspect.signature(UNet2DConditionModel.__init__)
ToyUNet2DConditionModel.__init__.__signature__ = _stock.replace(parameters=[
    *_stock.parameters.values(),
    inspect.Parameter("position_embedding", inspect.Parameter.KEYWORD_ONLY, default="none"),
])
