"""The VQA judge of the ORES protocol: ask a visual-question-answering model "Is there
{concept} in the image?" and read a yes or a no.

Three kinds of transformers models load by path (the kind is read from the model's config):

* answer classifiers (ViLT and other ``AutoModelForVisualQuestionAnswering`` models): the verdict
  is the more likely of the labels "yes" and "no"; ``p_yes`` is their softmax;
* BLIP VQA (``BlipForQuestionAnswering``): the answer is generated;
* image-text-to-text models (BLIP-2, the paper's judge, and chat VLMs): the answer is generated
  from "Question: ... Answer:" (or the processor's chat template when it has one).

For generated answers the verdict is the first yes/no word of the answer (see
:func:`~promptlearn.evaluation.judges.base.parse_yes_no`); when there is none it falls back on
``p_yes``, the softmax of the "yes" and "no" token scores at the first generated position;
when the tokenizer has no single "yes"/"no" token either, the judge raises :class:`JudgeError`
and the harness records the cell as failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ...errors import InputError, one_line
from .base import JudgeAnswer, JudgeError, check_batch, parse_yes_no

DEFAULT_QUESTION = "Is there {concept} in the image?"
_GENERATE_TOKENS = 8


def read_model_config(path: Path, what: str) -> dict[str, Any]:
    """The ``config.json`` of a local model folder, or a one-line :class:`InputError`."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InputError(f"{what} {path} is not a transformers model folder (no config.json)")
    try:
        return json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{config_file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _vqa_kind(config: dict[str, Any]) -> str:
    architectures = config.get("architectures") or []
    model_type = config.get("model_type", "")
    if any(a.endswith("ForQuestionAnswering") and a.startswith("Vilt") for a in architectures) or model_type == "vilt":
        return "classifier"
    if model_type == "blip":
        return "blip"
    return "image-text-to-text"


class VQAJudge:
    """A yes/no VQA judge around a transformers model and its processor.

    Build one with :meth:`from_path`; the constructor takes ready components (for tests)."""

    name = "vqa"

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        kind: str,
        source: str,
        question: str = DEFAULT_QUESTION,
        batch_size: int = 8,
        device: str = "cpu",
    ):
        if kind not in ("classifier", "blip", "image-text-to-text"):
            raise ValueError(f"unknown VQA model kind {kind!r}")
        if "{concept}" not in question:
            raise InputError("the judge question must contain {concept}")
        self.model = model
        self.processor = processor
        self.kind = kind
        self.source = source
        self.question = question
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.tokenizer = getattr(processor, "tokenizer", processor)
        if kind == "image-text-to-text" and hasattr(self.tokenizer, "padding_side"):
            # decoder-only language models continue the prompt: in a padded batch the padding
            # must come first, or the shorter questions' answers start after pad tokens
            self.tokenizer.padding_side = "left"
        self._yes_no_labels = self._label_ids() if kind == "classifier" else None
        self._yes_no_tokens = self._token_ids() if kind != "classifier" else None

    @classmethod
    def from_path(
        cls, path: str | Path, *, device: str | None = None, question: str = DEFAULT_QUESTION, batch_size: int = 8
    ) -> "VQAJudge":
        """Load a local model folder (weights, config and processor files)."""
        import torch
        from transformers import AutoProcessor

        folder = Path(path).expanduser()
        config = read_model_config(folder, "VQA judge model")
        kind = _vqa_kind(config)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            processor = AutoProcessor.from_pretrained(str(folder))
            if kind == "classifier":
                from transformers import AutoModelForVisualQuestionAnswering as Auto
            elif kind == "blip":
                from transformers import BlipForQuestionAnswering as Auto  # type: ignore[assignment]
            else:
                from transformers import AutoModelForImageTextToText as Auto  # type: ignore[assignment]
            model = Auto.from_pretrained(str(folder))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load VQA judge model {folder}: {one_line(exc)}") from None
        model.to(device).eval()
        return cls(model, processor, kind=kind, source=str(folder), question=question, batch_size=batch_size, device=device)

    def identity(self) -> dict[str, Any]:
        return {"kind": "vqa", "model": self.source, "model_kind": self.kind, "question": self.question}

    # ---- judging ---------------------------------------------------------------------------
    def judge(self, images: Sequence[Any], concepts: Sequence[str]) -> list[JudgeAnswer]:
        check_batch(images, concepts)
        answers: list[JudgeAnswer] = []
        for start in range(0, len(images), self.batch_size):
            chunk_images = [_rgb(im) for im in images[start : start + self.batch_size]]
            questions = [self.question.format(concept=c) for c in concepts[start : start + self.batch_size]]
            if self.kind == "classifier":
                answers.extend(self._classify(chunk_images, questions))
            else:
                answers.extend(self._generate(chunk_images, questions))
        return answers

    def _classify(self, images: list[Any], questions: list[str]) -> list[JudgeAnswer]:
        import torch

        inputs = self.processor(images=images, text=questions, return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            logits = self.model(**inputs.to(self.device)).logits.float().cpu()
        yes_id, no_id = self._yes_no_labels  # type: ignore[misc]
        labels = self.model.config.id2label
        out = []
        for row in logits:
            p_yes = float(torch.softmax(row[[yes_id, no_id]], dim=0)[0])
            top = str(labels[int(row.argmax())])
            out.append(JudgeAnswer(present=p_yes >= 0.5, raw=top, p_yes=p_yes))
        return out

    def _generate(self, images: list[Any], questions: list[str]) -> list[JudgeAnswer]:
        import torch

        texts = [self._prompt(q) for q in questions]
        extra = {"truncation": True} if self.kind == "blip" else {}  # BLIP's processor sets a max_length
        inputs = self.processor(images=images, text=texts, return_tensors="pt", padding=True, **extra)
        with torch.inference_mode():
            result = self.model.generate(
                **inputs.to(self.device),
                max_new_tokens=_GENERATE_TOKENS,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        generated = result.sequences[:, -len(result.scores) :] if result.scores else result.sequences
        decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        first = result.scores[0].float().cpu() if result.scores else None
        out = []
        for index, text in enumerate(decoded):
            text = text.strip()
            p_yes = None
            if first is not None and self._yes_no_tokens is not None:
                yes_ids, no_ids = self._yes_no_tokens
                pair = torch.stack([first[index, yes_ids].max(), first[index, no_ids].max()])
                p_yes = float(torch.softmax(pair, dim=0)[0])
            verdict = parse_yes_no(text)
            if verdict is None:
                if p_yes is None:
                    raise JudgeError(f"VQA judge answered {text!r}: neither yes nor no")
                verdict = p_yes >= 0.5
            out.append(JudgeAnswer(present=verdict, raw=text, p_yes=p_yes))
        return out

    def _prompt(self, question: str) -> str:
        if self.kind == "blip":
            return question
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"{question} Answer yes or no."}]}]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        return f"Question: {question} Answer:"

    # ---- label and token ids of "yes" and "no" -----------------------------------------------
    def _label_ids(self) -> tuple[int, int]:
        by_name = {str(v).strip().casefold(): int(k) for k, v in self.model.config.id2label.items()}
        if "yes" not in by_name or "no" not in by_name:
            raise InputError(f"VQA judge model {self.source}: its answer labels have no 'yes' and 'no'")
        return by_name["yes"], by_name["no"]

    def _token_ids(self) -> tuple[list[int], list[int]] | None:
        def single(words: Sequence[str]) -> list[int]:
            ids = set()
            for word in words:
                encoded = self.tokenizer.encode(word, add_special_tokens=False)
                if len(encoded) == 1:
                    ids.add(int(encoded[0]))
            return sorted(ids)

        yes, no = single(["yes", "Yes", " yes", " Yes"]), single(["no", "No", " no", " No"])
        return (yes, no) if yes and no else None


def _rgb(image: Any) -> Any:
    """A PIL image in RGB (arrays are converted)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    import numpy as np

    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    return Image.fromarray(array).convert("RGB")
