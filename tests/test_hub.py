"""Model names: a local folder or a hub id, one resolver; offline mode when the hub is unreachable."""

from __future__ import annotations

import socket
import time

import pytest

from promptlearn import hub
from promptlearn.errors import InputError


def test_folders_and_hub_ids(tmp_path):
    assert hub.resolve_model_source(tmp_path) == str(tmp_path.resolve())
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(InputError, match="judge model must be a model folder or a hub id, got a file"):
        hub.resolve_model_source(tmp_path / "weights.bin", what="judge model")
    with pytest.raises(InputError, match="CLIP model not found: .*nowhere"):
        hub.resolve_model_source(tmp_path / "nowhere", what="CLIP model")
    assert hub.is_hub_id("Salesforce/blip2-opt-2.7b") and not hub.is_hub_id("./a/b") and not hub.is_hub_id("/a/b")


def test_no_network_turns_the_hub_offline_and_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "_reachable", None)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    started = time.perf_counter()
    with pytest.raises(InputError, match="judge model 'nobody/nothing' is not in the local hub cache and the hub is offline") as info:
        hub.resolve_model_source("nobody/nothing", what="judge model")
    assert time.perf_counter() - started < 5 and "\n" not in str(info.value)
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
