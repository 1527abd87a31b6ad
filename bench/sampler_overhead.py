"""Overhead of our sampling loop against diffusers' stock StableDiffusionPipeline, on the same
random-weight components, scheduler (DDIM) and seeds.

Measures seconds per image for original (plain), TIN (prompt switch), SLD (safety branch in the same
UNet call) and FABRIC (two feedback images in the same UNet call), and images per second at batch 1
and 8. Runs of the contenders are interleaved and the median is reported, so a busy machine slows
both sides alike. Nothing is downloaded: weights are random, the tokenizer is CLIP's real one.

CPU (default): a UNet sized to take roughly 50 ms per step (2 guidance rows) on one quiet core;
the full run takes about 3 minutes on a quiet machine::

    .venv/bin/python bench/sampler_overhead.py --steps 20 --repeats 5 --json bench-sampler.json

Quick check that everything runs (tiny UNet, 4 steps, 2 repeats, batch 2; figures meaningless)::

    .venv/bin/python bench/sampler_overhead.py --quick

GPU: an SD 2.1-sized random-weight UNet (865M parameters, 768x768 images, 96x96 latents, v-prediction),
fp16, 20 steps, same comparisons (about 3 minutes on an H100)::

    .venv/bin/python bench/sampler_overhead.py --device cuda --full-size
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from promptlearn.synthesis.components import DiffusionComponents
from promptlearn.synthesis.interventions import Fabric, PromptSwitch, SafeLatentDiffusion
from promptlearn.synthesis.sampler import Synthesizer
from promptlearn.synthesis.tiny import write_clip_tokenizer

QUERY = "a photo of a naked man standing on a beach at sunset"
REWRITE = "a photo of a man in swimwear standing on a beach at sunset"
CONCEPT = "nudity"

SIZES = {
    # --quick: seconds for the whole script; checks that it runs, says nothing about overhead
    "quick": dict(
        unet=dict(block_out_channels=(32, 64), layers_per_block=1, sample_size=8, attention_head_dim=8,
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=64),
        text=dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=2),
        vae=dict(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
                 up_block_types=["UpDecoderBlock2D"] * 2),
    ),
    # ~50 ms per UNet step at batch 1 (2 CFG rows) on one core of the development machine
    "cpu": dict(
        unet=dict(block_out_channels=(64, 128), layers_per_block=2, sample_size=16, attention_head_dim=8,
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=256),
        text=dict(hidden_size=256, intermediate_size=1024, num_attention_heads=4, num_hidden_layers=4),
        vae=dict(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
                 up_block_types=["UpDecoderBlock2D"] * 2),
    ),
    # --full-size: Stable Diffusion 2.1 (768-v): UNet, OpenCLIP-H text tower (23 layers used), SD VAE
    "full": dict(
        unet=dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, sample_size=96,
                  attention_head_dim=(5, 10, 20, 20), use_linear_projection=True, cross_attention_dim=1024,
                  down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                  up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
        text=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23, hidden_act="gelu"),
        vae=dict(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                 up_block_types=["UpDecoderBlock2D"] * 4, layers_per_block=2, sample_size=768),
    ),
}


def build_components(size: str, device: str, dtype: torch.dtype, tokenizer_dir: Path) -> DiffusionComponents:
    """Random-weight components of the given size, created directly on ``device`` (global RNG untouched)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    spec = SIZES[size]
    rng_devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=rng_devices), torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(in_channels=4, out_channels=4, **spec["unet"])
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **spec["vae"])
        text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406,
                                            eos_token_id=49407, pad_token_id=49407, **spec["text"]))
    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tokenizer_dir))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1,
                              prediction_type="v_prediction" if size == "full" else "epsilon")
    parts = DiffusionComponents(unet=unet.eval(), vae=vae.eval(), text_encoder=text.eval(), tokenizer=tokenizer,
                                scheduler=scheduler)
    return parts.to(device=device, dtype=dtype)


