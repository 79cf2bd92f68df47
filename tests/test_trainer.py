"""The trainer: one STL or MTL model, seeded, within its step budget, with any task sampler."""

from __future__ import annotations

import numpy as np

from taskmix.config import TrainConfig
from taskmix.data.metrics import majority_metrics
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


def test_dev_sample_during_training_full_dev_for_the_kept_checkpoint(
    keyword_suite, tiny_factory, monkeypatch
):
    """With ``eval_examples`` below a dev split's size, evaluations during training score a seeded
    sample of it; the kept checkpoint is then scored on all of dev, and the time is reported."""
    from taskmix.train import trainer as trainer_mod

    suite = Suite.from_yaml(keyword_suite)
    scored = []
    real = Trainer.outputs

    def spy(self, model, split, tasks=None, rows=None):
        out = real(self, model, split, tasks, rows)
        scored.append((split, {k: len(v) for k, v in out.items()}))
        return out

    monkeypatch.setattr(Trainer, "outputs", spy)
    cfg = FAST.model_copy(update={"eval_examples": 8})
    r = Trainer(cfg, tiny_factory).fit([suite["a"]], seed=2)
    # step 3: the sample; step 6 (the last): all of dev once, its sample's score taken from it;
    # a checkpoint kept from step 3 is scored on all of dev before test
    again = [("dev", {"a": 20})] if r.best_step == 3 else []
    assert scored == [("dev", {"a": 8}), ("dev", {"a": 20}), *again, ("test", {"a": 20})]
    # the last evaluation's two scores, from one pass, equal scoring the sample and all of dev
    tr = Trainer(cfg, tiny_factory)
    model = tr.build([suite["a"]])
    rows = trainer_mod.dev_sample([suite["a"]], 8, seed=2)
    part, whole = tr._evaluate_dev(model, ["a"], rows, whole=True)
    assert part == tr.evaluate(model, "dev", rows=rows) and whole == tr.evaluate(model, "dev")
    assert r.eval_seconds > 0 and r.train_seconds > 0 and r.test_seconds > 0
    assert set(r.dev["a"]) >= {"accuracy"}

    sample = trainer_mod.dev_sample([suite["a"]], 8, seed=2)["a"]
    assert len(set(sample.tolist())) == 8 and list(sample) == sorted(sample)
    assert trainer_mod.dev_sample([suite["a"]], 20, seed=2) == {}  # small dev: all of it
    assert trainer_mod.dev_sample([suite["a"]], None, seed=2) == {}


def test_checkpoint_keeps_only_what_training_changes(tiny_factory):
    """The best-checkpoint copy of an adapted model holds its trainable parameters (not the
    frozen base), and loading it restores them."""
    import torch

    from taskmix.config import LoRAConfig
    from taskmix.models.adapt import LoRA
    from taskmix.train.trainer import trainable_state

    model = LoRA(LoRAConfig(r=2)).apply(tiny_factory().model)
    state = trainable_state(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and set(state) - {n for n, _ in model.named_buffers()} == trainable
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1.0)
    model.load_state_dict(state, strict=False)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_patience_is_not_spent_at_the_majority_class_level(
    keyword_suite, tiny_factory, monkeypatch
):
    """An evaluation whose dev score sits at the majority-class level does not count against
    patience (the default, ``patience_from: learned``), even after a first evaluation that
    happened to score above it; taskmix 0.1's rule (``start``) stops such a model after
    ``patience`` flat evaluations."""
    task = Suite.from_yaml(keyword_suite)["a"]
    floor = majority_metrics(task, "dev")["macro_f1"]
    scores: list[float] = []

    def fake_dev(self, model, focus, sample, whole):
        x = scores.pop(0)
        dev = {"a": {"macro_f1": x, "accuracy": x}}
        return dev, dev

    monkeypatch.setattr(Trainer, "_evaluate_dev", fake_dev)
    cfg = TrainConfig(max_steps=20, batch_size=8, eval_every=2, patience=2)
    start = cfg.model_copy(update={"patience_from": "start"})
    # the dev score at each evaluation (every 2 steps): a lucky start, the plateau, one rise
    curve = [floor + 0.15, floor, floor, floor, floor + 0.3, floor + 0.2, floor + 0.2, 0.0, 0, 0]
    for config, stopped in [(cfg, (14, 10)), (start, (6, 2))]:
        scores[:] = curve
        r = Trainer(config, tiny_factory).fit([task], seed=1)
        assert (r.steps, r.best_step) == stopped
    # its own identity: runs made under taskmix 0.1's rule keep their ids
    assert "patience_from" in cfg.identity() and "patience_from" not in start.identity()
