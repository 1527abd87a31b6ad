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
unchanged and the embedding is the one extra parameter. ``position_embedding="learned-attention"`` adds, besides it, one
such embedding (``<block>.attentions.<i>.position.embedding``) to the ``proj_in`` output of every
Transformer2DModel, i.e. directly to what the cross-attention's queries are made of at that level.
``position_embedding="text-map"`` adds, besides the ``learned`` one, a :class:`TextMap` (``text_map.proj``): the
mean of the text encoder's states through one zero-initialised linear layer, as a map added after ``conv_in``.
``position_embedding="none"`` is the stock UNet. (Which of these the toy checkpoint uses, and what each measured:
docs/toy-world.md; the position words were learned only once the trainer's auxiliary attribute loss made them
separable in the text encoder.)

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

from . import POSITION_EMBEDDINGS


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
        y = y + self.position_embedding.to(y.dtype)
        text_map = getattr(self, "text_map_value", None)
        return y if text_map is None else y + text_map.to(y.dtype)


class TextMap(nn.Module):
    """A spatial map read from the caption: the mean of the text encoder's states through one linear layer,
    reshaped to (channels, height, width) and added to ``conv_in``'s output. Text reaches the stock UNet only
    through cross-attention, where a position word must meet a query that knows its cell (a product of two
    things that both start near zero); this is a direct path from the words to a map. Zero-initialised: a
    fresh model starts as the ``learned`` UNet."""

    def __init__(self, text_dim: int, channels: int, height: int, width: int):
        super().__init__()
        self.shape = (channels, height, width)
        self.proj = nn.Linear(text_dim, channels * height * width)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.proj(states.mean(dim=1)).view(states.shape[0], *self.shape)


class AttentionPosition(nn.Module):
    """A learnable (channels, height, width) embedding added to a Transformer2DModel's ``proj_in`` output, i.e.
    to what its self- and cross-attention queries are made of (the block's residual path does not get it)."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.embedding = nn.Parameter(sinusoidal_2d(channels, height, width))

    def hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if output.ndim != 4 or output.shape[-3:] != self.embedding.shape:
            raise ValueError(f"attention positional embedding is {tuple(self.embedding.shape)}, the features "
                             f"{tuple(output.shape[1:])}; this UNet samples only at its sample_size")
        return output + self.embedding.to(output.dtype)


class ToyUNet2DConditionModel(UNet2DConditionModel):
    """UNet2DConditionModel with an optional learned positional embedding after ``conv_in`` (see module doc)."""

    def __init__(self, *args, position_embedding: str = "none", **kwargs):
        if position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(f"position_embedding must be one of {', '.join(POSITION_EMBEDDINGS)}, not {position_embedding!r}")
        super().__init__(*args, **kwargs)  # the stock __init__ registers its own arguments in the config
        self.register_to_config(position_embedding=position_embedding)
        side = self.config.sample_size
        height, width = (side, side) if isinstance(side, int) else tuple(side)
        if position_embedding in ("learned", "learned-attention", "text-map"):
            stock = self.conv_in
            conv = PositionalConv2d(stock.in_channels, stock.out_channels, stock.kernel_size[0], stock.padding[0], height, width)
            conv.weight, conv.bias = stock.weight, stock.bias
            self.conv_in = conv
        if position_embedding == "learned-attention":
            self._attention_positions(height, width)
        if position_embedding == "text-map":
            self.text_map = TextMap(self.config.cross_attention_dim, self.conv_in.out_channels, height, width)

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor, *args, **kwargs):
        if not hasattr(self, "text_map"):
            return super().forward(sample, timestep, encoder_hidden_states, *args, **kwargs)
        self.conv_in.text_map_value = self.text_map(encoder_hidden_states)
        try:
            return super().forward(sample, timestep, encoder_hidden_states, *args, **kwargs)
        finally:
            self.conv_in.text_map_value = None

    def _attention_positions(self, height: int, width: int) -> None:
        """An :class:`AttentionPosition` in every Transformer2DModel (``<block>.attentions.<i>.position``)."""
        from diffusers.models.transformers.transformer_2d import Transformer2DModel

        levels = len(self.config.block_out_channels)
        blocks = [*self.down_blocks, self.mid_block, *self.up_blocks]
        for index, block in enumerate(blocks):
            # the level a block works at: down block i at i downsamplings (the last has none), mid at the
            # coarsest, up block j at levels - 1 - j before its upsampler
            level = index if index < levels else levels - 1 if index == levels else 2 * levels - index
            for attention in getattr(block, "attentions", None) or []:
                if not isinstance(attention, Transformer2DModel) or not isinstance(attention.proj_in, nn.Conv2d):
                    raise ValueError("learned-attention needs Transformer2DModel blocks with a conv proj_in (use_linear_projection=False)")
                attention.position = AttentionPosition(attention.proj_in.out_channels, height >> level, width >> level)
                attention.proj_in.register_forward_hook(attention.position.hook)


# diffusers reads a model's config keys from its __init__ signature: the stock arguments plus ours
_stock = inspect.signature(UNet2DConditionModel.__init__)
ToyUNet2DConditionModel.__init__.__signature__ = _stock.replace(parameters=[
    *_stock.parameters.values(),
    inspect.Parameter("position_embedding", inspect.Parameter.KEYWORD_ONLY, default="none"),
])
