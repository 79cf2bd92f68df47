"""Loss weighting: how the per-task losses of a mixed batch become one loss."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class LossWeighting:
    def combine(
        self, losses: Mapping[str, torch.Tensor], counts: Mapping[str, int]
    ) -> torch.Tensor:
        raise NotImplementedError


class ExampleWeighting(LossWeighting):
    """Σ n_t·L_t / Σ n_t: the mean over the batch's examples (the sampler sets the task mix)."""

    def combine(self, losses, counts):
        total = sum(counts[t] for t in losses)
        return sum(losses[t] * (counts[t] / total) for t in losses)


class UniformWeighting(LossWeighting):
    """The mean of the per-task losses present in the batch, whatever their example counts."""

    def combine(self, losses, counts):
        return sum(losses.values()) / len(losses)


class StaticWeighting(LossWeighting):
    """Fixed task weights w_t: Σ w_t·n_t·L_t / Σ w_t·n_t (tasks not named weigh 1)."""

    def __init__(self, weights: Mapping[str, float]):
        self.weights = dict(weights)

    def combine(self, losses, counts):
        w = {t: self.weights.get(t, 1.0) * counts[t] for t in losses}
        total = sum(w.values())
        return sum(losses[t] * (w[t] / total) for t in losses)


def make_weighting(name: str, task_weights: Mapping[str, float] | None = None) -> LossWeighting:
    """The weighting called ``name``; fixed ``task_weights`` (if any) take precedence."""
    if task_weights:
        return StaticWeighting(task_weights)
    if name == "examples":
        return ExampleWeighting()
    if name == "uniform":
        return UniformWeighting()
    raise ValueError(f"unknown loss weighting {name!r}: use examples or uniform")
