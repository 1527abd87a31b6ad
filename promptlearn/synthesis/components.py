"""The parts of a Stable Diffusion family checkpoint, loaded once and passed to the sampler.

Covers SD 1.x, SD 2.x (epsilon and v-prediction: the scheduler config carries the prediction
type) and SDXL base (two text encoders, pooled text embeddings and size conditioning). Not covered:
inpainting UNets (9 input channels), guidance-distilled UNets (``time_cond_proj_dim``), the SDXL
refiner (no first text encoder) and single-file ``.ckpt``/``.safetensors`` checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError, one_line
from .model_index import declares, read_model_index

logger = logging.getLogger(__name__)

# short names accepted by ``load_components(scheduler=...)`` and ``--scheduler``
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-ancestral": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "lms": "LMSDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
}

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}

_REQUIRED = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_REQUIRED_XL = _REQUIRED + ("text_encoder_2", "tokenizer_2")


@dataclass
class DiffusionComponents:
    """Everything the sampler needs, already on its device and dtype.

    ``text_encoder_2``/``tokenizer_2`` are set for SDXL only; the safety checker and its
    feature extractor are optional and never run by the sampler (use an output filter).
    """

    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    safety_checker: Any = None
    feature_extractor: Any = None
    force_zeros_for_empty_prompt: bool = True  # SDXL: the empty negative prompt is a zero embedding

    def __post_init__(self) -> None:
        self.validate()

    @property
    def is_sdxl(self) -> bool:
        return self.text_encoder_2 is not None

    @property
    def family(self) -> str:
        return "sdxl" if self.is_sdxl else "sd"

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler.config.get("prediction_type", "epsilon"))

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def default_size(self) -> int:
        """Image side in pixels the UNet was trained for (512 for SD 1.x, 768 for SD 2.1, ...)."""
        return int(self.unet.config.sample_size) * self.vae_scale_factor

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def validate(self) -> None:
        """Refuse components this text-to-image sampler cannot drive, with one clear line."""
        for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            if getattr(self, name) is None:
                raise InputError(f"the checkpoint has no {name}; a Stable Diffusion checkpoint needs one")
        config = self.unet.config
        if config.in_channels != self.vae.config.latent_channels:
            raise InputError(
                f"the UNet takes {config.in_channels} input channels but the VAE makes "
                f"{self.vae.config.latent_channels}-channel latents (an inpainting checkpoint?); "
                "text-to-image sampling needs a plain text-to-image UNet"
            )
        if config.get("time_cond_proj_dim") is not None:
            raise InputError("guidance-distilled UNets (time_cond_proj_dim, e.g. LCM) are not supported")
        needs_xl = config.get("addition_embed_type") == "text_time"
        if needs_xl and (self.text_encoder_2 is None or self.tokenizer_2 is None):
            raise InputError("this UNet expects SDXL conditioning but the checkpoint has no text_encoder_2/tokenizer_2")
        if not needs_xl and self.text_encoder_2 is not None:
            raise InputError("the checkpoint has a second text encoder but its UNet does not take SDXL conditioning")

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "DiffusionComponents":
        """Move the models (in place) and return self."""
        for module in (self.unet, self.vae, self.text_encoder, self.text_encoder_2, self.safety_checker):
            if module is not None:
                module.to(**({"device": device} if device is not None else {}), **({"dtype": dtype} if dtype is not None else {}))
        return self

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the matching diffusers pipeline class (used for comparisons)."""
        kwargs = {"unet": self.unet, "vae": self.vae, "text_encoder": self.text_encoder,
                  "tokenizer": self.tokenizer, "scheduler": self.scheduler}
        if self.is_sdxl:
            kwargs.update(text_encoder_2=self.text_encoder_2, tokenizer_2=self.tokenizer_2,
                          force_zeros_for_empty_prompt=self.force_zeros_for_empty_prompt)
        else:
            kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        return kwargs

    def with_scheduler(self, name: str) -> "DiffusionComponents":
        """A copy sharing the models, with the scheduler swapped for ``name`` (see :data:`SCHEDULERS`)."""
        return replace(self, scheduler=make_scheduler(name, self.scheduler.config))

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> "DiffusionComponents":
        """Take the components of an existing diffusers Stable Diffusion (XL) pipeline."""
        names = {f.name for f in fields(cls)}
        found = {name: value for name, value in pipeline.components.items() if name in names}
        zeros = pipeline.config.get("force_zeros_for_empty_prompt")
        if zeros is not None:
            found["force_zeros_for_empty_prompt"] = bool(zeros)
        return cls(**found)


def parse_dtype(value: str | torch.dtype | None) -> torch.dtype:
    if value is None:
        return torch.float32
    if isinstance(value, torch.dtype):
        return value
    try:
        return DTYPES[value.lower()]
    except KeyError:
        raise InputError(f"unknown dtype {value!r}; use one of {', '.join(sorted(DTYPES))}") from None


