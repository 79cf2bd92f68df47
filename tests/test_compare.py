"""Comparison: one model counts once (records deduplicated by run id, groups as sets), paired CIs
and verdicts; and `train`, `compare` and the report agree on them."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import MTL_SCORES, STL_SCORES, run_cli, run_record, stl_mtl_records
from taskmix.config import TrainConfig
from taskmix.data.suite import Suite
from taskmix.evaluate.compare import Comparison
from taskmix.evaluate.proof import MultiTaskTrainer

STL, MTL, records = STL_SCORES, MTL_SCORES, stl_mtl_records
FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)


def by_hand() -> tuple[float, float]:
    """Mean and 95% half-width of the per-seed mean difference over the two grouped tasks."""
    d = [np.mean([MTL[s][t] - STL[(t, s)] for t in ("a", "b")]) for s in (1, 2, 3)]
    return float(np.mean(d)), float(stats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3))


def test_a_run_counts_once_however_often_it_is_listed():
    recs = records()
    twice = Comparison(recs + recs[-3:], groupings={"x": [["a", "b"]], "y": [["a", "b"]]})
    once = Comparison(recs, groupings={"x": [["a", "b"]]})
    assert twice.table().drop(columns="grouping").equals(once.table().drop(columns="grouping"))
    row = twice.table().query("setting == 'MTL a+b' and task == 'a'").iloc[0]
    assert row.seeds == 3
    mean, half = by_hand()
    g = twice.by_grouping().set_index("grouping")
    for name in ("x", "y"):
        assert g.loc[name, "seeds"] == 3
        assert g.loc[name, "delta_grouped"] == pytest.approx(mean) and g.loc[
            name, "delta_grouped_ci"
        ] == pytest.approx(half)


def test_groups_are_sets_whatever_the_order_of_their_tasks():
    recs = records()
    comp = Comparison(recs, groupings={"x": [["a", "b"]], "reversed": [["b", "a"]]})
    g = comp.by_grouping().set_index("grouping")
    assert g.loc["reversed", "seeds"] == 3
    assert g.loc["reversed", "delta_grouped"] == pytest.approx(g.loc["x", "delta_grouped"])
    assert comp.table().query("setting == 'MTL a+b'").grouping.tolist() == ["x, reversed"] * 2
    # the same set stored under the other order (another config's run) is one setting too
    other = [run_record(f"o-{s}", ["b", "a"], s, v) for s, v in MTL.items()]
    assert set(Comparison(recs[:6] + other).table().setting) == {"STL", "MTL b+a"}


def test_runs_trained_in_two_ways_are_compared_within_each_way():
    """A store holding a quick and a longer training of the same groups: each MTL model is paired
    with the STL models trained the same way, never with the other's."""
    quick = records()
    longer = [
        replace(
            r,
            id=r.id + "-long",
            config={**r.config, "train": {**r.config["train"], "max_steps": 900}},
            metrics={
                **r.metrics,
                "test": {
                    t: {k: v + 0.2 for k, v in m.items()} for t, m in r.metrics["test"].items()
                },
            },
        )
        for r in quick
    ]
    comp = Comparison(quick + longer, groupings={"x": [["a", "b"]]})
    table = comp.table()
    assert set(table.setting) == {
        "STL [max_steps=200]",
        "MTL a+b [max_steps=200]",
        "STL [max_steps=900]",
        "MTL a+b [max_steps=900]",
    }
    mean, half = by_hand()
    deltas = table.dropna(subset=["delta"]).groupby("setting")["delta"].mean()
    assert deltas.loc["MTL a+b [max_steps=200]"] == pytest.approx(
        deltas.loc["MTL a+b [max_steps=900]"]
    )
    g = comp.by_grouping().set_index("grouping")
    assert list(g.index) == ["x [max_steps=200]", "x [max_steps=900]"]
    assert g["delta_grouped"].tolist() == pytest.approx([mean, mean])  # +0.2 on both sides cancels
    assert (g["seeds"] == 3).all()


def seeds_by_hand(diffs, power=0.8) -> int:
    """The fewest seeds n with mean/sd · √n ≥ t(0.975, n−1) + t(power, n−1), from scipy."""
    m, sd = np.mean(diffs), np.std(diffs, ddof=1)
    return next(
        n
        for n in range(2, 1000)
        if abs(m) / sd * math.sqrt(n) >= stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1)
    )


def test_verdicts():
    comp = Comparison(records(), groupings={"x": [["a", "b"]], "none": [["a"], ["b"]]})
    mean, half = by_hand()
    per_seed = [np.mean([MTL[s][t] - STL[(t, s)] for t in ("a", "b")]) for s in (1, 2, 3)]
    lines = comp.verdicts()
    assert lines[0] == (
        f"x (a+b): inconclusive, ≈{seeds_by_hand(per_seed)} seeds — {mean * 100:+.2f} ± "
        f"{half * 100:.2f} points on the grouped tasks over 3 seeds"
    )
    assert lines[1].startswith("none: no task was grouped")
    assert "within ± 1 points" in lines[-1]


