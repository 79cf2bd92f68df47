"""Trainer, run store and STL/MTL experiments on a tiny random encoder: determinism and resume."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from taskmix.config import TrainConfig
from taskmix.data.suite import Suite
from taskmix.errors import TaskmixError
from taskmix.evaluate.proof import MultiTaskTrainer
from taskmix.experiment.groups import plan_runs
from taskmix.experiment.runs import STORE_FILE
from taskmix.store import RunStore
from taskmix.train.trainer import Trainer

FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)


def test_plan_runs():
    specs = plan_runs([["a", "b"], ["c"], ["b", "c"]], seeds=[1, 2])
    settings = [s.setting for s in specs]
    assert (
        settings.count("stl:a") == 2
        and settings.count("stl:b") == 2
        and settings.count("stl:c") == 2
    )
    assert settings.count("mtl:a+b") == 2 and settings.count("mtl:b+c") == 2 and len(specs) == 10


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
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(STORE_FILE)) == sorted(
        finished
    )

    calls.clear()
    monkeypatch.setattr(
        Trainer,
        "fit",
        lambda self, tasks, seed, **kw: (calls.append(seed), real_fit(self, tasks, seed, **kw))[1],
    )
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
    mtt = MultiTaskTrainer(
        FAST, seeds=[1], out=tmp_path, backbone=tiny_factory, show_progress=False
    )
    with pytest.raises(TaskmixError, match="1 of 3 runs failed: mtl:a\\+b seed 1: boom"):
        mtt.run(suite, [["a", "b"]])
    with RunStore(tmp_path / STORE_FILE) as store:
        assert store.count("failed") == 1 and store.count("finished") == 2


def test_config_change_makes_new_runs(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    a = MultiTaskTrainer(FAST, seeds=[1], out=tmp_path, backbone=tiny_factory, show_progress=False)
    b = MultiTaskTrainer(
        FAST.model_copy(update={"lr": 5e-4}),
        seeds=[1],
        out=tmp_path,
        backbone=tiny_factory,
        show_progress=False,
    )
    spec = plan_runs([["a"]], [1])[0]
    assert a.run_id(suite, spec) != b.run_id(suite, spec)
    assert a.run_id(suite, spec) == MultiTaskTrainer(
        FAST, seeds=[1], out=tmp_path, backbone=tiny_factory
    ).run_id(suite, spec)
