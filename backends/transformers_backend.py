"""A local Hugging Face causal LM (Llama-family and the rest of ``AutoModelForCausalLM``) as a
:class:`~promptlearn.llm.backend.BatchBackend`, on CPU or GPU.

How a batch is served:

1. every request is rendered with the tokenizer's chat template (generation prompt added) and
   checked against the context window;
2. greedy requests (temperature 0) that share max_tokens, top_p and stop strings are generated
   together, left-padded, at most ``max_batch_size`` at a time, shortest prompts first;
3. sampled requests run one at a time, seeded with ``params.effective_seed`` inside
   :func:`torch.random.fork_rng`, so an answer depends on its own request only (not on what it was
   batched with) and the caller's global RNG state is left as it was;
4. answers are cut at the first end-of-sequence token or stop string.

That is the ``hf`` engine (``generate()`` as transformers ships it). The default ``rows`` engine
serves the same requests with promptlearn's own decode loop (:func:`_decode_rows`), which on a
CPU is about twice as fast for the optimizer's calls (docs/benchmarks.md, bench/local_llm_speed.py):

1. every distinct prompt is pre-filled once (the k proposals of a step share one prompt) and its
   KV cache copied to the rows that asked for it;
2. greedy and sampled requests decode in one batch, whatever their max_tokens and stop strings;
   a sampled row draws from its own ``torch.Generator`` seeded with ``params.effective_seed``,
   through the same temperature and top-p warpers as ``generate()``, so its answer still depends
   on its own request only (and equals the ``hf`` engine's answer for it when the logits agree);
3. a row leaves the batch as soon as it is finished (end-of-sequence, stop string, max_tokens),
   so a long answer no longer keeps finished rows computing.

Both engines give the same answers up to float rounding of batched matrix products (measured on
the demo's calls: docs/benchmarks.md); the ``hf`` engine stays for comparison and as a fallback.

A local model costs nothing, so ``cost_usd`` is 0.0; ``latency_s`` is the wall time of the
generate() call that produced the answer (the whole sub-batch it was part of).
"""

from __future__ import annotations

import inspect
import time
from collections import defaultdict
from typing import Any, Mapping, Sequence

from ..errors import one_line
from ..llm.control_tokens import neutralise_messages, special_token_strings
from ..llm.errors import BackendUnavailableError, ContextWindowError, InvalidRequestError
from ..llm.types import Completion, Request, SamplingParams
from .model_files import ModelSource, resolve_model_source, weights_fingerprint

_DTYPES = ("auto", "float32", "float16", "bfloat16")
ENGINES = ("rows", "hf")


