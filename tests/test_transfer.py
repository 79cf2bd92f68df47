"""Pairwise transfer through the run store: settings, resuming, scores; adaptation strategies;
CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import keyword_rows, run_cli, write_jsonl, write_suite
from taskmix.config import TrainConfig, TransferConfig
from taskmix.data.suite import Suite
from taskmix.experiment.transfer import PairwiseTransfer
from taskmix.relate import transfer as tr
from taskmix.relate.transfer import matrix_from_runs, target_sample
from taskmix.store import RunStore


@pytest.fixture
def three_suite(tmp_path):
    """Three keyword tasks: a and b share labels and cues, c has its own."""
    for name, seed in (("a", 1), ("b", 5), ("c", 9)):
        rows = keyword_rows(40, seed)
        if name == "c":
            rows = [
                {
                    "text": r["text"].replace("film", "meal"),
                    "label": "yes" if r["label"] == "pos" else "no",
                }
                for r in rows
            ]
        write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return write_suite(
        tmp_path / "suite.yaml",
        {
            "name": "three",
            "tasks": [
                {"name": n, "text": "text", "label": "label", "splits": {"train": f"{n}.jsonl"}}
                for n in "abc"
            ],
        },
    )


def test_matrix_from_runs_hand_computed():
    runs = pd.DataFrame(
        [
            {"target": "t", "source": "", "seed": 1, "metric": 0.50},
            {"target": "t", "source": "", "seed": 2, "metric": 0.40},
            {"target": "t", "source": "s", "seed": 1, "metric": 0.60},  # +20 %
            {"target": "t", "source": "s", "seed": 2, "metric": 0.38},  # −5 %
        ]
    )
    m = matrix_from_runs(runs, "probe")
    row = m.frame.iloc[0]
    assert row.pc == pytest.approx((0.2 - 0.05) / 2) and row.pm == 0.5
    assert row.score == pytest.approx(0.5 * 0.075 + 0.5 * (0.2 * 0.5 - 0.1))
    assert (
        row.metric == pytest.approx(0.49) and row.base == pytest.approx(0.45) and row.n_seeds == 2
    )


def test_target_sample_is_seeded_and_keeps_eval_splits(three_suite):
    task = Suite.load(three_suite)["a"]
    a, b = target_sample(task, 10, 3), target_sample(task, 10, 3)
    assert len(a.splits["train"]) == 10 and a.splits["train"].ids == b.splits["train"].ids
    assert a.splits["test"] is task.splits["test"]
    assert target_sample(task, 10, 4).splits["train"].ids != a.splits["train"].ids
    assert target_sample(task, 10_000, 3) is task


def test_probe_grid_through_the_store_resumes_and_never_reruns(
    three_suite, tiny_factory, tmp_path, monkeypatch
):
    suite = Suite.load(three_suite)
    cfg = TransferConfig(setting="probe", n=12, seeds=[1, 2], probe_steps=30, probe_hidden=16)
    calls = []
    real = tr.ProbeTransfer.run

    def counted(self, source, target, full, seed):
        calls.append((source.name if source else None, target.name, seed))
        if len(calls) == 7 and not getattr(counted, "done", False):
            counted.done = True
            raise KeyboardInterrupt  # the grid is killed half-way
        return real(self, source, target, full, seed)

    monkeypatch.setattr(tr.ProbeTransfer, "run", counted)
    out = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        PairwiseTransfer(cfg, backbone=tiny_factory, out=out, show_progress=False).fit(suite)
    with RunStore(out / "taskmix.db") as store:
        finished = {r.id for r in store.runs(status="finished")}
    assert len(finished) == 6
    first = list(calls)
    calls.clear()
    pt = PairwiseTransfer(cfg, backbone=tiny_factory, out=out, show_progress=False).fit(suite)
    # 3 targets alone + 6 pairs, over 2 seeds = 18 runs; the 6 finished ones are not run again
    assert len(calls) == 18 - 6
    assert not set(first[:6]) & set(calls)
    assert set(pt.runs_["run"]) >= finished
    calls.clear()
    again = PairwiseTransfer(cfg, backbone=tiny_factory, out=out, show_progress=False).fit(suite)
    assert calls == []
    pd.testing.assert_frame_equal(again.matrix_.frame, pt.matrix_.frame)
    m = pt.matrix_
    assert len(m) == 6 and set(m.targets) == {"a", "b", "c"} and m.settings == ["probe"]
    assert m.frame["pm"].between(0, 1).all() and m.frame["n_seeds"].eq(2).all()
    # another setting is another set of runs
    calls.clear()
    PairwiseTransfer(
        cfg.model_copy(update={"probe_steps": 31}),
        targets=["a"],
        sources=["b"],
        backbone=tiny_factory,
        out=out,
        show_progress=False,
    ).fit(suite)
    assert len(calls) == 4


def test_probe_carries_the_whole_head_only_between_tasks_with_the_same_labels(three_suite):
    suite = Suite.load(three_suite)
    assert tr.same_outputs(suite["a"], suite["b"]) and not tr.same_outputs(suite["a"], suite["c"])


@pytest.mark.parametrize("setting", ["finetune", "bitfit", "lora"])
def test_encoder_settings_transfer_through_the_trainer(
    three_suite, tiny_factory, tmp_path, setting
):
    suite = Suite.load(three_suite)
    small = TrainConfig(max_steps=3, batch_size=8, patience=None)
    cfg = TransferConfig(setting=setting, n=12, seeds=[1], source=small, target=small, split="dev")
    pt = PairwiseTransfer(
        cfg,
        targets=["a"],
        sources=["b", "c"],
        backbone=tiny_factory,
        out=tmp_path / "runs",
        show_progress=False,
    )
    pt.fit(suite)
    assert set(pt.matrix_.sources) == {"b", "c"} and pt.matrix_.settings == [setting]
    assert np.isfinite(pt.matrix_.frame["score"]).all()


def test_transfer_and_select_commands(monkeypatch, capsys, three_suite, tiny_model_dir, tmp_path):
    out = tmp_path / "runs"
    base = ["--model", tiny_model_dir, "--out", out]
    code, text, err = run_cli(
        monkeypatch, capsys, "transfer", three_suite, "--n", "12", "--seeds", "1,2", *base
    )
    assert code == 0, err
    assert "TaskWeb scores" in text and "commutativity" in text and "n = 12," in text
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "transfer",
        three_suite,
        "--n",
        "100",
        "--seeds",
        "1",
        "--targets",
        "a",
        "--sources",
        "b",
        "--out",
        tmp_path / "other",
        "--model",
        tiny_model_dir,
    )
    assert code == 0, err
    assert "n = a 28 (a target's training examples, at most --n)" in text  # not "n = 100"
    csv = out / "transfer" / "three-probe.csv"
    assert (
        csv.exists()
        and csv.with_suffix(".heatmap.png").exists()
        and csv.with_suffix(".graph.png").exists()
    )
    write_jsonl(tmp_path / "new.jsonl", keyword_rows(32, 77))
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        three_suite,
        "--target",
        tmp_path / "new.jsonl",
        "--k",
        "2",
        *base,
    )
    assert code == 0, err
    assert "selected (top 2)" in text and "pivot" in text
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        three_suite,
        "--target",
        tmp_path / "new.jsonl",
        "--k",
        "5",
        *base,
    )
    assert code == 0 and "selected (top 3 of 5 asked)" in text  # only three sources exist
    code, text, err = run_cli(
        monkeypatch, capsys, "select", "--sources", three_suite, "--evaluate", *base
    )
    assert code == 0, err
    assert "ndcg_taskshop" in text and "leave-one-out" in text
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        three_suite,
        "--target",
        "a",
        "--k",
        "1",
        "--train",
        "--seeds",
        "1",
        "--max-steps",
        "2",
        "--per-source",
        "10",
        *base,
    )
    assert code == 0, err
    assert "trained with each selection" in text and "taskshop" in text and "bottom" in text
    with RunStore(out / "taskmix.db") as store:
        settings = {r.setting for r in store.runs() if r.kind != "transfer"}
    # the target alone and three selections (top, bottom/random, all); no single-task runs of the
    # sources
    assert [x for x in settings if x.startswith("stl:")] == ["stl:a"] and len(settings) == 4
    code, _, err = run_cli(
        monkeypatch, capsys, "select", "--sources", three_suite, "--target", "zzz", *base
    )
    assert code == 2 and "neither a task" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("target,source,pc,pm\na,a,0.1,0.5\n")
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "select",
        "--sources",
        three_suite,
        "--target",
        "a",
        "--matrix",
        bad,
        *base,
    )
    assert code == 2 and "its own source" in err


def _b_to_a(suite: Suite, split: str, factory, out) -> PairwiseTransfer:
    """A tiny probe transfer b → a scored on ``split``."""
    cfg = TransferConfig(n=12, seeds=[1], probe_steps=5, probe_hidden=8, split=split)
    return PairwiseTransfer(
        cfg, targets=["a"], sources=["b"], backbone=factory, out=out, show_progress=False
    ).fit(suite)


def test_probe_transfer_scores_the_split_the_config_names_each_in_runs_of_its_own(
    three_suite, tiny_factory, tmp_path, monkeypatch
):
    suite = Suite.load(three_suite)
    scored = []
    real = tr.task_metrics

    def recorded(task, predictions, labels):
        scored.append(np.asarray(labels))
        return real(task, predictions, labels)

    monkeypatch.setattr(tr, "task_metrics", recorded)
    splits = suite["a"].splits
    assert (
        len(splits["dev"]) != len(splits["test"])
        or (splits["dev"].labels != splits["test"].labels).any()
    )  # the two splits tell apart
    for split in ("test", "dev"):
        scored.clear()
        pt = _b_to_a(suite, split, tiny_factory, tmp_path)
        # trained again for the other split (not read from the first's runs): the target alone
        # and after the source, each scored on the split named
        want = splits[split].labels
        assert len(scored) == 2
        assert all(len(s) == len(want) and (s == want).all() for s in scored)
        assert pt.runs_["metric"].notna().all()


def test_transfer_on_a_split_a_target_lacks_says_which(three_suite, tiny_factory, tmp_path):
    import dataclasses

    from taskmix.errors import ConfigError

    suite = Suite.load(three_suite)
    a = suite["a"]
    no_dev = dataclasses.replace(a, splits={k: v for k, v in a.splits.items() if k != "dev"})
    suite.tasks["a"] = no_dev
    with pytest.raises(ConfigError, match="dev split, which a lacks"):
        _b_to_a(suite, "dev", tiny_factory, tmp_path)
