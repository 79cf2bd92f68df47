"""Task samplers: probabilities and the proportions they produce; loss weighting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskmix.train.sampling import (
    EqualSampler,
    ProportionalSampler,
    TemperatureSampler,
    make_sampler,
)
from taskmix.train.weighting import ExampleWeighting, StaticWeighting, UniformWeighting

SIZES = [1000, 100, 10]


def test_probabilities():
    np.testing.assert_allclose(ProportionalSampler().probabilities(SIZES), np.array(SIZES) / 1110)
    np.testing.assert_allclose(EqualSampler().probabilities(SIZES), [1 / 3] * 3)
    t2 = np.sqrt(SIZES) / np.sqrt(SIZES).sum()
    np.testing.assert_allclose(TemperatureSampler(2.0).probabilities(SIZES), t2)
    np.testing.assert_allclose(TemperatureSampler(1.0).probabilities(SIZES), np.array(SIZES) / 1110)


@pytest.mark.parametrize("name", ["proportional", "temperature", "equal"])
def test_drawn_proportions_match(name):
    sampler = make_sampler(name, temperature=2.0)
    rng = np.random.default_rng(0)
    draws = np.concatenate([sampler.draw(SIZES, 32, rng) for _ in range(2000)])
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, sampler.probabilities(SIZES), atol=0.01)


def test_draw_is_seeded():
    s = make_sampler("temperature")
    a = s.draw(SIZES, 64, np.random.default_rng(5))
    b = s.draw(SIZES, 64, np.random.default_rng(5))
    assert (a == b).all()


def test_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("roundrobin")


def test_weightings():
    losses = {"a": torch.tensor(1.0), "b": torch.tensor(3.0)}
    counts = {"a": 3, "b": 1}
    assert ExampleWeighting().combine(losses, counts).item() == pytest.approx(1.5)
    assert UniformWeighting().combine(losses, counts).item() == pytest.approx(2.0)
    assert StaticWeighting({"b": 3.0}).combine(losses, counts).item() == pytest.approx(2.0)
