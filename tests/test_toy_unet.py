"""ToyUNet2DConditionModel: the stock UNet plus a learned 2-D positional embedding after conv_in; saved in
diffusers' folder layout, loaded by load_components through its class name, stock checkpoints unchanged."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import UNet2DConditionModel

from promptlearn.errors import InputError
from promptlearn.synthesis.components import PROMPTLEARN_CLASSES, load_components
from promptlearn.synthesis.tiny import write_tiny_sd
from promptlearn.toyworld.train import TrainConfig, build_models
from promptlearn.toyworld.unet import ToyUNet2DConditionModel, sinusoidal_2d

KWARGS = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
              down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
              cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)


def _unet(position="learned", seed=0):
    torch.manual_seed(seed)
    return ToyUNet2DConditionModel(**KWARGS, position_embedding=position).eval()


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn((2, 4, 8, 8), generator=g), torch.randn((2, 77, 32), generator=g)


def test_the_embedding_is_one_extra_parameter_on_the_stock_keys():
    torch.manual_seed(0)
    stock = UNet2DConditionModel(**KWARGS).state_dict()
    toy = _unet().state_dict()
    assert set(toy) - set(stock) == {"conv_in.position_embedding"} and set(stock) <= set(toy)
    assert all(torch.equal(stock[k], toy[k]) for k in stock)  # same init as the stock UNet for the same seed
    assert toy["conv_in.position_embedding"].shape == (32, 8, 8)
    none = _unet("none")
    assert type(none.conv_in) is torch.nn.Conv2d and set(none.state_dict()) == set(stock)


def test_sinusoidal_init_tells_every_cell_apart():
    table = sinusoidal_2d(32, 8, 8).flatten(1).T  # one row per cell
    assert len({tuple(row.round(decimals=4).tolist()) for row in table}) == 64


def test_save_load_round_trip_keeps_the_option_and_the_embedding(tmp_path):
    unet = _unet()
    with torch.no_grad():
        unet.conv_in.position_embedding.add_(0.25)  # a trained value, not the init
    unet.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["_class_name"], config["position_embedding"]) == ("ToyUNet2DConditionModel", "learned")
    loaded = ToyUNet2DConditionModel.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.conv_in.position_embedding, unet.conv_in.position_embedding)
    x, text = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, 500, text).sample, unet(x, 500, text).sample)


def test_the_position_embedding_changes_the_output():
    unet = _unet()
    x, text = _inputs()
    with torch.no_grad():
        with_position = unet(x, 500, text).sample
        unet.conv_in.position_embedding.zero_()
        without = unet(x, 500, text).sample
    assert (with_position - without).norm() / without.norm() > 0.05


def test_learned_attention_adds_one_embedding_per_attention_block_and_round_trips(tmp_path):
    unet = _unet("learned-attention")
    extra = {k: tuple(v.shape) for k, v in unet.state_dict().items() if "position" in k}
    assert extra == {"conv_in.position_embedding": (32, 8, 8), "down_blocks.1.attentions.0.position.embedding": (64, 4, 4),
                     "mid_block.attentions.0.position.embedding": (64, 4, 4),
                     "up_blocks.0.attentions.0.position.embedding": (64, 4, 4),
                     "up_blocks.0.attentions.1.position.embedding": (64, 4, 4)}
    x, text = _inputs()
    with torch.no_grad():
        before = unet(x, 500, text).sample
        unet.save_pretrained(tmp_path)
        loaded = ToyUNet2DConditionModel.from_pretrained(tmp_path).eval()
        assert torch.equal(loaded(x, 500, text).sample, before)
        unet.mid_block.attentions[0].position.embedding.zero_()  # the hook reads this module's own parameter
        assert not torch.equal(unet(x, 500, text).sample, before)


def test_a_bad_option_is_refused():
    with pytest.raises(ValueError, match="position_embedding"):
        _unet("fourier")
    with pytest.raises(InputError, match="UNet position"):
        TrainConfig(unet_position="fourier").check()


def test_load_components_picks_the_class_by_name_and_stock_checkpoints_stay_stock(tmp_path):
    stock_dir = write_tiny_sd(tmp_path / "stock", sample_size=8)
    assert type(load_components(stock_dir).unet) is UNet2DConditionModel
    toy_dir = write_tiny_sd(tmp_path / "toy", sample_size=8)
    config = UNet2DConditionModel.load_config(toy_dir / "unet")
    unet = ToyUNet2DConditionModel.from_config({k: v for k, v in config.items() if not k.startswith("_")},
                                               position_embedding="learned")
    unet.save_pretrained(toy_dir / "unet")
    index = json.loads((toy_dir / "model_index.json").read_text())
    index["unet"] = ["promptlearn.toyworld.unet", "ToyUNet2DConditionModel"]  # what StableDiffusionPipeline.save_pretrained writes
    (toy_dir / "model_index.json").write_text(json.dumps(index))
    loaded = load_components(toy_dir).unet
    assert type(loaded) is ToyUNet2DConditionModel and loaded.config.position_embedding == "learned"
    assert PROMPTLEARN_CLASSES["ToyUNet2DConditionModel"] == "promptlearn.toyworld.unet"
    index["unet"] = ["promptlearn.toyworld.unet", "NotAModel"]  # a checkpoint never names a module of ours by itself
    (toy_dir / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="unet"):
        load_components(toy_dir)


def test_build_models_uses_the_option():
    assert type(build_models(TrainConfig(unet_position="none"))["unet"]) is UNet2DConditionModel  # exactly the stock model
    assert build_models(TrainConfig())["unet"].config.position_embedding == "learned-attention"  # the recipe's default
    unet = build_models(TrainConfig(unet_position="learned"))["unet"]
    assert type(unet) is ToyUNet2DConditionModel and unet.config.position_embedding == "learned"


def test_text_map_starts_as_the_learned_unet_and_then_reads_the_caption(tmp_path):
    x, text = _inputs()
    learned, mapped = _unet("learned"), _unet("text-map")
    assert set(mapped.state_dict()) - set(learned.state_dict()) == {"text_map.proj.weight", "text_map.proj.bias"}
    with torch.no_grad():
        assert torch.equal(mapped(x, 500, text).sample, learned(x, 500, text).sample)  # zero-initialised map
        mapped.text_map.proj.weight.normal_()
        one = mapped(x, 500, text).sample
        alone = mapped(x[:1], 500, text[:1]).sample
    assert not torch.allclose(one, learned(x, 500, text).sample, atol=1e-3)  # the map now adds to conv_in
    assert torch.allclose(one[:1], alone, atol=1e-5)  # each sample's map comes from its own caption
    assert mapped.conv_in.text_map_value is None  # nothing of a call is left on the module
    mapped.save_pretrained(tmp_path)
    loaded = ToyUNet2DConditionModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(loaded(x, 500, text).sample, one)
