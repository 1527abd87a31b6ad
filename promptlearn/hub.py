"""Model names: a local folder or a Hugging Face hub id, resolved the same way for every kind of
model promptlearn loads (the diffusion model, a judge, a filter).

:func:`resolve_model_source` returns a local folder: the folder itself, or the hub snapshot of a
hub id (downloaded when the hub is reachable, read from the hub cache otherwise). With no network
configured, :func:`offline_unless_reachable` turns on the hub's offline mode first, so a missing
model fails at once with one line instead of a minute of retries.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from .errors import InputError

HUB_HOST = "huggingface.co"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_reachable: bool | None = None


def is_hub_id(text: str) -> bool:
    """``owner/name`` that is not an existing or explicitly relative/absolute path."""
    text = str(text).strip()
    return bool(_HUB_ID.match(text)) and not text.startswith((".", "/", "~")) and not Path(text).expanduser().exists()


def offline_unless_reachable(timeout: float = 2.0) -> bool:
    """Turn on the hub's offline mode (``HF_HUB_OFFLINE=1``) when the hub's host cannot be
    resolved and no proxy is configured; returns whether the hub is offline. An explicit
    ``HF_HUB_OFFLINE`` is left as it is. Checked once per process."""
    global _reachable
    explicit = os.environ.get("HF_HUB_OFFLINE")
    if explicit is not None:
        return explicit.strip().lower() in ("1", "true", "yes", "on")
    if _reachable is None:
        if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")):
            _reachable = True
        else:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(timeout)
            try:
                socket.getaddrinfo(HUB_HOST, 443)
                _reachable = True
            except OSError:
                _reachable = False
            finally:
                socket.setdefaulttimeout(previous)
    if not _reachable:
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:  # the hub library reads the variable when imported: tell it too if it already is
            import huggingface_hub.constants as constants

            constants.HF_HUB_OFFLINE = True
        except ImportError:  # pragma: no cover - a dependency of transformers and diffusers
            pass
    return not _reachable


def resolve_model_source(source: str | os.PathLike[str], *, what: str = "model") -> str:
    """A local folder for ``source`` (a folder, or a hub id such as ``Salesforce/blip2-opt-2.7b``);
    one :class:`InputError` line naming ``what`` when there is none."""
    text = str(source).strip()
    if not text:
        raise InputError(f"no {what} given")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{what} must be a model folder or a hub id, got a file: {path}")
        return str(path.resolve())
    if not is_hub_id(text):
        raise InputError(f"{what} not found: {path} (not a folder, nor a hub id such as owner/name)")
    offline = offline_unless_reachable()
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(text, local_files_only=offline)
    except Exception as exc:  # network, auth, missing repo: all mean "cannot get this model"
        if offline:
            raise InputError(f"{what} {text!r} is not in the local hub cache and the hub is offline (no network); "
                             "download it where there is a network, or give a local folder") from None
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise InputError(f"cannot fetch {what} {text!r} from the Hugging Face hub: {first}") from None