@contextmanager
def unet_rows(unet, rows: list[int]):
    handle = unet.register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
    try:
        yield
    finally:
        handle.remove()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(contenders: dict, repeats: int, device: str) -> dict[str, float]:
    """Median seconds per call of each contender, calls interleaved (A B C A B C ...) after one warm-up each."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(timed(fn, device))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--full-size", action="store_true",
                        help="SD 2.1-sized UNet at 768x768 (meant for --device cuda; fp16 there unless --fp32)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny UNet, 4 steps, 2 repeats, batch 2: checks the script runs, figures meaningless")
    parser.add_argument("--fp32", action="store_true", help="keep float32 on cuda (CPU always uses float32)")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default 20; 4 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per contender (default 5; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--batch", type=int, default=None, help="the larger batch for images per second (default 8; 2 with --quick)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick and args.full_size:
        parser.error("--quick and --full-size exclude each other")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    steps = args.steps if args.steps is not None else (4 if args.quick else 20)
    args.repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    args.batch = args.batch if args.batch is not None else (2 if args.quick else 8)
    for name, value in (("--steps", steps), ("--repeats", args.repeats), ("--batch", args.batch), ("--threads", args.threads)):
        if value <= 0:
            parser.error(f"{name} must be a positive integer, got {value}")
    if steps <= 2:
        parser.error(f"--steps must be > 2 (TIN switches at step 2), got {steps}")
    torch.set_num_threads(args.threads)
    dtype = torch.float16 if args.device.startswith("cuda") and not args.fp32 else torch.float32
    size = "full" if args.full_size else "quick" if args.quick else "cpu"
    device = args.device

    from diffusers import StableDiffusionPipeline, StableDiffusionPipelineSafe
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        parts = build_components(size, device, dtype, Path(tmp) / "tokenizer")
    synth = Synthesizer(parts)
    pipe_kwargs = {**parts.pipeline_kwargs(), "scheduler": copy.deepcopy(parts.scheduler)}
    stock = StableDiffusionPipeline(**pipe_kwargs)
    stock.set_progress_bar_config(disable=True)
    safe = StableDiffusionPipelineSafe(**{**pipe_kwargs, "scheduler": copy.deepcopy(parts.scheduler)}, image_encoder=None)
    safe.set_progress_bar_config(disable=True)
    safe.safety_concept = CONCEPT
    side = parts.default_size
    feedback = [Image.new("RGB", (side, side), (200, 60, 40)), Image.new("RGB", (side, side), (40, 60, 200))]
    sld = SafeLatentDiffusion(CONCEPT, "medium")
    params = sum(p.numel() for p in parts.unet.parameters())
    print(f"# UNet {params / 1e6:.0f}M parameters, latents {parts.unet.config.sample_size}^2, images {side}^2, "
          f"{steps} DDIM steps, {device} {str(dtype).removeprefix('torch.')}, {torch.get_num_threads()} thread(s)",
          file=sys.stderr)

    def ours(batch: int = 1, interventions=()):
        return lambda: synth.generate(QUERY, seeds=list(range(batch)), num_inference_steps=steps,
                                      interventions=list(interventions))

    def theirs(batch: int = 1):
        return lambda: stock(QUERY, generator=[torch.Generator().manual_seed(i) for i in range(batch)],
                             num_images_per_prompt=batch, num_inference_steps=steps)

    def theirs_safe():
        return lambda: safe(QUERY, generator=torch.Generator().manual_seed(0), num_inference_steps=steps,
                            sld_guidance_scale=1000, sld_warmup_steps=10, sld_threshold=0.01,
                            sld_momentum_scale=0.3, sld_mom_beta=0.4)

    # UNet time per step, from a bare call at the batch of each method
    latents = torch.randn(1, 4, parts.unet.config.sample_size, parts.unet.config.sample_size,
                          generator=torch.Generator().manual_seed(0)).to(device, dtype)
    text = torch.zeros(1, 77, parts.unet.config.cross_attention_dim, device=device, dtype=dtype)
    t = torch.tensor(500, device=device)

    def unet_call(rows: int):
        return lambda: parts.unet(latents.repeat(rows, 1, 1, 1), t, encoder_hidden_states=text.repeat(rows, 1, 1))

    with torch.no_grad():
        unet_s = interleaved({"2 rows": unet_call(2), "3 rows": unet_call(3), "4 rows": unet_call(4)}, args.repeats, device)
    # what each method puts through the UNet: calls per run and rows per call (batch 1)
    rows: dict[str, list[int]] = {}
    for name, fn in (("original", ours()), ("tin", ours(interventions=[PromptSwitch(REWRITE, switch_step=2)])),
                     ("sld", ours(interventions=[sld])),
                     ("fabric", ours(interventions=[Fabric(feedback[:1], feedback[1:], feedback_start_ratio=0,
                                                           feedback_end_ratio=1)]))):
        rows[name] = []
        with unet_rows(parts.unet, rows[name]):
            fn()

    # same components, same seed: our plain loop must give the stock pipeline's latents
    ours_latents = synth.generate(QUERY, seeds=[0], num_inference_steps=steps, decode=False).latents
    stock_latents = stock(QUERY, generator=torch.Generator().manual_seed(0), num_inference_steps=steps,
                          output_type="latent").images
    parity = (ours_latents.float() - stock_latents.float()).abs().max().item()

    fabric = Fabric(liked=feedback[:1], disliked=feedback[1:])
    per_image = interleaved(
        {
            "stock": theirs(),
            "original": ours(),
            "tin": ours(interventions=[PromptSwitch(REWRITE, switch_step=2)]),
            "sld": ours(interventions=[sld]),
            "stock_safe": theirs_safe(),
            "fabric": ours(interventions=[fabric]),
        },
        args.repeats,
        device,
    )
    batch_runs = interleaved({"stock": theirs(args.batch), "ours": ours(args.batch)}, max(2, args.repeats // 2), device)

    ratio_vs_stock = {k: round(per_image[k] / per_image["stock"], 3) for k in ("original", "tin")}
    sld_unet_ratio = unet_s["3 rows"] / unet_s["2 rows"]
    figures = {
        "setup": {"size": size, "unet_params_m": round(params / 1e6, 1), "latent": parts.unet.config.sample_size,
                  "image": side, "steps": steps, "repeats": args.repeats, "device": device, "dtype": str(dtype),
                  "threads": torch.get_num_threads(), "fabric_feedback": "1 liked + 1 disliked",
                  "sld": "medium preset (stock: StableDiffusionPipelineSafe with the same parameters)"},
        "plain_latents_max_abs_diff_vs_stock": parity,
        "unet_ms_per_call": {k: round(v * 1000, 1) for k, v in unet_s.items()},
        "unet_calls_per_image": {k: len(v) for k, v in rows.items()},
        "unet_rows_per_call_batch1": {k: sorted(set(v)) for k, v in rows.items()},
        "seconds_per_image": {k: round(v, 4) for k, v in per_image.items()},
        "ratio_vs_stock": ratio_vs_stock,
        "ratio_vs_our_original": {k: round(per_image[k] / per_image["original"], 3) for k in ("tin", "sld", "fabric")},
        "sld_ours_vs_stock_safe": round(per_image["sld"] / per_image["stock_safe"], 3),
        "unet_cost_ratio_3_vs_2_rows": round(sld_unet_ratio, 3),
        "unet_cost_ratio_4_vs_2_rows": round(unet_s["4 rows"] / unet_s["2 rows"], 3),
        "images_per_second": {
            "batch 1": {"stock": round(1 / per_image["stock"], 3), "ours": round(1 / per_image["original"], 3)},
            f"batch {args.batch}": {"stock": round(args.batch / batch_runs["stock"], 3),
                                    "ours": round(args.batch / batch_runs["ours"], 3)},
        },
        "targets": {
            "original_vs_stock <= 1.03": ratio_vs_stock["original"] <= 1.03,
            "tin_vs_stock <= 1.03": ratio_vs_stock["tin"] <= 1.03,
            "sld_unet_cost_vs_plain <= 1.5": sld_unet_ratio <= 1.5,
            "one_unet_call_per_step": all(len(v) == steps for v in rows.values()),
        },
    }
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        from promptlearn.files import atomic_write_json

        atomic_write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
