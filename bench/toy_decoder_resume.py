"""Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/toy_decoder_resume.py RUN_DIR (a toy-world train --out whose gate refused).

Resume the decoder phase of a fresh end-to-end run that stopped at 358/360 after decoder_steps=1800, with the
new default decoder_extend (the first 1800 steps are the same under both recipes)."""
import json, sys, time
from dataclasses import asdict, fields
from pathlib import Path
import torch
torch.set_num_threads(1)
from promptlearn.toyworld import train as T
out = Path(sys.argv[1])
saved = torch.load(out / T.STATE_FILE, map_location="cpu", weights_only=False)
config = T.TrainConfig()
names = {f.name for f in fields(T.TrainConfig)}
for k, v in {**T.LEGACY_VALUES, **saved["config"]}.items():  # a field the old run lacks: the value it was trained with
    setattr(config, k, tuple(v) if isinstance(v, list) else v)
print("old config == new defaults except new fields:", {k: v for k, v in saved["config"].items() if json.loads(json.dumps(getattr(T.TrainConfig(), k))) != json.loads(json.dumps(v))})
config.check()
models = T.build_models(config)
T._fast_attention(models)
state = T.TrainState(**saved["state"])
for name in ("vae", "text_encoder", "unet"):
    models[name].load_state_dict(saved[name])
print("resuming phase", state.phase, "step", state.step, "curve", state.round_trip_curve[-3:])
started = time.monotonic()
try:
    T._train_decoder(out, config, state, models, T.scene_pixels(), saved, progress=False)
    print("gate passed")
except Exception as e:
    print("gate refused:", e)
print("curve:", state.round_trip_curve, "round_trip:", state.round_trip, "extra seconds:", round(time.monotonic() - started, 1))