class TransformersBackend:
    """Generate with a local causal LM through ``transformers``.

    ``model_path`` is a model folder (config.json, weights, tokenizer with a chat template) or a
    hub id (downloaded by transformers, so it only works online or from the local HF cache).
    ``device`` defaults to cuda when available, else cpu. ``dtype`` is one of auto, float32,
    float16, bfloat16; the default is float32 on cpu and the checkpoint's own dtype on a GPU.
    ``model_id`` is a stable name for :meth:`identity` that already pins the exact weights (the
    embedded model passes its GGUF content hash); without it the identity holds the path and a
    fingerprint of the model files. ``engine`` is ``rows`` (promptlearn's decode loop, the
    default) or ``hf`` (transformers' ``generate()``); see the module docstring.
    """

    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        device: str | None = None,
        max_batch_size: int = 8,
        dtype: str | None = None,
        model_id: str | None = None,
        engine: str = "rows",
    ):
        import torch

        if engine not in ENGINES:
            raise InvalidRequestError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", backend=self.name)
        self.engine = engine
        if int(max_batch_size) < 1:
            raise InvalidRequestError(f"max_batch_size must be >= 1, got {max_batch_size}", backend=self.name)
        self.max_batch_size = int(max_batch_size)
        self.device = _pick_device(device)
        torch_dtype = _pick_dtype(dtype, self.device)
        source = resolve_model_source(model_path, backend=self.name)
        self.tokenizer, self.model = _load(source, self.device, torch_dtype)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._eos_ids = _eos_token_ids(self.model, self.tokenizer)
        self._control_tokens = special_token_strings(self.tokenizer)
        self.context_length = _context_length(self.model.config, self.tokenizer)
        self._torch = torch
        self._identity: dict[str, Any] = {
            "backend": self.name,
            "model": model_id or source.location,
            "dtype": str(self.model.dtype).removeprefix("torch."),
        }
        if model_id is None:
            self._identity["fingerprint"] = _source_fingerprint(source, self.model)

    def __repr__(self) -> str:
        return f"TransformersBackend({self._identity['model']!r}, device={str(self.device)!r})"

    def identity(self) -> Mapping[str, Any]:
        return dict(self._identity)

    # ---- BatchBackend ---------------------------------------------------------------------
    def complete_batch(self, requests: Sequence[Request]) -> list[Completion]:
        prompts = [self._encode(index, request) for index, request in enumerate(requests)]
        if self.engine == "rows":
            results_rows: list[Completion] = []
            for start in range(0, len(requests), self.max_batch_size):
                chunk = range(start, min(len(requests), start + self.max_batch_size))
                results_rows += self._generate_rows([prompts[i] for i in chunk], [requests[i].params for i in chunk])
            return results_rows
        results: list[Completion | None] = [None] * len(requests)
        greedy_groups: dict[tuple, list[int]] = defaultdict(list)
        sampled: list[int] = []
        for index, request in enumerate(requests):
            params = request.params
            if params.greedy:
                greedy_groups[(params.max_tokens, params.top_p, params.stop)].append(index)
            else:
                sampled.append(index)
        for indices in greedy_groups.values():
            indices.sort(key=lambda i: len(prompts[i]))
            for start in range(0, len(indices), self.max_batch_size):
                chunk = indices[start : start + self.max_batch_size]
                params = requests[chunk[0]].params
                for index, completion in zip(chunk, self._generate([prompts[i] for i in chunk], params)):
                    results[index] = completion
        for index in sampled:
            results[index] = self._generate_seeded(prompts[index], requests[index].params)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # every index is in exactly one group above; this guards that invariant
            raise RuntimeError(f"transformers backend produced no completion for requests {missing}")
        return results  # type: ignore[return-value]

    # ---- steps ----------------------------------------------------------------------------
    def _encode(self, index: int, request: Request) -> list[int]:
        """Render the chat template and check the prompt plus max_tokens fit the context."""
        from jinja2 import TemplateError

        # special-token strings in message text stay text (no turn of the user's own making)
        messages = neutralise_messages([m.model_dump() for m in request.messages], self._control_tokens)
        try:
            encoded = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True
            )
        except TemplateError as exc:
            raise InvalidRequestError(
                f"request {index}: the model's chat template rejected the messages: {one_line(exc)}",
                backend=self.name,
            ) from None
        ids = list(encoded["input_ids"])
        needed = len(ids) + request.params.max_tokens
        if self.context_length is not None and needed > self.context_length:
            raise ContextWindowError(
                f"request {index}: {len(ids)} prompt tokens + max_tokens {request.params.max_tokens} = {needed} "
                f"exceeds the model's context window of {self.context_length} tokens",
                backend=self.name,
            )
        return ids

    def _generate_seeded(self, prompt: list[int], params: SamplingParams) -> Completion:
        """One sampled request under its own seed, leaving the global RNG state untouched."""
        torch = self._torch
        devices = list(range(torch.cuda.device_count())) if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if params.effective_seed is None:
                torch.seed()
            else:
                torch.manual_seed(params.effective_seed)
            return self._generate([prompt], params)[0]

    def _generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        """One generate() call over prompts that share their sampling parameters."""
        torch = self._torch
        started = time.perf_counter()
        batch = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt")
        input_ids = batch["input_ids"].to(self.device)
        attention_mask = batch["attention_mask"].to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=self._generation_config(params),
                tokenizer=self.tokenizer,  # turns stop strings into token-level stopping criteria
            )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        finished = [self._finish(tokens, params) for tokens in new_tokens]
        latency = time.perf_counter() - started
        return [
            Completion(
                text=text,
                finish_reason=reason,
                prompt_tokens=len(prompt),
                completion_tokens=count,
                cost_usd=0.0,
                latency_s=latency,
            )
            for prompt, (text, reason, count) in zip(prompts, finished)
        ]

    def _generate_rows(self, prompts: list[list[int]], params: list[SamplingParams]) -> list[Completion]:
        """The ``rows`` engine: one decode loop over requests with their own parameters."""
        started = time.perf_counter()
        with self._torch.inference_mode():
            generated = _decode_rows(self, prompts, params)
        latency = time.perf_counter() - started
        out = []
        for prompt, tokens, row_params in zip(prompts, generated, params):
            text, reason, count = self._finish(tokens, row_params)
            out.append(
                Completion(
                    text=text, finish_reason=reason, prompt_tokens=len(prompt), completion_tokens=count,
                    cost_usd=0.0, latency_s=latency,
                )
            )
        return out

    def _generation_config(self, params: SamplingParams):
        """Exactly the request's sampling settings; the checkpoint's own defaults (a
        repetition penalty, a default temperature) would silently change answers."""
        from transformers import GenerationConfig

        settings: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "do_sample": not params.greedy,
            "eos_token_id": self._eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if not params.greedy:
            settings.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            settings["stop_strings"] = [s for s in params.stop if s]
        return GenerationConfig(**settings)

    def _finish(self, tokens: list[int], params: SamplingParams) -> tuple[str, str, int]:
        """Cut generated tokens at the first eos or stop string: (text, finish_reason, token count).

        The count includes the eos token (the model generated it) and, for a stop string, the
        tokens up to the one that completed it."""
        eos_at = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        body = tokens if eos_at is None else tokens[:eos_at]
        text = self._decode(body)
        cut = _first_stop(text, params.stop)
        if cut is not None:
            return text[:cut], "stop", self._tokens_until_stop(body, params.stop)
        if eos_at is not None:
            return text, "stop", eos_at + 1
        return text, "length", len(tokens)

    def _tokens_until_stop(self, tokens: list[int], stop: tuple[str, ...]) -> int:
        """The fewest leading tokens whose text holds a stop string (binary search)."""
        low, high = 1, len(tokens)
        while low < high:
            middle = (low + high) // 2
            if _first_stop(self._decode(tokens[:middle]), stop) is None:
                low = middle + 1
            else:
                high = middle
        return low

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)