def test_groupings_that_tie_with_stl_are_equivalent_and_a_noisy_one_is_inconclusive():
    stl = {(t, s): 0.6 + 0.01 * s for t in ("a", "b") for s in (1, 2, 3, 4)}
    # MTL of a+b: within a tenth of a point of STL on every seed; of a+c: noisy
    tie = {s: {t: stl[(t, s)] + 0.001 * (-1) ** s for t in ("a", "b")} for s in (1, 2, 3, 4)}
    recs = [run_record(f"stl-{t}-{s}", [t], s, {t: v}) for (t, s), v in stl.items()]
    recs += [run_record(f"ab-{s}", ["a", "b"], s, v) for s, v in tie.items()]
    comp = Comparison(recs, groupings={"pair": [["a", "b"]]}, margin=0.01)
    row = comp.by_grouping().iloc[0]
    assert row.verdict == "equivalent" and row.p_equivalence < 0.05
    # with no margin nothing is ever equivalent: the tie is inconclusive
    assert (
        Comparison(recs, groupings={"pair": [["a", "b"]]}, margin=0)
        .by_grouping()
        .iloc[0]
        .verdict.startswith("inconclusive")
    )
    noisy = {1: 0.05, 2: -0.01, 3: 0.04, 4: 0.0}
    recs2 = [run_record(f"stl-{t}-{s}", [t], s, {t: v}) for (t, s), v in stl.items()]
    recs2 += [
        run_record(f"ab-{s}", ["a", "b"], s, {t: stl[(t, s)] + noisy[s] for t in ("a", "b")})
        for s in noisy
    ]
    row = Comparison(recs2, groupings={"pair": [["a", "b"]]}).by_grouping().iloc[0]
    assert row.verdict == f"inconclusive, ≈{seeds_by_hand(list(noisy.values()))} seeds"
    table = Comparison(recs2, groupings={"pair": [["a", "b"]]}).table()
    assert set(table[table.setting != "STL"].verdict) == {row.verdict}


def _flagged(recs, **metrics):
    return [
        replace(r, metrics={**r.metrics, **metrics}) if r.kind == "stl" and r.tasks == ["a"] else r
        for r in recs
    ]


def test_stl_models_that_had_not_converged_are_flagged_not_counted():
    recs = records()
    rising = [{"step": 50, "dev_score": 0.5}, {"step": 100, "dev_score": 0.6}]
    # the best checkpoint of every STL model of a was its last: the step budget stopped them
    comp = Comparison(_flagged(recs, history=rising, best_step=100), groupings={"x": [["a", "b"]]})
    assert "still improving at its last step (3 of 3 seeds)" in comp.stl_problem("a")
    assert comp.stl_problem("b") == ""
    row = comp.by_grouping().iloc[0]
    assert row.verdict == "STL not converged (a)" and not row.fair
    assert comp.best_grouping() is None  # a gain over unconverged STL is not taken
    assert "train STL longer" in comp.verdicts()[0]
    table = comp.table()
    assert (
        table.query("task == 'a' and setting == 'STL'")
        .verdict.iloc[0]
        .startswith("not converged: still improving")
    )
    assert table.query("task == 'a' and setting != 'STL'").verdict.iloc[0] == "STL not converged"
    # stopped early after its best (best_step before the last evaluation): converged
    early = Comparison(_flagged(recs, history=rising, best_step=50), groupings={"x": [["a", "b"]]})
    assert early.stl_problem("a") == "" and early.by_grouping().iloc[0].fair
    # at the majority-class level: a's STL macro-F1 (0.55 on average) vs a majority of 0.545
    majority = {"a": {"accuracy": 0.6, "macro_f1": 0.545}}
    flat = Comparison(_flagged(recs, majority=majority), groupings={"x": [["a", "b"]]})
    assert "at the majority-class level (macro-F1 55.0, majority 54.5)" == flat.stl_problem("a")
    low = {"a": {"accuracy": 0.6, "macro_f1": 0.4}}
    assert Comparison(_flagged(recs, majority=low)).stl_problem("a") == ""


def _delta_cell(text: str, grouping: str) -> str:
    """The 'Δ grouped tasks' cell of a grouping's row in a printed table (or the HTML report)."""
    rows = [
        " ".join(r.split()) for r in re.findall(r"<tr>(.*?)</tr>", text, re.S)
    ] or text.splitlines()
    for line in rows:
        if re.match(rf"\W*{grouping}\W", line.strip("│ ")) or line.startswith(
            f"<td>{grouping}</td>"
        ):
            cells = re.findall(r"[+-]\d+\.\d+ ± \d+\.\d+", line)
            if cells:
                return cells[0]
    raise AssertionError(f"no row for {grouping}")


