"""FABRIC attention A/B in one process: plain vs FABRIC with an older ``fabric.py``'s processor vs
FABRIC with the current one, plus 20 bare UNet calls at 2 and 4 rows (one image's worth), on
bench/sampler_overhead.py's CPU components, interleaved, median of REPEATS::

    git show a3fd684~1:promptlearn/synthesis/interventions/fabric.py > /tmp/old_fabric.py
    OMP_NUM_THREADS=1 .venv/bin/python bench/fabric_attention_ab.py /tmp/old_fabric.py 5
"""
import sys, time, tempfile, statistics, types, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from pathlib import Path
from sampler_overhead import build_components, QUERY
import promptlearn.synthesis.interventions.fabric as current
from promptlearn.synthesis.sampler import Synthesizer
from PIL import Image
module = types.ModuleType("promptlearn.synthesis.interventions.old_fabric")
module.__package__ = "promptlearn.synthesis.interventions"
sys.modules[module.__name__] = module
old_source = open(sys.argv[1]).read().replace("from ..model_index import first_line", "from ...errors import one_line as first_line")
exec(compile(old_source, sys.argv[1], "exec"), module.__dict__)
NEW, OLD = current.FabricAttnProcessor, module.FabricAttnProcessor
torch.set_num_threads(1)
with tempfile.TemporaryDirectory() as tmp:
    parts = build_components("cpu", "cpu", torch.float32, Path(tmp) / "tok")
synth = Synthesizer(parts)
side = parts.default_size
fb = [Image.new("RGB", (side, side), (200, 60, 40)), Image.new("RGB", (side, side), (40, 60, 200))]
steps, repeats = 20, int(sys.argv[2]) if len(sys.argv) > 2 else 5
def gen(proc):
    def run():
        current.FabricAttnProcessor = proc
        iv = [] if proc is None else [current.Fabric(fb[:1], fb[1:])]
        return synth.generate(QUERY, seeds=[0], num_inference_steps=steps, interventions=iv, decode=False).latents
    return run
lat = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
text = torch.zeros(1, 77, parts.unet.config.cross_attention_dim); t = torch.tensor(500)
def unet(rows):
    def run():
        with torch.no_grad():
            for _ in range(steps):
                parts.unet(lat.repeat(rows, 1, 1, 1), t, encoder_hidden_states=text.repeat(rows, 1, 1))
    return run
contenders = {"plain": gen(None), "fabric_old": gen(OLD), "fabric_new": gen(NEW), "unet2x20": unet(2), "unet4x20": unet(4)}
outs = {k: f() for k, f in contenders.items()}
diff = (outs["fabric_old"] - outs["fabric_new"]).abs().max().item()
times = {k: [] for k in contenders}
for _ in range(repeats):
    for k, f in contenders.items():
        s = time.perf_counter(); f(); times[k].append(time.perf_counter() - s)
m = {k: statistics.median(v) for k, v in times.items()}
res = {"median_s": {k: round(v, 3) for k, v in m.items()},
       "fabric_old_vs_plain": round(m["fabric_old"] / m["plain"], 3), "fabric_new_vs_plain": round(m["fabric_new"] / m["plain"], 3),
       "unet_4_vs_2_rows": round(m["unet4x20"] / m["unet2x20"], 3), "latents_max_abs_diff_old_vs_new": diff, "repeats": repeats}
print(json.dumps(res, indent=1))
