"""Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/toy_position_probe.py MODEL_DIR

Relative change of the UNet output when only the position word changes (fixed noise), per timestep."""
import sys, torch
torch.set_num_threads(1)
from promptlearn.synthesis.components import load_components
c = load_components(sys.argv[1], scheduler="ddim")
tok, te, unet = c.tokenizer, c.text_encoder, c.unet
def enc(t):
    ids = tok([t], padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    return te(ids)[0]
g = torch.Generator().manual_seed(0)
x = torch.randn((4, unet.config.in_channels, unet.config.sample_size, unet.config.sample_size), generator=g)
pairs = [("a red ball on the left", "a red ball on the right"), ("a blue square at the top", "a blue square at the bottom"), ("a red ball", "a blue ball")]
with torch.no_grad():
    for t in (999, 800, 600, 300):
        row = []
        for a, b in pairs:
            ha, hb = enc(a).expand(4, -1, -1), enc(b).expand(4, -1, -1)
            oa, ob = unet(x, t, ha).sample, unet(x, t, hb).sample
            row.append(float((oa - ob).norm() / oa.norm()))
        print(t, " ".join(f"{v:.3f}" for v in row))
