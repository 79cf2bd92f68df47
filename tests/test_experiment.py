"""Trainer, run store and STL/MTL experiments on a tiny random encoder: determinism and resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from taskmix.config import TrainConfig
from taskmix.data.task import Suite
from taskmix.errors import TaskmixError
from taskmix.store import RunStore
from taskmix.train.experiment import STORE_FILE, MultiTaskTrainer, plan_runs
from taskmix.train.trainer import Trainer

FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)


def test_plan_runs():
    specs = plan_runs([["a", "b"], ["c"], ["b", "c"]], seeds=[1, 2])
    settings = [s.setting for s in specs]
    assert settings.count("stl:a") == 2 and settings.count("stl:b") == 2 and settings.count("stl:c") == 2
    assert settings.count("mtl:a+b") == 2 and settings.count("mtl:b+c") == 2 and len(specs) == 10


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
    assert Trainer(TrainConfig(max_steps=10, steps_per_task=True), tiny_factory).total_steps(tasks) == 20
    n = len(suite["a"].splits["train"]) + len(suite["b"].splits["train"])
    assert Trainer(TrainConfig(epochs=2, batch_size=10), tiny_factory).total_steps(tasks) == int(np.ceil(2 * n / 10))


def test_grad_accum_and_samplers_run(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    for sampler in ("equal", "temperature"):
        cfg = FAST.model_copy(update={"sampler": sampler, "grad_accum": 2, "loss_weighting": "uniform"})
        r = Trainer(cfg, tiny_factory).fit([suite["a"], suite["b"]], seed=1)
        assert set(r.test) == {"a", "b"}


def test_experiment_resumes_after_crash(keyword_suite, tiny_factory, tmp_path, monkeypatch):
    """A grid killed half-way keeps its finished runs; re-running trains only the rest."""
    suite = Suite.from_yaml(keyword_suite)
    out = tmp_path / "runs"
    groups = [["a", "b"]]
    calls = []
    real_fit = Trainer.fit

    def crashing_fit(self, tasks, seed, **kw):
        calls.append((tuple(t.name for t in tasks), seed))
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the process were killed during the third run
        return real_fit(self, tasks, seed, **kw)

    monkeypatch.setattr(Trainer, "fit", crashing_fit)
    mtt = MultiTaskTrainer(FAST, seeds=[1, 2], out=out, backbone=tiny_factory, show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        mtt.run(suite, groups)
    with RunStore(out / STORE_FILE) as store:
        # Ctrl-C gives the unfinished runs back (none is left 'running' for a process that is gone)
        assert store.count("finished") == 2 and store.count("running") == 0 and store.count() == 6
        finished = {r.id for r in store.runs(status="finished")}
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(STORE_FILE)) == sorted(finished)

    calls.clear()
    monkeypatch.setattr(Trainer, "fit", lambda self, tasks, seed, **kw: (calls.append(seed), real_fit(self, tasks, seed, **kw))[1])
    records = mtt.run(suite, groups)
    assert len(calls) == 4  # the 2 finished runs were not trained again
    assert all(r.status == "finished" for r in records) and len(records) == 6
    calls.clear()
    mtt.run(suite, groups)
    assert calls == []  # everything finished: nothing is re-trained
    m = json.loads((out / records[0].id / "metrics.json").read_text())
    assert m["setting"] == records[0].setting and "test" in m
    preds = pd.read_csv(out / records[0].id / "predictions.csv")
    assert list(preds.columns) == ["task", "id", "text", "label", "prediction"]
    assert set(preds["label"]) <= {"neg", "pos"} and set(preds["prediction"]) <= {"neg", "pos"}
    assert preds["text"].str.contains("the film was").all()


def test_failed_run_is_recorded_and_reported(keyword_suite, tiny_factory, tmp_path, monkeypatch):
    suite = Suite.from_yaml(keyword_suite)
    real_fit = Trainer.fit

    def fit(self, tasks, seed, **kw):
        if len(tasks) == 2:
            raise RuntimeError("boom")
        return real_fit(self, tasks, seed, **kw)

    monkeypatch.setattr(Trainer, "fit", fit)
    mtt = MultiTaskTrainer(FAST, seeds=[1], out=tmp_path, backbone=tiny_factory, show_progress=False)
    with pytest.raises(TaskmixError, match="1 of 3 runs failed: mtl:a\\+b seed 1: boom"):
        mtt.run(suite, [["a", "b"]])
    with RunStore(tmp_path / STORE_FILE) as store:
        assert store.count("failed") == 1 and store.count("finished") == 2


def test_config_change_makes_new_runs(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    a = MultiTaskTrainer(FAST, seeds=[1], out=tmp_path, backbone=tiny_factory, show_progress=False)
    b = MultiTaskTrainer(FAST.model_copy(update={"lr": 5e-4}), seeds=[1], out=tmp_path, backbone=tiny_factory,
                         show_progress=False)
    spec = plan_runs([["a"]], [1])[0]
    assert a.run_id(suite, spec) != b.run_id(suite, spec)
    assert a.run_id(suite, spec) == MultiTaskTrainer(FAST, seeds=[1], out=tmp_path, backbone=tiny_factory).run_id(suite, spec)


def test_comparison_table(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    mtt = MultiTaskTrainer(FAST, seeds=[1, 2], out=tmp_path, backbone=tiny_factory, show_progress=False)
    comp = mtt.compare(suite, [["a", "b"]])
    table = comp.table()
    assert list(table.setting) == ["STL", "MTL a+b", "STL", "MTL a+b"]
    assert (table.seeds == 2).all()
    row = table.iloc[1]
    long = comp.frame()
    mtl = long[(long.task == "a") & (long.setting == "mtl:a+b") & (long.metric == "macro_f1")].sort_values("seed")
    stl = long[(long.task == "a") & (long.setting == "stl:a") & (long.metric == "macro_f1")].sort_values("seed")
    assert row.delta == pytest.approx((mtl.value.to_numpy() - stl.value.to_numpy()).mean())
    strat = comp.strategies([["a", "b"]])
    assert strat.models.tolist() == [2, 1]
    assert strat.trainable_parameters[0] > strat.trainable_parameters[1]


def test_store_rejects_non_database(tmp_path):
    bad = tmp_path / "taskmix.db"
    bad.write_text("not a database at all" * 100)
    from taskmix.errors import StoreError
    with pytest.raises(StoreError, match="not a taskmix run store"):
        RunStore(bad)


def test_comparison_by_grouping_matches_the_per_task_table(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    trainer = MultiTaskTrainer(FAST, backbone=tiny_factory, seeds=[1, 2], out=tmp_path, show_progress=False)
    comp = trainer.compare(suite, {"pair": [["a", "b"]], "alone": [["a"], ["b"]]})
    rows = comp.by_grouping().set_index("grouping")
    table = comp.table()
    mtl = table[table.setting == "MTL a+b"]
    assert "pair" in set(mtl.grouping)
    assert rows.loc["pair", "delta_grouped"] == pytest.approx(mtl.delta.mean())
    assert rows.loc["pair", "delta_all"] == pytest.approx(mtl.delta.mean())  # both tasks are grouped
    assert rows.loc["pair", "tasks_grouped"] == 2 and rows.loc["pair", "seeds"] == 2
    assert rows.loc["alone", "tasks_grouped"] == 0 and rows.loc["alone", "delta_all"] == 0
    assert "Δ grouped tasks" in comp.printable_groupings().columns
