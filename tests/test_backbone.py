"""Loading models: a hub name that cannot be fetched fails at once with a clear message."""

from __future__ import annotations

import pytest

from taskmix.errors import ModelError
from taskmix.models.backbone import resolve_model_path


def test_unreachable_hub_fails_at_once(monkeypatch, tmp_path):
    """Not a folder, not cached, and the hub refuses connections: one clear error, instead of a
    minute of retries (a closed local port stands in for an unreachable hub)."""
    for var in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(
        ModelError,
        match="not a local folder, not in the Hugging Face cache, and 127.0.0.1 cannot be reached",
    ):
        resolve_model_path("someone/no-such-model")


def test_bundled_and_local_models_need_no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model_path("minilm").endswith("model")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
