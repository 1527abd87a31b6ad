"""Text conditioning: prompt strings to the embeddings the UNet reads, one string at a time.

Each distinct string is encoded on its own (batch of one) and cached for the run, so an
embedding never depends on which other prompts share the batch: this is what makes a prompt
switch at S = T (or S = 0) give bit-for-bit the latents of a plain run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from .components import DiffusionComponents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextEmbedding:
    """The conditioning of one prompt: token states (1, L, D) and, for SDXL, the pooled (1, P) vector."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass(frozen=True)
class RowConditioning:
    """Conditioning for a stack of UNet rows: encoder states and the SDXL extras, if any."""

    encoder_hidden_states: torch.Tensor
    added_cond_kwargs: dict[str, torch.Tensor] | None


class PromptEncoder:
    """Encodes prompts the way diffusers' StableDiffusion(XL)Pipeline does, with a per-run cache.

    ``encode(text, unconditional=True)`` is the negative/unconditional branch: for SDXL with
    ``force_zeros_for_empty_prompt`` an empty unconditional prompt is a zero embedding, as in diffusers.
    """

    def __init__(self, components: DiffusionComponents, *, height: int, width: int):
        self.components = components
        self.device = components.device
        self.dtype = components.dtype
        self._cache: dict[tuple[str, bool], TextEmbedding] = {}
        self._rows: dict[tuple[tuple[str, bool], ...], RowConditioning] = {}
        self._time_ids = None
        if components.is_sdxl:
            # original size, crop top-left, target size (diffusers' defaults: no crop, both = output size)
            self._time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def encode(self, text: str, *, unconditional: bool = False) -> TextEmbedding:
        key = (text, unconditional and self._zero_empty(text))
        if key not in self._cache:
            self._cache[key] = self._encode(text, zeros=key[1])
        return self._cache[key]

    def rows(self, texts: Sequence[tuple[str, bool]]) -> RowConditioning:
        """Stack the embeddings of ``(text, unconditional)`` pairs into UNet batch rows (memoised)."""
        key = tuple(texts)
        if key not in self._rows:
            embeddings = [self.encode(text, unconditional=uncond) for text, uncond in key]
            hidden = torch.cat([e.hidden for e in embeddings])
            added = None
            if self.components.is_sdxl:
                added = {
                    "text_embeds": torch.cat([e.pooled for e in embeddings]),
                    "time_ids": self._time_ids.repeat(len(embeddings), 1),
                }
            self._rows[key] = RowConditioning(hidden, added)
        return self._rows[key]

    def _zero_empty(self, text: str) -> bool:
        return self.components.is_sdxl and self.components.force_zeros_for_empty_prompt and text == ""

    def _encode(self, text: str, *, zeros: bool) -> TextEmbedding:
        c = self.components
        if not c.is_sdxl:
            ids = self._token_ids(c.tokenizer, text)
            mask = None
            if getattr(c.text_encoder.config, "use_attention_mask", False):
                mask = c.tokenizer(text, padding="max_length", max_length=c.tokenizer.model_max_length,
                                   truncation=True, return_tensors="pt").attention_mask.to(self.device)
            hidden = c.text_encoder(ids.to(c.text_encoder.device), attention_mask=mask)[0]
            return TextEmbedding(hidden.to(dtype=self.dtype, device=self.device))
        states, pooled = [], None
        for tokenizer, encoder in ((c.tokenizer, c.text_encoder), (c.tokenizer_2, c.text_encoder_2)):
            out = encoder(self._token_ids(tokenizer, text).to(encoder.device), output_hidden_states=True)
            if out[0].ndim == 2:  # the projection model's text_embeds: the pooled vector
                pooled = out[0]
            states.append(out.hidden_states[-2])
        hidden = torch.cat(states, dim=-1)
        if zeros:
            hidden, pooled = torch.zeros_like(hidden), torch.zeros_like(pooled)
        return TextEmbedding(hidden.to(dtype=self.dtype, device=self.device), pooled.to(dtype=self.dtype, device=self.device))

    @staticmethod
    def _token_ids(tokenizer, text: str) -> torch.Tensor:
        ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids
        count = prompt_tokens(tokenizer, text)
        if count > tokenizer.model_max_length:  # the caller reports it once, with its method (see prompt_tokens)
            logger.debug("prompt of %d tokens cut to the text encoder's %d", count, tokenizer.model_max_length)
        return ids


def prompt_tokens(tokenizer, text: str) -> int:
    """How many tokens the text encoder's tokenizer makes of ``text`` (with its start and end
    tokens), without truncation and without the tokenizer's own too-long warning: callers
    compare it with ``tokenizer.model_max_length`` (77 for CLIP) and report a cut once."""
    return len(tokenizer(text, truncation=False, verbose=False)["input_ids"])  # verbose=False: no warning of its own


def prompt_window(components: DiffusionComponents) -> int:
    """The tokens the (first) text encoder reads, start and end tokens included (77 for CLIP)."""
    return int(components.tokenizer.model_max_length)


def too_long(components: DiffusionComponents, text: str) -> int | None:
    """The token count of ``text`` when it exceeds the text encoder's window, else ``None``."""
    count = prompt_tokens(components.tokenizer, text)
    return count if count > prompt_window(components) else None