def test_train_compare_and_report_print_one_ci_when_groupings_pick_the_same_group(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    """With two tasks, every grouping chooses the group a+b (random in either order): the model is
    trained once per seed, and train, compare and the report print the same CI — the CI over the
    distinct runs, computed here by hand."""
    from taskmix.store import RunStore

    out = tmp_path / "runs"
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        keyword_suite,
        "--groups",
        "auto",
        "--method",
        "textemb",
        "--baselines",
        "all,random",
        "--seeds",
        "1,2,3",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "6",
        "--batch-size",
        "4",
        "--lr",
        "3e-3",
        "--out",
        out,
    )
    assert code == 0, err
    saved = json.loads((out / "groupings.json").read_text())["kw"]["groupings"]
    assert saved["all"] == [["a", "b"]] and saved["random"] == [
        ["b", "a"]
    ]  # one group, written both ways
    with RunStore(out / "taskmix.db") as store:
        runs = store.runs()
    assert len(runs) == 9 and {r.setting for r in runs} == {
        "stl:a",
        "stl:b",
        "mtl:a+b",
    }  # not 12: one a+b model
    assert any(line.endswith("runs (local (in this process)): 9/9") for line in err.splitlines())
    value = {
        (r.setting, t, r.seed): m["macro_f1"] for r in runs for t, m in r.metrics["test"].items()
    }
    d = [
        np.mean([value[("mtl:a+b", t, s)] - value[(f"stl:{t}", t, s)] for t in ("a", "b")])
        for s in (1, 2, 3)
    ]
    half = stats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3)
    expected = f"{np.mean(d) * 100:+.2f} ± {half * 100:.2f}"
    code, compared, _ = run_cli(monkeypatch, capsys, "compare", "--out", out)
    assert code == 0
    code, _, err = run_cli(monkeypatch, capsys, "report", "--out", out)
    assert code == 0, err
    html = (out / "report" / "index.html").read_text()
    for name in ("textemb", "all", "random"):
        assert _delta_cell(text, name) == expected
        assert _delta_cell(compared, name) == expected
        assert _delta_cell(html, name) == expected
    assert "over 3 seeds" in html and "How the models were trained" in html


def test_comparison_table(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    mtt = MultiTaskTrainer(
        FAST, seeds=[1, 2], out=tmp_path, backbone=tiny_factory, show_progress=False
    )
    comp = mtt.compare(suite, [["a", "b"]])
    table = comp.table()
    assert list(table.setting) == ["STL", "MTL a+b", "STL", "MTL a+b"]
    assert (table.seeds == 2).all()
    row = table.iloc[1]
    long = comp.frame()
    mtl = long[
        (long.task == "a") & (long.setting == "mtl:a+b") & (long.metric == "macro_f1")
    ].sort_values("seed")
    stl = long[
        (long.task == "a") & (long.setting == "stl:a") & (long.metric == "macro_f1")
    ].sort_values("seed")
    assert row.delta == pytest.approx((mtl.value.to_numpy() - stl.value.to_numpy()).mean())
    strat = comp.strategies([["a", "b"]])
    assert strat.models.tolist() == [2, 1]
    assert strat.trainable_parameters[0] > strat.trainable_parameters[1]


def test_comparison_by_grouping_matches_the_per_task_table(keyword_suite, tiny_factory, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    trainer = MultiTaskTrainer(
        FAST, backbone=tiny_factory, seeds=[1, 2], out=tmp_path, show_progress=False
    )
    comp = trainer.compare(suite, {"pair": [["a", "b"]], "alone": [["a"], ["b"]]})
    rows = comp.by_grouping().set_index("grouping")
    table = comp.table()
    mtl = table[table.setting == "MTL a+b"]
    assert "pair" in set(mtl.grouping)
    assert rows.loc["pair", "delta_grouped"] == pytest.approx(mtl.delta.mean())
    assert rows.loc["pair", "delta_all"] == pytest.approx(
        mtl.delta.mean()
    )  # both tasks are grouped
    assert rows.loc["pair", "tasks_grouped"] == 2 and rows.loc["pair", "seeds"] == 2
    assert rows.loc["alone", "tasks_grouped"] == 0 and rows.loc["alone", "delta_all"] == 0
    assert "Δ grouped tasks" in comp.printable_groupings().columns


def test_runs_without_a_parameter_count_are_compared():
    """Runs stored by versions that did not count trainable parameters: settings show none, the
    other figures stay."""
    recs = records()
    for r in recs:
        if r.kind == "mtl":
            del r.metrics["trainable_parameters"]
    comp = Comparison(recs, groupings={"x": [["a", "b"]]})
    st = comp.settings().set_index("setting")
    assert pd.isna(st.loc["mtl:a+b", "trainable_parameters"])
    assert st.loc["stl:a", "trainable_parameters"] > 0
    assert comp.strategies([["a", "b"]]).trainable_parameters.tolist()[0] > 0
