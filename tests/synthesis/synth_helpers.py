"""Helpers shared by the synthesis tests (a uniquely named module, so it never clashes with another conftest)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from promptlearn.synthesis.components import DiffusionComponents
from promptlearn.synthesis.tiny import write_clip_tokenizer

STEPS = 4
QUERY = "a photo of a naked man on a beach"
REWRITE = "a photo of a man in swimwear on a beach"


def diffusers_pipeline(components: DiffusionComponents):
    """The stock diffusers pipeline on the same models (and a copy of the scheduler, which it may edit)."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    kwargs = components.pipeline_kwargs()
    kwargs["scheduler"] = copy.deepcopy(components.scheduler)
    cls = StableDiffusionXLPipeline if components.is_sdxl else StableDiffusionPipeline
    pipe = cls(**kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sdxl_components(tokenizer_dir: Path) -> DiffusionComponents:
    """diffusers' own SDXL fast-test components, with the real CLIP tokenizer (built in memory)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=8, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=80, cross_attention_dim=64,  # 80 = 6 * 8 + 32
        )
        vae = AutoencoderKL(
            block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        )
        config = CLIPTextConfig(
            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, vocab_size=49408, hidden_act="gelu", projection_dim=32,
        )
        text_encoder, text_encoder_2 = CLIPTextModel(config), CLIPTextModelWithProjection(config)
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tokenizer_dir))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    return DiffusionComponents(
        unet=unet.eval(), vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer,
        scheduler=scheduler, text_encoder_2=text_encoder_2.eval(), tokenizer_2=tokenizer,
    )


class UNetCalls:
    """Counts UNet forward calls and records each call's batch size."""

    def __init__(self, unet):
        self.batch_sizes: list[int] = []
        self._handle = unet.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:
        self.batch_sizes.append(args[0].shape[0])

    def close(self) -> None:
        self._handle.remove()
