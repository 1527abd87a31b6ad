"""FABRIC feedback through an attention processor: no feedback is plain, feedback changes samples."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.synthesis.feedback_loop import FeedbackLoop
from promptlearn.synthesis.interventions import Fabric, FabricAttnProcessor, SafeLatentDiffusion
from promptlearn.synthesis.interventions.base import StepInfo
from promptlearn.synthesis.interventions.fabric import _SharedState, _StepPlan
from synth_helpers import QUERY, STEPS

RED, BLUE = Image.new("RGB", (16, 16), (220, 30, 30)), Image.new("RGB", (16, 16), (30, 30, 220))
WIDE = dict(feedback_start_ratio=0.0, feedback_end_ratio=1.0)


def _run(synth, *interventions, seeds=(0, 1), **kwargs):
    return synth.generate(QUERY, seeds=list(seeds), num_inference_steps=STEPS, decode=False,
                          interventions=list(interventions), **kwargs).latents


def test_no_feedback_equals_plain(synth, components):
    before = dict(components.unet.attn_processors)
    assert torch.equal(_run(synth, Fabric()), _run(synth))
    assert components.unet.attn_processors == before  # nothing installed


def test_feedback_changes_samples_and_is_removed_after_the_run(synth, components):
    before = {name: type(p) for name, p in components.unet.attn_processors.items()}
    plain = _run(synth)
    liked = _run(synth, Fabric(liked=[RED], **WIDE))
    disliked = _run(synth, Fabric(disliked=[RED], **WIDE))
    assert not torch.allclose(liked, plain, atol=1e-4)
    assert not torch.allclose(disliked, plain, atol=1e-4)
    assert not torch.allclose(liked, disliked, atol=1e-4)
    assert torch.equal(_run(synth, Fabric(liked=[RED], **WIDE)), liked)  # deterministic
    assert {name: type(p) for name, p in components.unet.attn_processors.items()} == before
    assert torch.equal(_run(synth), plain)


def test_zero_weight_everywhere_equals_plain(synth, unet_calls):
    out = _run(synth, Fabric(liked=[RED], disliked=[BLUE], feedback_weight=0.0, min_weight=0.0))
    assert torch.equal(out, _run(synth))
    assert set(unet_calls.batch_sizes) == {4}  # no reference rows at all


def test_references_share_the_single_unet_call(synth, unet_calls):
    _run(synth, Fabric(liked=[RED, BLUE], disliked=[BLUE], **WIDE))
    assert unet_calls.batch_sizes == [2 * 2 + 3] * STEPS
    unet_calls.batch_sizes.clear()
    _run(synth, Fabric(liked=[RED], **WIDE), SafeLatentDiffusion("nudity", "max"))
    assert unet_calls.batch_sizes == [3 * 2 + 1] * STEPS


def test_processors_are_restored_when_the_run_fails(synth, components):
    before = dict(components.unet.attn_processors)

    class Boom(SafeLatentDiffusion):
        def guide(self, noise, step, guidance_scale):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _run(synth, Fabric(liked=[RED], **WIDE), Boom("nudity", "max"))
    assert components.unet.attn_processors == before


def test_weight_window_follows_the_ratios():
    fabric = Fabric(liked=[RED], feedback_weight=0.8, min_weight=0.05, feedback_start_ratio=0.25, feedback_end_ratio=0.5)
    weights = [fabric.weight_at(StepInfo(i, i, 8, torch.tensor(0))) for i in range(8)]
    assert weights == [0.05, 0.05, 0.8, 0.8, 0.8, 0.05, 0.05, 0.05]


def test_processor_weights_equal_reweighted_probabilities():
    """Adding log(w) to reference logits is FABRIC's 'multiply the probabilities by w, renormalise'."""
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    attn = Attention(query_dim=8, heads=2, dim_head=4)
    gen = torch.Generator().manual_seed(0)
    for p in attn.parameters():
        p.data = torch.randn(p.shape, generator=gen) * 0.3
    hidden = torch.randn(3, 5, 8, generator=gen)  # rows: uncond, cond, one reference
    weights = torch.tensor([[1.0, 0.0, 0.4], [1.0, 0.8, 0.0], [1.0, 0.0, 0.0]])
    state = _SharedState()
    state.plan = _StepPlan(liked=slice(2, 2), disliked=slice(2, 3), row_weights=weights)
    got = FabricAttnProcessor(AttnProcessor2_0(), state)(attn, hidden)
    # reference: explicit softmax over own + reference tokens with probabilities scaled by the weights
    ref_tokens = hidden[2:3]
    expected = []
    for row in range(3):
        context = torch.cat([hidden[row : row + 1], ref_tokens], dim=1)
        q = attn.to_q(hidden[row : row + 1]).view(1, 5, 2, 4).transpose(1, 2)
        k = attn.to_k(context).view(1, 10, 2, 4).transpose(1, 2)
        v = attn.to_v(context).view(1, 10, 2, 4).transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
        scale = torch.cat([torch.ones(5), torch.full((5,), float(weights[row, 2]))])
        probs = probs * scale / (probs * scale).sum(-1, keepdim=True)
        out = (probs @ v).transpose(1, 2).reshape(1, 5, 8)
        expected.append(attn.to_out[0](out))
    torch.testing.assert_close(got, torch.cat(expected), rtol=1e-5, atol=1e-5)
    state.plan = None
    torch.testing.assert_close(FabricAttnProcessor(AttnProcessor2_0(), state)(attn, hidden), AttnProcessor2_0()(attn, hidden))


