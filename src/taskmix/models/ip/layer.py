"""The Inspirational Pointer's layer: the trainable module (task embedding → one modification
vector per transformer layer), the layers it modifies, and the scoped forward hooks through which
it modifies them (h → h + h ∘ I, removed when the block ends)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from taskmix.errors import ModelError

_LAYER_PATHS = {
    "encoder": (
        "encoder.layer",
        "transformer.layer",
        "encoder.layers",
        "layers",
        "layer",
        "encoder.block",
        "transformer.h",
        "h",
        "model.layers",
        "model.decoder.layers",
        "decoder.layers",
        "decoder.block",
    ),
    "decoder": (
        "decoder.block",
        "decoder.layers",
        "model.decoder.layers",
        "transformer.h",
        "h",
        "model.layers",
        "layers",
    ),
}


def find_layers(model: nn.Module, part: str = "encoder") -> list[nn.Module]:
    """The transformer layers whose hidden states IP modifies: BERT/MiniLM/RoBERTa/DeBERTa
    (``encoder.layer``), DistilBERT (``transformer.layer``), T5 (``encoder.block`` / with
    ``part="decoder"`` ``decoder.block``), GPT-2 (``h``), Llama-like (``model.layers``)."""
    if part not in _LAYER_PATHS:
        raise ModelError(f"unknown part {part!r}", hint="use encoder or decoder")
    for path in _LAYER_PATHS[part]:
        mod: nn.Module | None = model
        for attr in path.split("."):
            mod = getattr(mod, attr, None)
            if mod is None:
                break
        if isinstance(mod, nn.ModuleList) and len(mod) > 0:
            return list(mod)
    raise ModelError(
        f"cannot find the {part} layers of {type(model).__name__}",
        hint="IP modifies each transformer layer's output; models whose layers sit in "
        "encoder.layer, transformer.layer, layers, h or *.block are supported",
    )


def _modify(vector: torch.Tensor):
    """A forward hook: the layer's hidden state h (first output) becomes h + h ∘ I."""

    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        v = vector.to(h.dtype).unsqueeze(1)  # [B, d2] → [B, 1, d2], broadcast over positions
        h = h + h * v
        return (h, *output[1:]) if isinstance(output, tuple) else h

    return hook


@contextlib.contextmanager
def intervene(layers: Sequence[nn.Module], vectors: torch.Tensor) -> Iterator[None]:
    """Register the hooks h → h + h ∘ I_m on ``layers`` (``vectors``: [n2, B, d2]) for the body of
    the ``with`` block; they are removed on exit, also after an error."""
    if len(layers) != len(vectors):
        raise ValueError(f"{len(layers)} layers but {len(vectors)} vectors")
    handles = [
        layer.register_forward_hook(_modify(v)) for layer, v in zip(layers, vectors, strict=True)
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class InspirationalPointer(nn.Module):
    """The trainable part: w (n1), T (d1 → t), L (n2 × t) and C (t → t → d2).

    ``combine`` is how τ and L_m enter C: ``sum`` (τ + L_m; the paper's parameter count) or
    ``concat`` ([τ; L_m], C's first layer then reads 2t)."""

    def __init__(self, d1: int, d2: int, n1: int, n2: int, t: int = 200, combine: str = "sum"):
        super().__init__()
        if combine not in ("sum", "concat"):
            raise ModelError(f"unknown ip.combine {combine!r}", hint="use sum or concat")
        self.d1, self.d2, self.n1, self.n2, self.t, self.combine = d1, d2, n1, n2, t, combine
        self.w = nn.Parameter(torch.full((n1,), 1.0 / n1))
        self.T = nn.Linear(d1, t)
        self.L = nn.Parameter(torch.randn(n2, t) * 0.02)
        self.C1 = nn.Linear(2 * t if combine == "concat" else t, t)
        self.C2 = nn.Linear(t, d2)
        nn.init.zeros_(self.C2.weight)  # I = 0 at the start: the model is the frozen backbone
        nn.init.zeros_(self.C2.bias)

    def task_embedding(self, states: torch.Tensor) -> torch.Tensor:
        """τ [B, t] from the form module's pooled layer states [n1, B, d1]."""
        return F.relu(self.T(torch.einsum("n,nbd->bd", self.w.to(states.dtype), states)))

    def vectors(self, tau: torch.Tensor) -> torch.Tensor:
        """I [n2, B, d2]: one modification vector per layer and example."""
        L = self.L.to(tau.dtype).unsqueeze(1).expand(-1, tau.shape[0], -1)  # [n2, B, t]
        tau = tau.unsqueeze(0).expand(self.n2, -1, -1)
        x = torch.cat([tau, L], dim=-1) if self.combine == "concat" else tau + L
        return self.C2(F.relu(self.C1(x)))

    def formula(self) -> int:
        """The paper's count of IP weights, t·(d1 + d2 + t + n2) + n1 (biases not counted)."""
        return self.t * (self.d1 + self.d2 + self.t + self.n2) + self.n1

    def config(self) -> dict:
        return {k: getattr(self, k) for k in ("d1", "d2", "n1", "n2", "t", "combine")}
