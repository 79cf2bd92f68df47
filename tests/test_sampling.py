"""Task samplers: probabilities and the proportions they produce; loss weighting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskmix.train.sampling import (
    EqualSampler,
    ProportionalSampler,
    TemperatureSampler,
    make_batcher,
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


# ---------------------------------------------------------------- batchers


def _lengths(seed=0, sizes=(400, 90)):
    rng = np.random.default_rng(seed)
    return [rng.integers(5, 200, n) for n in sizes]


@pytest.mark.parametrize("name", ["random", "length"])
def test_batcher_visits_each_example_once_per_pass(name):
    """Whatever the order, one pass over a task draws each of its examples exactly once."""
    lengths = _lengths(sizes=(96,))
    b = make_batcher(name, EqualSampler(), lengths, 8, np.random.default_rng(0))
    drawn = [i for _ in range(12) for _, i in b.next()]
    assert sorted(drawn) == list(range(96))


def test_length_batches_pad_less_and_keep_task_mix():
    """Length-grouped batches of one task hold similar lengths (far less padding than random
    batches), and mixed batches still draw tasks in the sampler's proportions."""
    lengths = _lengths(sizes=(1600,))
    waste = {}
    for name in ("random", "length"):
        b = make_batcher(name, ProportionalSampler(), lengths, 32, np.random.default_rng(1))
        padded = real = 0
        for _ in range(50):
            ls = [lengths[0][i] for _, i in b.next()]
            padded += max(ls) * len(ls)
            real += sum(ls)
        waste[name] = padded / real
    assert waste["length"] < 1.1 < 1.5 < waste["random"], waste

    mixed = _lengths(sizes=(3000, 1000))
    b = make_batcher("length", ProportionalSampler(), mixed, 32, np.random.default_rng(2))
    tasks = [k for _ in range(200) for k, _ in b.next()]
    assert abs(np.mean(np.array(tasks) == 0) - 0.75) < 0.03


def test_batchers_are_seeded():
    lengths = _lengths()
    runs = [
        [
            make_batcher(
                "length", ProportionalSampler(), lengths, 16, np.random.default_rng(s)
            ).next()
            for _ in range(3)
        ]
        for s in (5, 5, 6)
    ]
    assert runs[0] == runs[1] != runs[2]
    with pytest.raises(ValueError, match="unknown batching"):
        make_batcher("sorted", EqualSampler(), lengths, 8, np.random.default_rng(0))