def test_feedback_images_from_paths_and_bad_files(tmp_path, synth):
    good = tmp_path / "liked.png"
    RED.save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    assert len(Fabric(liked=[good]).liked) == 1
    with pytest.raises(InputError, match="cannot read feedback image .*broken.png"):
        Fabric(liked=[bad])
    with pytest.raises(InputError, match="feedback image not found: .*missing.png"):
        Fabric(disliked=[tmp_path / "missing.png"])
    with pytest.raises(InputError, match="feedback_start_ratio <= feedback_end_ratio"):
        Fabric(feedback_start_ratio=0.8, feedback_end_ratio=0.2)
    with pytest.raises(InputError, match="neg_scale must be >= 0"):
        Fabric(neg_scale=-1)
    with pytest.raises(InputError, match="disliked feedback images need classifier-free guidance"):
        synth.generate(QUERY, num_inference_steps=1, guidance_scale=1.0, interventions=Fabric(disliked=[RED]))


def test_feedback_loop_rounds(synth):
    loop = FeedbackLoop(synth, QUERY, batch_size=2, seed=10, fabric=WIDE, num_inference_steps=2)
    with pytest.raises(InputError, match="needs a generated round first"):
        loop.give_feedback(liked=[0])
    first = loop.generate()
    assert first.seeds == [10, 11]
    loop.give_feedback(liked=[1], disliked=[BLUE])
    with pytest.raises(InputError, match="feedback index 5 out of range"):
        loop.give_feedback(liked=[5])
    second = loop.generate()
    assert second.seeds == [12, 13]
    assert len(loop.liked) == 1 and len(loop.disliked) == 1
    plain = synth.generate(QUERY, seeds=[12, 13], num_inference_steps=2, decode=False)
    assert not torch.allclose(second.latents, plain.latents, atol=1e-4)

    judged = []
    results = FeedbackLoop(synth, QUERY, batch_size=2, num_inference_steps=2).run(
        3, lambda result: (judged.append(result.seeds) or [0], [1]))
    assert [r.seeds for r in results] == [[0, 1], [2, 3], [4, 5]]
    assert judged == [[0, 1], [2, 3]]


@pytest.mark.parametrize("w_liked, w_disliked", [(0.8, 0.4), (1.0, 1.0), (0.05, 0.0)])
def test_processor_runs_equal_one_pass_over_all_keys(w_liked, w_disliked):
    """Rows attend only over the keys they weigh (runs of equal weights, plain rows through the
    base processor): the same as one masked pass of every row over all keys (log 0 = -inf)."""
    import torch.nn.functional as F
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    attn = Attention(query_dim=8, heads=2, dim_head=4)
    gen = torch.Generator().manual_seed(1)
    for p in attn.parameters():
        p.data = torch.randn(p.shape, generator=gen) * 0.3
    # rows: uncond, cond, SLD safety, two liked references, one disliked reference
    hidden = torch.randn(6, 5, 8, generator=gen)
    weights = torch.tensor([[1.0, 0.0, w_disliked], [1.0, w_liked, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    state = _SharedState()
    state.plan = _StepPlan(liked=slice(3, 5), disliked=slice(5, 6), row_weights=weights)
    got = FabricAttnProcessor(AttnProcessor2_0(), state)(attn, hidden)
    refs = torch.cat([hidden[3:5].reshape(1, -1, 8), hidden[5:6].reshape(1, -1, 8)], dim=1).expand(6, -1, -1)
    q = attn.to_q(hidden).view(6, 5, 2, 4).transpose(1, 2)
    k = torch.cat([attn.to_k(hidden), attn.to_k(refs)], dim=1).view(6, 20, 2, 4).transpose(1, 2)
    v = torch.cat([attn.to_v(hidden), attn.to_v(refs)], dim=1).view(6, 20, 2, 4).transpose(1, 2)
    bias = torch.log(weights).repeat_interleave(torch.tensor([5, 10, 5]), dim=1).view(6, 1, 1, 20)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(6, 5, 8)
    torch.testing.assert_close(got, attn.to_out[0](out), rtol=1e-5, atol=1e-5)
