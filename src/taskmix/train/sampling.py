"""Task samplers: which task each training example of a mixed batch is drawn from.

Each sampler is a small strategy object with one method, chosen by name from the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TaskSampler:
    """Turns training-set sizes into the probability of drawing from each task."""

    def probabilities(self, sizes: Sequence[int]) -> np.ndarray:
        raise NotImplementedError

    def draw(self, sizes: Sequence[int], batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The task index of each of ``batch_size`` examples."""
        return rng.choice(len(sizes), size=batch_size, p=self.probabilities(sizes))


class ProportionalSampler(TaskSampler):
    """p_t ∝ n_t: every training example is equally likely (plain concatenation)."""

    def probabilities(self, sizes):
        n = np.asarray(sizes, dtype=float)
        return n / n.sum()


class TemperatureSampler(TaskSampler):
    """p_t ∝ n_t^(1/T): T=1 is proportional, T→∞ equal; small tasks are up-sampled."""

    def __init__(self, temperature: float = 2.0):
        self.temperature = temperature

    def probabilities(self, sizes):
        n = np.asarray(sizes, dtype=float) ** (1.0 / self.temperature)
        return n / n.sum()


class EqualSampler(TaskSampler):
    """p_t = 1/k: each task equally often, whatever its size (the combination-search paper)."""

    def probabilities(self, sizes):
        return np.full(len(sizes), 1.0 / len(sizes))


def make_sampler(name: str, temperature: float = 2.0) -> TaskSampler:
    if name == "proportional":
        return ProportionalSampler()
    if name == "temperature":
        return TemperatureSampler(temperature)
    if name == "equal":
        return EqualSampler()
    raise ValueError(f"unknown sampler {name!r}: use proportional, temperature or equal")