def _decode_rows(backend: TransformersBackend, prompts: list[list[int]], params: list[SamplingParams]) -> list[list[int]]:
    """Generated token ids per row (eos included where one ended the row).

    1. distinct prompts are left-padded and pre-filled once; the cache is copied to their rows;
    2. each step: a greedy row takes the argmax, a sampled row applies the temperature and top-p
       warpers of ``generate()`` and draws with its own generator;
    3. a row is finished by an eos token, a stop string in its decoded text or max_tokens, and
       finished rows are dropped from the batch (cache, mask and positions).
    """
    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    model, tokenizer = backend.model, backend.tokenizer
    device = backend.device
    # 1. pre-fill every distinct prompt once, left-padded as generate() does
    distinct: dict[tuple[int, ...], int] = {}
    for prompt in prompts:
        distinct.setdefault(tuple(prompt), len(distinct))
    unique = [list(p) for p in distinct]
    batch = tokenizer.pad({"input_ids": unique}, padding=True, return_tensors="pt")
    input_ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    # transformers 5.x names the KV cache argument and output field ``cache`` (``past_key_values`` before)
    cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    output = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache = getattr(output, cache_name)
    source = torch.tensor([distinct[tuple(p)] for p in prompts], device=device)
    if len(unique) != len(prompts) or not torch.equal(source, torch.arange(len(prompts), device=device)):
        cache.batch_select_indices(source)
    logits = output.logits[:, -1, :].to(dtype=torch.float32)[source]
    mask = mask[source]
    last_position = positions[source, -1:]

    warpers: list[Any] = []
    generators: list[Any] = []
    for row in params:
        if row.greedy:
            warpers.append(None)
            generators.append(None)
            continue
        chain = LogitsProcessorList([TemperatureLogitsWarper(row.temperature)])
        if row.top_p < 1.0:
            chain.append(TopPLogitsWarper(row.top_p))
        warpers.append(chain)
        generator = torch.Generator(device=device)
        if row.effective_seed is None:
            generator.seed()
        else:
            generator.manual_seed(row.effective_seed)
        generators.append(generator)

    eos = set(backend._eos_ids)
    generated: list[list[int]] = [[] for _ in prompts]
    alive = list(range(len(prompts)))  # original row index of each batch row
    # 2.-3. decode until every row is finished
    while True:
        chosen = torch.argmax(logits, dim=-1)
        tokens = chosen.tolist()
        for b, row in enumerate(alive):
            if warpers[row] is not None:
                prefix = torch.tensor([prompts[row] + generated[row]], device=device)
                scores = warpers[row](prefix, logits[b : b + 1].clone())
                probs = torch.nn.functional.softmax(scores, dim=-1)
                tokens[b] = int(torch.multinomial(probs, num_samples=1, generator=generators[row])[0, 0])
        keep = []
        for b, row in enumerate(alive):
            token = tokens[b]
            generated[row].append(token)
            row_params = params[row]
            finished = token in eos or len(generated[row]) >= row_params.max_tokens
            if not finished and row_params.stop:
                finished = _first_stop(backend._decode(generated[row]), row_params.stop) is not None
            if not finished:
                keep.append(b)
        if not keep:
            return generated
        if len(keep) != len(alive):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask = mask[index]
            last_position = last_position[index]
            alive = [alive[b] for b in keep]
            step = torch.tensor([[tokens[b]] for b in keep], device=device)
        else:
            step = torch.tensor([[t] for t in tokens], device=device)
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        last_position = last_position + 1
        output = model(input_ids=step, attention_mask=mask, position_ids=last_position, use_cache=True, **{cache_name: cache})
        cache = getattr(output, cache_name)
        logits = output.logits[:, -1, :].to(dtype=torch.float32)


