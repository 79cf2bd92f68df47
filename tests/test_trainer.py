"""The trainer: one STL or MTL model, seeded, within its step budget, with any task sampler."""

from __future__ import annotations

import numpy as np

from taskmix.config import TrainConfig
from taskmix.data.suite import Suite
from taskmix.train.trainer import Trainer

FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)


def test_same_seed_same_metrics(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    tr = Trainer(FAST, tiny_factory)
    r1 = tr.fit([suite["a"], suite["b"]], seed=3)
    r2 = tr.fit([suite["a"], suite["b"]], seed=3)
    r3 = tr.fit([suite["a"], suite["b"]], seed=4)
    assert r1.test == r2.test and r1.history == r2.history
    assert r1.history != r3.history
    assert r1.steps == 6 and r1.trainable_parameters == r1.total_parameters > 0


def test_training_learns_keyword_task(keyword_suite, tiny_factory):
    """A tiny random encoder learns the keyword task well above chance."""
    suite = Suite.from_yaml(keyword_suite)
    cfg = TrainConfig(max_steps=60, batch_size=16, lr=3e-3, eval_every=20, patience=None)
    r = Trainer(cfg, tiny_factory).fit([suite["a"]], seed=1)
    assert r.test["a"]["accuracy"] >= 0.85, r.test


def test_step_budget_and_epochs(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    tasks = [suite["a"], suite["b"]]
    assert (
        Trainer(TrainConfig(max_steps=10, steps_per_task=True), tiny_factory).total_steps(tasks)
        == 20
    )
    n = len(suite["a"].splits["train"]) + len(suite["b"].splits["train"])
    assert Trainer(TrainConfig(epochs=2, batch_size=10), tiny_factory).total_steps(tasks) == int(
        np.ceil(2 * n / 10)
    )


def test_grad_accum_and_samplers_run(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    for sampler in ("equal", "temperature"):
        cfg = FAST.model_copy(
            update={"sampler": sampler, "grad_accum": 2, "loss_weighting": "uniform"}
        )
        r = Trainer(cfg, tiny_factory).fit([suite["a"], suite["b"]], seed=1)
        assert set(r.test) == {"a", "b"}
