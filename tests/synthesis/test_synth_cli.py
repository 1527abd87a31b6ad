"""``promptlearn generate`` end to end on a tiny checkpoint, and its one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from promptlearn.cli import generate as generate_module
from promptlearn.cli.main import main
from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd

BASE = ["generate", "--query", "a photo of a naked man on a beach", "--concept", "naked", "--steps", "2", "--no-progress"]


def _run(capsys, *args):
    code = main([*BASE, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "method, extra",
    [("original", []), ("blacklist", []), ("negative", []), ("sld", ["--sld-preset", "max"]),
     ("tin", ["--rewrite", "a man in swimwear on a beach", "--switch-step", "1"]),
     ("tin", ["--rewrite", "a man in swimwear on a beach", "--switch-step", "0.5"])],
)
def test_every_method_writes_an_image(sd_dir, tmp_path, capsys, method, extra):
    out = tmp_path / f"{method}.png"
    code, stdout, stderr = _run(capsys, "--model", str(sd_dir), "--method", method, "--out", str(out), *extra)
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    assert Image.open(out).size == (16, 16)


def test_compare_writes_a_captioned_grid(sd_dir, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--compare", "original,blacklist,negative,sld,tin",
                           "--rewrite", "a man in swimwear", "--num-images", "2", "--out", str(out))
    assert code == 0, stderr
    grid = Image.open(out)
    assert grid.width > 5 * 128 and grid.height > 2 * 16


def test_feedback_images_and_seeds(sd_dir, tmp_path, capsys):
    liked, disliked = tmp_path / "liked.png", tmp_path / "disliked.png"
    Image.new("RGB", (16, 16), "red").save(liked)
    Image.new("RGB", (16, 16), "blue").save(disliked)
    out = tmp_path / "fb.png"
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--feedback-liked", str(liked),
                           "--feedback-disliked", str(disliked), "--num-images", "2", "--out", str(out))
    assert code == 0, stderr
    assert Image.open(out).width > 2 * 16


@pytest.mark.parametrize("window", ["all", "first-half", "0.2:0.9"])
def test_feedback_weights_and_window_from_the_cli(sd_dir, tmp_path, capsys, window):
    """FABRIC as in its paper: weights and the step window (all steps, the first half, any)."""
    liked = tmp_path / "liked.png"
    Image.new("RGB", (16, 16), "red").save(liked)
    out = tmp_path / "fb.png"
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--feedback-liked", str(liked), "--feedback-weight", "1.0",
                           "--feedback-min-weight", "0.1", "--feedback-window", window, "--out", str(out))
    assert code == 0, stderr
    assert out.is_file()


def test_several_feedback_rounds_judged_by_the_filter(sd_dir, tmp_path, capsys):
    clip = write_tiny_clip(tmp_path / "clip")
    out = tmp_path / "rounds.png"
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--feedback-rounds", "2", "--num-images", "2", "--filter", f"clip:{clip}",
                           "--feedback-window", "first-half", "--out", str(out))
    assert code == 0, stderr
    assert "feedback rounds: flagged per round [" in stderr and Image.open(out).width > 2 * 16
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--feedback-rounds", "2", "--out", str(out))
    assert code != 0 and "--feedback-rounds > 1 needs --filter" in stderr


def test_feedback_window_names():
    from promptlearn.cli.generate import parse_feedback_window
    from promptlearn.errors import InputError

    assert parse_feedback_window("all") == (0.0, 1.0) and parse_feedback_window("first-half") == (0.0, 0.5)
    assert parse_feedback_window("0.25:0.75") == (0.25, 0.75)
    for bad in ("half", "0.8:0.2", "0:2", "x:y"):
        with pytest.raises(InputError, match="bad --feedback-window"):
            parse_feedback_window(bad)


def test_safety_checker_filter(tmp_path, capsys):
    model = write_tiny_sd(tmp_path / "sd", sample_size=8, with_safety_checker=True)
    out = tmp_path / "f.png"
    code, _, stderr = _run(capsys, "--model", str(model), "--filter", "safety-checker", "--out", str(out))
    assert code == 0, stderr
    assert "filter" in stderr and "images flagged" in stderr


def test_clip_filter_over_a_compare_grid(sd_dir, tmp_path, capsys):
    clip = write_tiny_clip(tmp_path / "clip")
    out = tmp_path / "grid.png"
    code, _, stderr = _run(capsys, "--model", str(sd_dir), "--compare", "original,blacklist", "--filter", f"clip:{clip}",
                           "--out", str(out))
    assert code == 0, stderr
    assert "filter clip" in stderr and "/2 images flagged" in stderr
    assert out.exists()


def test_flagged_images_are_blacked_out():
    class FlagSecond:
        name = "fake"

        def check(self, images):
            return [type("D", (), {"flagged": i == 1})() for i in range(len(images))]

    tiles = [Image.new("RGB", (4, 4), "white") for _ in range(2)]
    tiles, captions = generate_module._apply_filter(FlagSecond(), tiles, ["a", "b"])
    assert captions == ["a", "b [filtered]"]
    assert tiles[1].getpixel((0, 0)) == (0, 0, 0) and tiles[0].getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{missing}", "--out", "{out}"], "model path does not exist"),
        (["--model", "{sd}", "--method", "tin", "--rewrite", "x", "--switch-step", "5", "--out", "{out}"],
         "--switch-step S=5 exceeds the 2 sampler steps"),
        (["--model", "{sd}", "--method", "tin", "--out", "{out}"], "method tin needs --rewrite, or --instruction"),
        (["--model", "{sd}", "--feedback-liked", "{bad_image}", "--out", "{out}"], "cannot read feedback image"),
        (["--model", "{sd}", "--feedback-disliked", "{tmp}/none.png", "--out", "{out}"], "feedback image not found"),
        (["--model", "{no_text}", "--out", "{out}"], "folder text_encoder/ is missing"),
        (["--model", "{sd}", "--query", "  ", "--out", "{out}"], "empty query (--query)"),
        (["--model", "{sd}", "--method", "tin", "--rewrite", " ", "--out", "{out}"], "empty rewrite (--rewrite)"),
        (["--model", "{sd}", "--filter", "clip:{tmp}/none", "--out", "{out}"], "--filter: CLIP filter model not found"),
        (["--model", "{sd}", "--method", "sld", "--compare", "original,tin", "--out", "{out}"], "not both"),
        (["--model", "{sd}", "--compare", "original,magic", "--out", "{out}"], "unknown method 'magic'"),
        (["--model", "{sd}", "--out", "{tmp}/out.txt"], "unknown image format"),
        (["--model", "{sd}", "--method", "tin", "--instruction", "{tmp}/none.txt", "--out", "{out}"],
         "--instruction: instruction not found"),
        (["--model", "{sd}", "--steps", "0", "--out", "{out}"], "--steps must be a positive integer"),
        (["--model", "{sd}", "--guidance", "1.0", "--method", "negative", "--out", "{out}"],
         "needs classifier-free guidance"),
        (["--model", "{sd}", "--filter", "magic", "--out", "{out}"], "unknown filter"),
        # checked before the model is loaded: a missing model is not reached
        (["--model", "{missing}", "--scheduler", "fancy", "--out", "{out}"], "unknown scheduler 'fancy'"),
        (["--model", "{missing}", "--guidance", "-1", "--out", "{out}"], "--guidance must be >= 0"),
        (["--model", "{missing}", "--method", "sld", "--guidance", "1", "--out", "{out}"],
         "method sld needs classifier-free guidance"),
        (["--model", "{missing}", "--negative-prompt", "blurry", "--guidance", "0", "--out", "{out}"],
         "--negative-prompt needs classifier-free guidance"),
        (["--model", "{sd}", "--device", "bogus", "--out", "{out}"], "unknown device 'bogus'"),
        (["--model", "{sd}", "--device", "cuda:99", "--out", "{out}"], "device 'cuda:99': "),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(sd_dir, tmp_path, capsys, args, message):
    bad_image = tmp_path / "bad.png"
    bad_image.write_bytes(b"not a png")
    no_text = tmp_path / "no_text"
    shutil.copytree(sd_dir, no_text)
    shutil.rmtree(no_text / "text_encoder")
    values = {"missing": tmp_path / "nowhere", "sd": sd_dir, "out": tmp_path / "out.png", "tmp": tmp_path,
              "bad_image": bad_image, "no_text": no_text}
    code, stdout, stderr = _run(capsys, *[a.format(**values) for a in args])
    assert code != 0
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "out.png").exists() and not Path(values["tmp"] / "out.txt").exists()