def _first_stop(text: str, stop: tuple[str, ...]) -> int | None:
    """Where the earliest stop string starts in ``text``, or None."""
    found = [at for at in (text.find(s) for s in stop if s) if at >= 0]
    return min(found) if found else None


# ---- loading --------------------------------------------------------------------------------
def _pick_device(device: str | None):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidRequestError(f"transformers: bad device {device!r}: {one_line(exc)}") from None
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(f"transformers: device {device!r} asked for, but no CUDA GPU is available")
    return picked


def _pick_dtype(dtype: str | None, device) -> Any:
    import torch

    if dtype is None:
        return torch.float32 if device.type == "cpu" else "auto"
    if dtype not in _DTYPES:
        raise InvalidRequestError(f"transformers: dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    return dtype if dtype == "auto" else getattr(torch, dtype)


def _load(source: ModelSource, device, dtype):
    """Tokenizer and model, with every failure turned into one clear line."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    where = source.location
    try:
        config = AutoConfig.from_pretrained(where)
    except (OSError, ValueError, KeyError) as exc:
        if source.is_folder:
            raise InvalidRequestError(
                f"transformers: {where} is not a loadable model folder: {one_line(exc)}"
            ) from None
        raise BackendUnavailableError(
            f"transformers: {where!r} is not a local folder and could not be fetched from the Hugging Face hub "
            f"(no network here? download it first, or pass a local model folder): {one_line(exc)}"
        ) from None
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise InvalidRequestError(
            f"transformers: {where} holds a {config.model_type!r} model, which is not a causal language model"
        )
    dtype_argument = "dtype" if _version_at_least(transformers.__version__, (4, 56)) else "torch_dtype"
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, config=config, **{dtype_argument: dtype})
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise BackendUnavailableError(f"transformers: could not load the model in {where}: {one_line(exc)}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidRequestError(
            f"transformers: {where} has no chat template (promptlearn sends chat messages; use an instruct model "
            "or add chat_template.jinja to the folder)"
        )
    model.to(device)
    model.eval()
    return tokenizer, model


def _version_at_least(version: str, minimum: tuple[int, ...]) -> bool:
    parts = []
    for piece in version.split(".")[: len(minimum)]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) >= minimum


def _eos_token_ids(model, tokenizer) -> list[int]:
    """Every token that ends an answer: the generation config's eos ids and the tokenizer's."""
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise InvalidRequestError("transformers: the model defines no end-of-sequence token")
    return sorted(ids)


def _context_length(config, tokenizer) -> int | None:
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else None


def _source_fingerprint(source: ModelSource, model) -> str | None:
    if source.is_folder:
        return weights_fingerprint(source.location)
    return getattr(model.config, "_commit_hash", None)