def parse_device(value: str | torch.device) -> torch.device:
    """``value`` as a torch device that this machine has, or one :class:`InputError` line."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {str(value)!r}; use e.g. cpu, cuda, cuda:1 or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {str(value)!r}: this torch build or machine has no CUDA GPU")
        if device.index is not None and device.index >= count:
            raise InputError(f"device {str(value)!r}: only {count} CUDA GPU(s) here (cuda:0..cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {str(value)!r}: MPS is not available on this machine")
    return device


def make_scheduler(name: str, config: Any) -> Any:
    """Build the scheduler called ``name`` from another scheduler's config (betas, prediction type)."""
    import diffusers

    return getattr(diffusers, scheduler_class_name(name)).from_config(config)


def scheduler_class_name(name: str) -> str:
    """The diffusers scheduler class for a short name of :data:`SCHEDULERS`, or :class:`InputError`."""
    try:
        return SCHEDULERS[name.lower()]
    except KeyError:
        raise InputError(f"unknown scheduler {name!r}; use one of {', '.join(SCHEDULERS)}") from None


EMBEDDED_MODELS = ("toy",)


def resolve_model_name(model: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """An embedded model's name (``toy``: the toy world's checkpoint shipped in the package) as its
    folder; any other value unchanged (a folder or a hub id)."""
    if str(model).strip().casefold() == "toy":
        from ..toyworld import checkpoint_path

        return str(checkpoint_path())
    return model


def load_components(
    model: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    scheduler: str | None = None,
    load_safety_checker: bool = False,
    local_files_only: bool = False,
) -> DiffusionComponents:
    """Load a diffusers-format Stable Diffusion (1.x, 2.x, XL) checkpoint from a folder, a hub id or an
    embedded model's name (:data:`EMBEDDED_MODELS`).

    ``scheduler`` swaps the checkpoint's scheduler for one of :data:`SCHEDULERS` (the paper uses
    ``"ddim"``), keeping its betas and prediction type. Any problem raises :class:`InputError`
    with one line naming it.
    """
    torch_dtype = parse_dtype(dtype)
    device = parse_device(device)
    source = str(resolve_model_name(model))
    index = read_model_index(source, local_files_only=local_files_only)
    class_name = str(index.get("_class_name", ""))
    is_xl = "XL" in class_name or "text_encoder_2" in index
    required = _REQUIRED_XL if is_xl else _REQUIRED
    for name in required:
        if not declares(index, name):
            raise InputError(f"{source}: the checkpoint has no {name} (model_index.json lists none); "
                             f"a {'SDXL' if is_xl else 'Stable Diffusion'} checkpoint needs one")
        if Path(source).is_dir() and not (Path(source) / name).is_dir():
            raise InputError(f"{source}: folder {name}/ is missing")

    def load(name: str, **kwargs: Any) -> Any:
        library, cls_name = index[name]
        cls = _component_class(library, cls_name, name, source)
        try:
            return cls.from_pretrained(source, subfolder=name, local_files_only=local_files_only, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:  # missing files, bad configs, shape mismatches
            raise InputError(f"{source}: cannot load {name} ({cls_name}): {one_line(exc)}") from exc

    parts: dict[str, Any] = {
        "unet": load("unet", torch_dtype=torch_dtype),
        "vae": load("vae", torch_dtype=torch_dtype),
        "text_encoder": load("text_encoder", dtype=torch_dtype),
        "tokenizer": load("tokenizer"),
        "scheduler": load("scheduler"),
    }
    if is_xl:
        parts["text_encoder_2"] = load("text_encoder_2", dtype=torch_dtype)
        parts["tokenizer_2"] = load("tokenizer_2")
        parts["force_zeros_for_empty_prompt"] = bool(index.get("force_zeros_for_empty_prompt", True))
    if load_safety_checker and declares(index, "safety_checker"):
        parts["safety_checker"] = load("safety_checker", dtype=torch_dtype)
        if declares(index, "feature_extractor"):
            parts["feature_extractor"] = load("feature_extractor")
    if scheduler is not None:
        parts["scheduler"] = make_scheduler(scheduler, parts["scheduler"].config)
    for name in ("unet", "vae", "text_encoder", "text_encoder_2", "safety_checker"):
        if name in parts:
            parts[name].eval()
    return DiffusionComponents(**parts).to(device=device)


# promptlearn's own model classes a checkpoint may name (model_index.json / <part>/config.json ``_class_name``),
# and the module each lives in: the one place such a name maps to code (a checkpoint never picks a module itself)
PROMPTLEARN_CLASSES = {"ToyUNet2DConditionModel": "promptlearn.toyworld.unet"}


def _component_class(library: str, cls_name: str, name: str, source: str) -> Any:
    import importlib

    if cls_name in PROMPTLEARN_CLASSES and library in ("promptlearn", PROMPTLEARN_CLASSES[cls_name]):
        return getattr(importlib.import_module(PROMPTLEARN_CLASSES[cls_name]), cls_name)
    module_name = {"diffusers": "diffusers", "transformers": "transformers"}.get(library)
    if module_name is None and library == "stable_diffusion":
        module_name = "diffusers.pipelines.stable_diffusion"
    if module_name is None:
        raise InputError(f"{source}: {name} comes from library {library!r}, which this loader does not know")
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if cls is None:
        raise InputError(f"{source}: {name} class {cls_name} not found in {module_name}")
    return cls
