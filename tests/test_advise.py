"""`taskmix advise`: candidates from the signals, checks within the budget (through the run store,
never repeated), the recommendation from the verdicts, and the command end to end."""

from __future__ import annotations

import itertools
import json
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from conftest import run_cli, write_jsonl, write_suite
from taskmix.config import AdviseConfig, ModelConfig, RunConfig, TrainConfig, TransferConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.evaluate.advise import (
    Advice,
    Advisor,
    _expected,
    _one_seed_note,
    candidate_row,
    check_seconds,
    could_change,
    first_checks,
    grown,
    next_seed,
    seed_sd,
)
from taskmix.experiment.transfer import PairwiseTransfer
from taskmix.group.affinity import (
    Affinity,
    AffinityModel,
    advisor_seed_sd,
    advisor_signals,
    advisor_truth,
    combine,
    fitted_advisor,
)
from taskmix.stats import Looks
from taskmix.store import RunStore
from taskmix.train.trainer import Trainer

FAST = TrainConfig(max_steps=4, batch_size=8, lr=1e-3, eval_every=2, patience=None)


def planted(names, together, value=1.0, name="planted") -> Affinity:
    m = pd.DataFrame(-0.5, index=list(names), columns=list(names))
    for g in together:
        for i, j in itertools.permutations(g, 2):
            m.loc[i, j] = value
    return Affinity(name, m, neutral=0.0)


def advisor(tmp_path, tiny_model_dir, **advise) -> Advisor:
    run = RunConfig(
        model=ModelConfig(name=str(tiny_model_dir), max_length=32),
        train=FAST,
        seeds=[1],
        out=str(tmp_path / "runs"),
        advise=AdviseConfig(**{"min_seeds": 2, "max_seeds": 2, **advise}),
    )
    return Advisor(run, show_progress=False)


def test_candidates_put_the_signals_disagreements_first(tmp_path, tiny_model_dir):
    names = list("abcd")
    one = planted(names, ["ab", "cd"], name="one")
    two = planted(names, ["ab"], name="two")
    three = planted(names, ["ac"], name="three")
    adv = advisor(tmp_path, tiny_model_dir)
    combined = combine([one, two, three])
    cands = adv.candidates([one, two, three], combined, combined.partition())
    assert set(cands.group) == {"a+b", "c+d", "a+c"}
    by = cands.set_index("group")
    assert by.loc["a+b", "signals_for"] == "2/3" and by.loc["a+c", "signals_for"] == "1/3"
    assert by.loc["a+b", "proposed"] and not by.loc["a+c", "proposed"]
    # the proposed groups first, then the others; within each the most uncertain first
    assert list(cands.proposed) == sorted(cands.proposed, reverse=True)
    for _, part in cands.groupby("proposed"):
        assert list(part.uncertainty) == sorted(part.uncertainty, reverse=True)


def test_with_a_predicted_gain_and_its_se_the_prediction_nearest_0_is_checked_first(
    tmp_path, tiny_model_dir
):
    names = list("abcd")
    signals = [
        planted(names, ["ab", "cd"], name="one"),
        planted(names, ["ab", "cd"], name="two"),
        planted(names, ["ab"], name="three"),
        planted(names, ["ac"], name="four"),
    ]
    gain = pd.DataFrame(-3.0, index=names, columns=names)
    for (i, j), v in {("a", "b"): 2.0, ("c", "d"): -2.0, ("a", "c"): -0.05}.items():
        gain.loc[i, j] = gain.loc[j, i] = v
    fitted = Affinity("combined", gain, pd.DataFrame(1.0, index=names, columns=names), 0.0)
    adv = advisor(tmp_path, tiny_model_dir)
    cands = adv.candidates(signals, fitted, fitted.partition()).set_index("group")
    assert list(cands.index) == ["a+b", "a+c", "c+d"]  # a+c: 0.05 se from 0; c+d: 2 se
    assert cands.loc["a+c", "uncertainty"] == pytest.approx(2 * norm.sf(0.05))
    assert cands.loc["c+d", "uncertainty"] == pytest.approx(2 * norm.sf(2.0))
    # without an se (equal weights) the signals' split decides: c+d (2 of 4) before a+c (1 of 4)
    plain = Affinity("combined", gain, neutral=0.0)
    cands = adv.candidates(signals, plain, plain.partition())
    assert list(cands.group) == ["a+b", "c+d", "a+c"]


def expected(table: pd.DataFrame) -> pd.DataFrame:
    """The table with what ``Advisor.table`` adds: the expected gain of each row (one seed and no
    se unless the row says otherwise)."""
    defaults = {"predicted_se": float("nan"), "seeds": 1, "delta_se": float("nan")}
    rows = [{**defaults, **r} for r in table.to_dict("records")]
    return table.assign(expected=[_expected(r, advisor_seed_sd()) for r in rows])


def test_decide_prefers_what_was_shown(tmp_path, tiny_model_dir):
    adv = advisor(tmp_path, tiny_model_dir)
    nan = float("nan")
    table = pd.DataFrame(
        [
            {"group": "a+b", "predicted": 0.9, "delta": -0.05, "verdict": "hurts"},
            {"group": "a+c", "predicted": 0.1, "delta": 0.04, "verdict": "helps"},
            {"group": "b+d", "predicted": 0.5, "delta": nan, "verdict": "not checked (budget)"},
            {"group": "c+d", "predicted": 0.8, "delta": 0.03, "verdict": "STL not converged (c)"},
        ]
    )
    assert adv.decide(list("abcd"), expected(table)) == [["a", "c"], ["b", "d"]]
    # unsettled: the prediction decides, whatever one noisy seed measured
    table.loc[1, "verdict"] = "inconclusive, ≈9 seeds"
    table.loc[2, "predicted"] = 0.05
    table.loc[3, "verdict"] = "inconclusive, ≥3 seeds"
    assert adv.decide(list("abcd"), expected(table)) == [["c", "d"], ["a"], ["b"]]
    table.loc[3, "predicted"] = -0.2  # predicted not to help and not shown to: left out
    assert adv.decide(list("abcd"), expected(table)) == [["a", "c"], ["b", "d"]]
    # the fitted advisor predicts in points, with an se: a measured Δ on 2 seeds weighs in
    unsure = pd.DataFrame(
        [
            {"group": "a+b", "predicted": -1.28, "predicted_se": 1.5, "seeds": 2},
            {"group": "c+d", "predicted": -0.57, "predicted_se": 1.5, "seeds": 2},
        ]
    ).assign(delta=[0.2685, 0.2073], delta_se=[0.0264, 0.1053], verdict="inconclusive, ≈3 seeds")
    got = expected(unsure)
    se = 100 * 0.0264  # the measurement's se, in points
    w = [1.5**-2, se**-2]
    assert got.expected[0] == pytest.approx((w[0] * -1.28 + w[1] * 26.85) / sum(w))
    assert got.expected[0] > 0 > got.expected[1]  # a wide CI barely moves the prediction
    assert adv.decide(list("abcd"), got) == [["a", "b"], ["c"], ["d"]]
    # on one seed, the measurement's se is how far one seed falls from its pair's mean in the
    # advisor's ground truth: a proposed pair predicted ≈ 0 that lost on its one seed is not
    # recommended on the prediction alone
    one = pd.DataFrame(
        [{"group": "a+b", "predicted": 0.0001, "predicted_se": 1.67, "seeds": 1, "delta": -0.0046}]
    ).assign(verdict="inconclusive, ≥3 seeds")
    sd = advisor_seed_sd()
    w = [1.67**-2, sd**-2]
    assert expected(one).expected[0] == pytest.approx((w[0] * 0.0001 + w[1] * -0.46) / sum(w))
    assert adv.decide(list("abcd"), expected(one)) == [["a"], ["b"], ["c"], ["d"]]


def test_the_advisor_table_keeps_each_pairs_seed_spread_from_the_pair_gains():
    root = Path(__file__).resolve().parents[1]
    # the shipped table (ADVISOR_TABLE) is fitted on every seed of the pair gains
    pairs = pd.read_csv(root / "bench" / "data" / "pair_gains.csv").query("pair != 'all'")
    per_seed = 100 * pairs.groupby(["pair", "seed"]).gain.mean()
    sd = per_seed.groupby(level="pair").std()  # over the seeds, of the pair's mean gain
    assert advisor_seed_sd() == pytest.approx(float((sd**2).mean() ** 0.5), abs=1e-5)
    assert 1 < advisor_seed_sd() < 5  # points: a pair's gain varies by a few points a seed


def test_a_one_seed_delta_weighs_in_with_the_suites_own_seed_spread(tmp_path, tiny_model_dir):
    prior, nan = advisor_seed_sd(), float("nan")
    assert seed_sd([]) == pytest.approx(prior)  # nothing checked: the ground truth's
    measured = pd.DataFrame({"grouping": ["a+b", "c+d", "b+c"], "seeds": [1, 2, 3]}).assign(
        delta_grouped_se=[nan, 0.004, 0.006]
    )
    sd2, sd3 = 100 * 0.004 * 2**0.5, 100 * 0.006 * 3**0.5  # from the se: sd / √n
    pooled = ((2 * prior**2 + 1 * sd2**2 + 2 * sd3**2) / (2 + 1 + 2)) ** 0.5
    checked = list(zip(measured.seeds, measured.delta_grouped_se, strict=True))
    assert seed_sd(checked) == pytest.approx(pooled, rel=1e-6)
    # a suite whose seeds agree closely (e.g. more data) moves toward its own spread
    assert seed_sd([(3, 0.002)] * 5) < prior / 2
    # the table weighs a+b's one seed with it, not with the ground truth's spread
    adv = advisor(tmp_path, tiny_model_dir)
    rows = [
        {"group": g, "proposed": True, "grown_from": "", "signals_for": "1/1", "uncertainty": 0.5}
        for g in measured.grouping
    ]
    cands = pd.DataFrame(rows).assign(predicted=-0.5, predicted_se=1.67)
    measured = measured.assign(
        groups=measured.grouping,
        delta_grouped=0.03,
        delta_grouped_ci=measured.delta_grouped_se * 4,
        verdict="inconclusive, ≥3 seeds",
    )
    got = adv.table(cands, comp=None, by_grouping=measured).set_index("group")
    w = [1.67**-2, pooled**-2]
    assert got.expected["a+b"] == pytest.approx((w[0] * -0.5 + w[1] * 3.0) / sum(w), rel=1e-6)
    assert got.expected["a+b"] != pytest.approx(_expected(dict(got.loc["a+b"]), prior))
    # the note says the spread used and where it came from
    note = _one_seed_note(checked)
    assert f"{pooled:.2f} points" in note and "the 2 groups here" in note
    assert f"{prior:.2f} points" in _one_seed_note(checked[:1])  # no group on 2 seeds


def test_no_number_of_weaker_groups_outweighs_one_shown_stronger(tmp_path, tiny_model_dir):
    # the demo's case: a pair shown to help against an equivalent pair and an unsettled triple
    # with a large expected gain, which together hold more tasks
    adv = advisor(tmp_path, tiny_model_dir)
    table = expected(
        pd.DataFrame(
            [
                {"group": "a+c", "predicted": 0.3, "delta": 0.003, "verdict": "equivalent"},
                {"group": "a+b", "predicted": 0.1, "delta": 0.04, "verdict": "helps"},
                {"group": "b+d+e", "predicted": 7.1, "delta": 0.09, "verdict": "inconclusive"},
            ]
        )
    )
    names = list("abcde")
    assert adv.decide(names, table) == [["a", "b"], ["c"], ["d"], ["e"]]
    table.loc[1, "verdict"] = "inconclusive, ≈4 seeds"  # not shown: the equivalent pair first
    assert adv.decide(names, table) == [["a", "c"], ["b", "d", "e"]]
    # among groups shown to help, the larger total gain (tasks × mean Δ) first, however many
    # tasks the other holds: a+b 2 × 90 points against b+d+e 3 × 9 (and an equivalent a+c)
    table.loc[[1, 2], "verdict"] = "helps"
    table.loc[1, "delta"] = 0.9
    assert adv.decide(names, table) == [["a", "b"], ["c"], ["d"], ["e"]]
    table.loc[1, "delta"] = 0.1  # 2 × 10 < 3 × 9
    assert adv.decide(names, table) == [["a", "c"], ["b", "d", "e"]]
    table.loc[1, "delta"] = 0.135  # a tie in gain (27 points): more tasks in helping groups
    assert adv.decide(names, table) == [["a", "c"], ["b", "d", "e"]]


def test_groups_shown_to_help_are_chosen_by_their_tasks_total_gain(tmp_path, tiny_model_dir):
    # the demo on a CPU with bf16: the planted pairs a+b and c+d, c+d grown by its planted
    # third member e, and a small gain of e with f; all shown to help
    adv = advisor(tmp_path, tiny_model_dir)
    table = expected(
        pd.DataFrame(
            [
                {"group": "a+b", "delta": 0.1257, "grown_from": ""},
                {"group": "c+d", "delta": 0.1762, "grown_from": ""},
                {"group": "c+d+e", "delta": 0.1456, "grown_from": "c+d"},
                {"group": "e+f", "delta": 0.0204, "grown_from": ""},
            ]
        ).assign(predicted=-1.0, verdict="helps")
    )
    names = list("abcdef")
    # c+d+e 3 × 14.56 = 43.7 points against c+d and e+f 2 × 17.62 + 2 × 2.04 = 39.3: the trio,
    # though c+d and e+f put one more task in a group shown to help
    assert adv.decide(names, table) == [["a", "b"], ["c", "d", "e"], ["f"]]
    table.loc[3, "delta"] = 0.05  # 35.2 + 10 = 45.2 points: the two pairs
    assert adv.decide(names, table) == [["a", "b"], ["c", "d"], ["e", "f"]]


def test_a_check_is_made_only_where_its_verdict_could_change_the_recommendation(
    tmp_path, tiny_model_dir
):
    adv = advisor(tmp_path, tiny_model_dir)
    nan = float("nan")
    table = expected(
        pd.DataFrame(
            [
                {"group": "a+b", "predicted": 0.2, "delta": 0.05, "verdict": "helps"},
                {"group": "c+d", "predicted": 0.2, "delta": 0.04, "verdict": "helps"},
                {"group": "a+e", "predicted": 0.9, "delta": 0.01, "verdict": "inconclusive, ≈9"},
                {"group": "e+f", "predicted": -0.5, "delta": nan, "verdict": "not checked"},
            ]
        ).assign(delta_ci=[0.02, 0.02, 0.015, nan])
    )
    names = list("abcdef")
    assert adv.decide(names, table) == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    # a+e shown to help, by the top of its CI (2 × 2.5 points), would still lose to a+b, shown
    # to help by more (2 × 5): nothing to learn
    assert not could_change(names, table, "a+e", adv.decide)
    table.loc[2, "delta_ci"] = 0.05  # 2 × 6 > 2 × 5: more seeds could show that it helps more
    assert could_change(names, table, "a+e", adv.decide)
    table.loc[2, "delta_ci"] = 0.015
    # e+f, predicted to lose, would join the advice if shown to help
    assert could_change(names, table, "e+f", adv.decide)
    # with a+b shown to hurt, a+e's verdict decides whether a and e are grouped
    table.loc[0, "verdict"] = "hurts"
    assert could_change(names, table, "a+e", adv.decide)


def test_checks_stay_within_the_budget_and_are_never_repeated(
    keyword_suite, tiny_model_dir, tmp_path
):
    suite = Suite.from_yaml(keyword_suite)
    adv = advisor(tmp_path, tiny_model_dir, budget_runs=4)
    signal = planted(suite.names, [suite.names])
    advice = adv.advise(suite, signals=[signal])
    # a+b on seed 1 costs 3 runs (STL a, STL b, MTL a+b); seed 2 would make 6 > 4
    assert advice.runs == 3
    row = advice.groups.set_index("group").loc["a+b"]
    assert row.seeds == 1 and row.proposed and row.verdict != "not checked (budget)"
    assert row.advice in ("together, unverified", "train STL longer first")
    with RunStore(tmp_path / "runs" / "taskmix.db") as store:
        assert store.count("finished") == 3
    # with a larger budget the second seed is trained; the first seed's runs are reused
    more = advisor(tmp_path, tiny_model_dir, budget_runs=6).advise(suite, signals=[signal])
    assert more.runs == 6 and more.groups.seeds.iloc[0] == 2
    with RunStore(tmp_path / "runs" / "taskmix.db") as store:
        assert store.count("finished") == 6
    path = more.save(tmp_path / "advice")
    saved = json.loads(path.read_text())
    assert saved["recommended"] in ([["a", "b"]], [["a"], ["b"]])
    assert set(saved["signals"]) == {"planted", "combined"}


def test_nothing_predicted_to_help_means_every_task_alone(keyword_suite, tiny_model_dir, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    apart = planted(suite.names, [], name="apart")
    advice = advisor(tmp_path, tiny_model_dir).advise(suite, signals=[apart])
    assert advice.recommended == [["a"], ["b"]] and advice.runs == 0
    assert any("train every task alone" in n for n in advice.notes)


def test_advise_command_end_to_end(monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path):
    out = tmp_path / "runs"
    args = [
        "advise",
        keyword_suite,
        "--model",
        tiny_model_dir,
        "--signals",
        "textemb,tag,gradient_cosine",
        "--tag-steps",
        "4",
        "--max-steps",
        "4",
        "--seeds",
        "1",
        "--budget",
        "0",
        "--out",
        out,
        "--json",
    ]
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    tables = json.loads(stdout)
    assert {"signals", "advice", "proposed", "recommended"} <= set(tables)
    pair = tables["signals"][0]
    assert pair["pair"] == "a+b" and {"textemb", "tag", "gradient cosine", "combined"} <= set(pair)
    saved = json.loads((out / "advice" / "kw" / "advice.json").read_text())["signals"]
    # each matrix, with its standard errors where the signal has them (TAG's: over its steps)
    assert "se" in saved["tag"] and "se" not in saved["textemb"]
    assert saved["tag"]["se"]["index"] == saved["tag"]["matrix"]["index"] == ["a", "b"]
    cached = list((out / "affinity").glob("kw-lookahead-*.json"))
    assert len(cached) == 1  # the TAG run is kept: a rerun reads it
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0 and len(list((out / "affinity").glob("*.json"))) == 1
    # the report draws each signal's matrix side by side, with no training run in the store
    code, _, err = run_cli(monkeypatch, capsys, "report", "--out", out, "--suite", "kw")
    assert code == 0, err
    html = (out / "report" / "index.html").read_text()
    assert "Advice: the signals side by side" in html
    assert len(list((out / "report").glob("affinity-*.png"))) == 4  # 3 signals + combined
    code, _, err = run_cli(monkeypatch, capsys, "advise", keyword_suite, "--budget", "soon")
    assert code == 2 and "neither a number of runs nor a time" in err


def test_the_looks_flag_reaches_the_advisor(monkeypatch, capsys, keyword_suite, tmp_path):
    seen = []

    def advise(self, suite, signals=None):  # what the command configured, nothing trained
        seen.append(self.config.looks)
        raise SystemExit(0)

    monkeypatch.setattr(Advisor, "advise", advise)
    for flag, looks in [([], "spend"), (["--looks", "each"], "each")]:
        code, _, err = run_cli(monkeypatch, capsys, "advise", keyword_suite, "-o", tmp_path, *flag)
        assert code == 0, err
        assert seen.pop() == looks
    code, _, err = run_cli(monkeypatch, capsys, "advise", keyword_suite, "--looks", "never")
    assert code == 2 and "never" in err and not seen


def test_the_tag_run_is_capped_but_never_lengthened_nor_scored(
    keyword_suite, tiny_model_dir, tmp_path, monkeypatch
):
    def scored(*args, **kwargs):
        raise AssertionError("the TAG run spent time scoring its model on dev or test")

    monkeypatch.setattr(Trainer, "evaluate", scored)
    monkeypatch.setattr(Trainer, "_evaluate_dev", scored)  # FAST scores dev every 2 steps
    suite = Suite.from_yaml(keyword_suite)  # FAST: a budget of 4 steps
    for cap, steps in [(2, 2), (300, 4)]:
        out = tmp_path / str(cap)
        adv = advisor(out, tiny_model_dir, tag_steps=cap, signals=["tag"])
        found, note = adv.lookahead(suite)
        assert [a.name for a in found] == ["tag", "gradient cosine"] and note is None
        (saved,) = (out / "runs" / "affinity").glob("*.json")
        assert json.loads(saved.read_text())["steps"] == steps


def test_under_a_time_budget_the_tag_run_stops_at_its_share(
    keyword_suite, tiny_model_dir, tmp_path
):
    suite = Suite.from_yaml(keyword_suite)  # FAST: a budget of 4 steps
    adv = advisor(tmp_path, tiny_model_dir, signals=["tag"], budget_minutes=1e-6, tag_share=0.5)
    signals, notes = adv.signals(suite)  # 30 µs: up before the first step is trained
    (saved,) = (tmp_path / "runs" / "affinity").glob("*.json")
    measured = json.loads(saved.read_text())
    assert measured["stopped_by_clock"] and measured["steps"] == 0 and measured["planned"] == 4
    assert measured["samples"] == 1 and [a.name for a in signals] == ["tag"]
    assert notes == [
        "the TAG run stopped at its share of the time budget (50%) after 0 of 4 steps "
        "(1 measurement)"
    ]
    saved.write_text(json.dumps({**measured, "samples": 7}))  # a rerun reads what was measured
    assert "(7 measurements)" in adv.signals(suite)[1][0]


def test_the_transfer_signal_is_the_pairwise_probe_transfer_through_the_store(
    keyword_suite, tiny_model_dir, tmp_path
):
    suite = Suite.from_yaml(keyword_suite)
    transfer = TransferConfig(n=16, seeds=[1, 2], probe_steps=5)
    adv = advisor(tmp_path, tiny_model_dir, signals=["transfer"], transfer=transfer)
    (signal,), notes = adv.signals(suite)
    assert signal.name == "transfer" and not notes and signal.tasks == suite.names
    store = RunStore(tmp_path / "runs" / "taskmix.db", readonly=True).to_frame()
    assert (store.kind == "transfer").sum() == 2 * 2 + 2 * 2  # each task alone + each pair, 2 seeds
    measured = PairwiseTransfer(
        transfer, model=adv.run.model, out=adv.run.out, show_progress=False
    ).fit(suite)
    # source → target: the affinity is the transpose of the target × source scores
    assert signal.matrix.loc["a", "b"] == measured.matrix_.scores().loc["b", "a"]
    (again,), _ = adv.signals(suite)  # a rerun reads the runs: nothing trained twice
    assert len(RunStore(tmp_path / "runs" / "taskmix.db", readonly=True).to_frame()) == len(store)
    assert again.matrix.equals(signal.matrix)


def test_under_a_time_budget_transfer_measures_the_seeds_that_fit_its_share(
    keyword_suite, tiny_model_dir, tmp_path, monkeypatch
):
    suite = Suite.from_yaml(keyword_suite)  # 2 tasks: a seed's grid is 2 alone + 2 pairs
    transfer = TransferConfig(n=16, seeds=[1, 2, 3], probe_steps=5)
    # the clock: 10 s for the first source's runs, then 30 s a seed; later fits take no time
    now, steps = [0.0], itertools.chain([10.0, 30.0, 30.0, 30.0], itertools.repeat(0.0))
    fit = PairwiseTransfer.fit

    def timed(self, s):
        now[0] += next(steps)
        return fit(self, s)

    monkeypatch.setattr(PairwiseTransfer, "fit", timed)
    monkeypatch.setattr(
        "taskmix.evaluate.advise.time", types.SimpleNamespace(monotonic=lambda: now[0])
    )
    adv = advisor(  # a share of 100 s: seed 1 ends at 40 s, seed 2 at 70 s, seed 3 would at 105
        tmp_path,
        tiny_model_dir,
        signals=["transfer"],
        transfer=transfer,
        budget_minutes=10 / 3,
        transfer_share=0.5,
    )
    (signal,), notes = adv.signals(suite)
    assert notes == [
        "transfer measured on 2 of its 3 seeds: another was predicted to end past its share "
        "(50% of the time budget, 100 s)"
    ]
    runs = RunStore(tmp_path / "runs" / "taskmix.db", readonly=True).to_frame()
    assert sorted(runs.seed) == [1] * 4 + [2] * 4  # seed 3 never trained
    measured = PairwiseTransfer(
        transfer.model_copy(update={"seeds": [1, 2]}),
        model=adv.run.model,
        out=adv.run.out,
        show_progress=False,
    ).fit(suite)
    assert signal.matrix.loc["a", "b"] == measured.matrix_.scores().loc["b", "a"]
    assert adv.signals(suite)[1] == notes  # a rerun, its runs in the store: the same seeds


def test_transfer_that_cannot_fit_its_share_is_left_out_and_the_advisor_refitted(
    keyword_suite, tiny_model_dir, tmp_path
):
    suite = Suite.from_yaml(keyword_suite)
    transfer = TransferConfig(n=16, seeds=[1, 2], probe_steps=5)
    adv = advisor(
        tmp_path,
        tiny_model_dir,
        signals=["textemb", "transfer"],
        transfer=transfer,
        budget_minutes=1e-6,
    )
    signals, notes = adv.signals(suite)
    assert [a.name for a in signals] == ["textemb"]
    assert len(notes) == 1 and notes[0].startswith("transfer left out: one seed of its probe")
    runs = RunStore(tmp_path / "runs" / "taskmix.db", readonly=True).to_frame()
    assert len(runs) == 2 + 1  # the first source's runs: each task alone, and a → b, seed 1
    _, note = adv.combination(signals)
    assert note.startswith("the fitted advisor is refitted without pvi, transfer, tag")


def test_the_signals_pairs_line_up_whatever_each_signals_task_order():
    names = list("abc")
    one = planted(names, ["ab"], name="one")
    other = planted(names[::-1], ["ab"], value=2.0, name="other")  # tasks in another order
    advice = Advice([one, other], combine([one, other]), [], [], None, pd.DataFrame())
    pairs = advice.pairs().set_index("pair")
    assert list(pairs.index) == ["a+b", "a+c", "b+c"]
    assert pairs.loc["a+b", "one"] == one.pair("a", "b")
    assert pairs.loc["a+b", "other"] == other.pair("b", "a") and not pairs.isna().any().any()


def test_the_fitted_advisor_combines_the_signals_it_was_fitted_on(tmp_path, tiny_model_dir):
    names = list("abcd")
    known = advisor_signals()
    assert {"textemb", "pvi", "transfer", "tag", "gradient cosine"} == set(known)
    fitted = fitted_advisor(known)
    assert fitted.n_pairs_ == 56 and max(fitted.weights_.values()) > 0  # 28 pairs, both ways
    signals = [planted(names, ["ab"], name=n) for n in known]
    combined, note = advisor(tmp_path, tiny_model_dir).combination(signals)
    assert note is None and combined.matrix.equals(fitted.predict(signals).matrix)
    assert combined.pair("a", "b") > combined.pair("a", "c")  # predicted gain, in points
    # a signal not measured (left out by --signals, or one that cannot be): the advisor fitted
    # without it on the same pair gains — not equal weights, and still a gain in points
    without = [a for a in signals if a.name != "pvi"]
    combined, note = advisor(tmp_path, tiny_model_dir).combination(without)
    assert "refitted without pvi" in note
    refit = fitted_advisor(a.name for a in without)
    assert set(refit.weights_) == set(known) - {"pvi"} and refit.n_pairs_ == 56
    truth, gains = advisor_truth()
    direct = AffinityModel().fit([a for a in truth if a.name != "pvi"], gains)
    assert refit.to_dict() == direct.to_dict() != fitted.to_dict()
    assert combined.matrix.equals(refit.predict(without).matrix)
    # a signal it does not know: equal weights, and a note that says so
    other = [*signals, planted(names, ["ab"], name="roe")]
    combined, note = advisor(tmp_path, tiny_model_dir).combination(other)
    assert "not roe" in note and "equal weights instead" in note
    assert combined.matrix.equals(combine(other).matrix)
    with pytest.raises(ConfigError, match="not roe"):
        fitted_advisor(["pvi", "roe"])
    equal, note = advisor(tmp_path, tiny_model_dir, weights="equal").combination(signals)
    assert note is None and equal.matrix.equals(combine(signals).matrix)


def test_pvi_of_a_regression_task_is_measured_on_quantile_bins(
    keyword_suite, tiny_model_dir, tmp_path
):
    rows = [{"text": f"the film was {'good ' * (i % 5)}", "score": i % 5 + 0.5} for i in range(60)]
    write_jsonl(keyword_suite.parent / "r.jsonl", rows)
    config = yaml.safe_load(keyword_suite.read_text())
    regression = {"name": "r", "kind": "regression", "format": "jsonl", "text": "text"}
    config["tasks"].append({**regression, "label": "score", "splits": {"train": "r.jsonl"}})
    suite = Suite.from_yaml(write_suite(keyword_suite, config))
    (signal,), notes = advisor(tmp_path, tiny_model_dir, signals=["pvi"]).signals(suite)
    assert signal.name == "pvi" and signal.tasks == ["a", "b", "r"]
    assert notes == [
        "pvi: the labels of r cut into 5 quantile bins (group.pvi.bins in a --config file sets "
        "another number)"
    ]


def test_the_proposed_groups_get_their_seeds_before_the_others_any():
    order = [("a", "b"), ("c", "d"), ("a", "c"), ("b", "d")]
    proposed = [("a", "b"), ("c", "d")]
    got = first_checks(order, proposed, AdviseConfig(min_seeds=2, max_seeds=4))
    assert got == [
        [(("a", "b"), 0), (("c", "d"), 0), (("a", "b"), 1), (("c", "d"), 1)],
        [(("a", "c"), 0), (("a", "c"), 1)],
        [(("b", "d"), 0), (("b", "d"), 1)],
    ]
    # nothing proposed: a round per candidate, in order; never more than max_seeds
    got = first_checks(order, [], AdviseConfig(min_seeds=3, max_seeds=3))
    assert got == [[(g, 0), (g, 1), (g, 2)] for g in order]


def test_a_verdict_few_more_seeds_could_settle_gets_them_first():
    nan = float("nan")
    rows = pd.DataFrame(
        [  # groups, verdict, seeds_needed, p_difference
            ("a+b", "inconclusive, ≈9 seeds", 9.0, 0.8),
            ("c+d", "inconclusive, ≈3 seeds", 3.0, 0.2),
            ("a+c", "inconclusive, ≥3 seeds", nan, nan),  # one seed: no estimate
            ("b+d", "helps", nan, 0.01),
            ("e+f", "inconclusive, ≈4 seeds", 4.0, 0.1),
        ],
        columns=["groups", "verdict", "seeds_needed", "p_difference"],
    )
    order = [tuple(g.split("+")) for g in rows.groups]
    seeds = dict(zip(order, [2, 2, 1, 3, 2], strict=True))

    def pick(settle_only, allowed=lambda g: True, max_seeds=6):
        return next_seed(rows, seeds, max_seeds, settle_only, allowed, order)

    assert pick(True) == ("c", "d")  # one more seed could settle it; e+f needs two
    assert pick(True, allowed=lambda g: g != ("c", "d")) == ("e", "f")
    # ≈9 is beyond max_seeds and a+c has no estimate: not while settling ...
    assert pick(True, allowed=lambda g: g in {("a", "b"), ("a", "c")}) is None
    # ... afterwards the least certain first; a settled verdict never gets more
    assert pick(False, allowed=lambda g: g in {("a", "b"), ("a", "c")}) == ("a", "c")
    assert pick(False, allowed=lambda g: g in {("a", "b"), ("b", "d")}) == ("a", "b")
    assert pick(True, max_seeds=3) == ("c", "d") and pick(True, max_seeds=2) is None


def test_a_group_grows_by_the_task_the_most_signals_put_with_it():
    names = list("abcde")
    near = planted(names, [], name="near")
    for t in "ab":  # c is a little like a and b, d not at all
        near.matrix.loc[t, "c"] = near.matrix.loc["c", t] = 0.2
    near.matrix.loc["a", "b"] = near.matrix.loc["b", "a"] = 1.0
    pair = planted(names, ["ab"], name="pair")
    also = planted(names, ["abd"], value=0.3, name="also")
    combined = combine([near, pair, also])
    # c: one vote (near), d: one (also); the combined prediction breaks the tie
    votes = {t: sum(a.group_score(("a", "b", t)) > 0 for a in [near, pair, also]) for t in "cde"}
    assert votes == {"c": 1, "d": 1, "e": 0}
    best = max("cd", key=lambda t: combined.group_score(tuple(sorted(f"ab{t}"))))
    assert grown(("a", "b"), names, [near, pair, also], combined, set()) == ("a", "b", best)
    # in suite order, whatever the group's; a task taken elsewhere is not added
    other = "c" if best == "d" else "d"
    assert grown(("b", "a"), names, [near, pair, also], combined, {best}) == ("a", "b", other)
    # no signal predicts a larger group to help: none
    assert grown(("a", "b"), names, [pair], combined, set()) is None


def test_a_signal_votes_for_a_group_only_above_its_own_noise():
    """A signal with a standard error (as TAG's) predicts a group to help only if its score is
    above neutral by more than 1.96 of them; so a group grows by the task a signal puts with
    it beyond its noise, not by one a noisy signal puts there by chance."""
    names = list("abcd")
    # c: above neutral in "noisy", by 0.05 with an se of 0.1; d: in "sure", by 0.5 (no se)
    noisy = planted(names, ["abc"], value=0.05, name="noisy")
    noisy = Affinity("noisy", noisy.matrix, pd.DataFrame(0.1, names, names), 0.0)
    sure = planted(names, ["abd"], value=0.5, name="sure")
    assert [a.name for a in [noisy, sure] if a.group_score(("a", "b", "c")) > 0] == ["noisy"]
    row = candidate_row(("a", "b", "c"), [noisy, sure], combine([noisy, sure]), False)
    assert row["signals_for"] == "0/2"
    assert candidate_row(("a", "b", "d"), [noisy, sure], sure, False)["signals_for"] == "1/2"
    # a combined prediction that trusts "noisy" would prefer c: the votes decide first
    combined = combine([noisy, sure], {"noisy": 20.0, "sure": 1.0})
    assert combined.group_score(("a", "b", "c")) > combined.group_score(("a", "b", "d"))
    assert grown(("a", "b"), names, [noisy, sure], combined, set()) == ("a", "b", "d")
    # the same signal with a small se: its score is now above its noise, it votes for c
    sharp = Affinity("noisy", noisy.matrix, pd.DataFrame(0.01, names, names), 0.0)
    assert candidate_row(("a", "b", "c"), [sharp, sure], sure, False)["signals_for"] == "1/2"


def test_a_grown_group_replaces_its_base_only_if_its_tasks_gain_more_in_all(
    tmp_path, tiny_model_dir
):
    adv = advisor(tmp_path, tiny_model_dir)
    table = pd.DataFrame(
        [
            {"group": "a+b", "grown_from": "", "predicted": 0.1, "delta": 0.06},
            {"group": "a+b+c", "grown_from": "a+b", "predicted": 0.1, "delta": 0.05},
        ]
    ).assign(verdict="helps")
    names = list("abcd")
    # a+b gain 2 × 6 = 12 points; with c 3 × 5 = 15: c gains too
    assert adv.decide(names, expected(table)) == [["a", "b", "c"], ["d"]]
    # 3 × 3.5 = 10.5 < 12: c rode on a+b's gain (or cost them some): a+b, c alone
    table.loc[1, "delta"] = 0.035
    assert adv.decide(names, expected(table)) == [["a", "b"], ["c"], ["d"]]
    # not measured yet: whether it helps could change the advice, so it is checked
    table.loc[1, ["delta", "verdict"]] = [float("nan"), "not checked (budget)"]
    table["delta_ci"] = float("nan")
    assert could_change(names, expected(table), "a+b+c", adv.decide)


def faked_checks(monkeypatch, adv: Advisor, gain: dict[str, float], seconds: float = 0.0):
    """The check loop's training and verdicts faked: each check is one record that took
    ``seconds`` of the advisor's clock (faked too); a group helps once it has 2 seeds and a
    positive ``gain``, else it is inconclusive. Returns the list the (group, seed) pairs trained
    are appended to."""
    trained, now = [], [0.0]
    monkeypatch.setattr(
        "taskmix.evaluate.advise.time", types.SimpleNamespace(monotonic=lambda: now[0])
    )

    class Trainer:
        def __init__(self, *args, seeds, **kwargs):
            self.seed = seeds[0]

        def run(self, suite, groups):
            trained.append(("+".join(groups[0]), self.seed))
            now[0] += seconds
            run_id = f"{groups[0]}{self.seed}"
            return [types.SimpleNamespace(id=run_id, tasks=groups[0], duration=seconds)]

    class Verdicts:
        def __init__(self, seeds):
            self.seeds = {"+".join(g): k for g, k in seeds.items() if k}

        def by_grouping(self):
            rows = [
                {
                    "grouping": g,
                    "groups": g,
                    "seeds": k,
                    "delta_grouped": gain[g],
                    "delta_grouped_ci": 0.01 if k >= 2 else float("nan"),  # no CI of 1 seed
                    "delta_grouped_se": 0.002 if k >= 2 else float("nan"),
                    "verdict": "helps" if k >= 2 and gain[g] > 0 else "inconclusive",
                    "seeds_needed": float("nan"),
                    "p_difference": 0.5,
                }
                for g, k in self.seeds.items()
            ]
            return pd.DataFrame(rows)

    monkeypatch.setattr("taskmix.evaluate.advise.MultiTaskTrainer", Trainer)
    monkeypatch.setattr(
        adv, "_comparison", lambda suite, records, seeds: Verdicts(seeds) if records else None
    )
    return trained


def test_a_group_shown_to_help_is_grown_and_checked_next(tmp_path, tiny_model_dir, monkeypatch):
    """a+b helps on 2 seeds; then a+b+c, grown by the task the signals put with them, is
    checked before the other candidate c+d (which still could change the advice: a+b and c+d
    both helping could gain more in all); c+d does not help, and a+b+c helps more in all than
    a+b, so it is recommended."""
    names = list("abcde")
    near = planted(names, ["ab"], name="near")
    for t in "ab":
        near.matrix.loc[t, "c"] = near.matrix.loc["c", t] = 0.3
    cd = planted(names, ["cd"], value=0.1, name="cd")
    adv = advisor(tmp_path, tiny_model_dir, weights="equal", max_seeds=2)
    trained = faked_checks(monkeypatch, adv, {"a+b": 0.06, "a+b+c": 0.05, "c+d": -0.01})
    advice = adv.advise(types.SimpleNamespace(names=names), signals=[near, cd])
    assert trained == [("a+b", 1), ("a+b", 2), ("a+b+c", 1), ("a+b+c", 2), ("c+d", 1), ("c+d", 2)]
    row = advice.groups.set_index("group").loc["a+b+c"]
    assert row.grown_from == "a+b" and not row.proposed and row.verdict == "helps"
    assert advice.recommended == [["a", "b", "c"], ["d"], ["e"]]


def test_an_unsettled_group_is_advised_together_only_if_recommended(
    tmp_path, tiny_model_dir, monkeypatch
):
    """a+b is proposed but stays inconclusive; b+c, another signal's group, is shown to help and
    takes b: a+b's advice is *unsettled*, not *together, unverified* — the advice column never
    says "together" of a group the recommendation leaves out on its expected gain."""
    names = list("abcd")
    ab, bc = planted(names, ["ab"], name="ab"), planted(names, ["bc"], value=0.1, name="bc")
    adv = advisor(tmp_path, tiny_model_dir, weights="equal", max_seeds=2)
    faked_checks(monkeypatch, adv, {"a+b": -0.01, "b+c": 0.05})
    advice = adv.advise(types.SimpleNamespace(names=names), signals=[ab, bc])
    assert advice.proposed == [["a", "b"], ["c"], ["d"]]
    assert advice.recommended == [["b", "c"], ["a"], ["d"]]
    rows = advice.groups.set_index("group")
    assert rows.loc["a+b", "proposed"] and rows.loc["a+b", "verdict"] == "inconclusive"
    assert rows.loc["a+b", "advice"] == "unsettled"
    assert rows.loc["b+c", "advice"] == "together"


def test_a_verdict_looked_at_after_added_seeds_is_said_to_be(tmp_path, tiny_model_dir, monkeypatch):
    """a+b stays inconclusive and gets a third seed: each seed was a look at the verdict. With
    looks: each, a note says what that does to its error rate, and none when it settled on its
    first 2 seeds; with spend (the default) the note says how α was spent, whenever checked."""
    names = list("abcd")
    ab = planted(names, ["ab"], name="ab")
    for gain, seeds, looked in [(-0.01, 3, True), (0.05, 2, False)]:
        for looks in ("each", "spend"):
            adv = advisor(tmp_path, tiny_model_dir, weights="equal", max_seeds=3, looks=looks)
            faked_checks(monkeypatch, adv, {"a+b": gain})
            advice = adv.advise(types.SimpleNamespace(names=names), signals=[ab])
            assert advice.groups.set_index("group").loc["a+b", "seeds"] == seeds
            each = any("got more seeds" in n and "≈14%" in n for n in advice.notes)
            spent = [n for n in advice.notes if "spent over the looks at 2 to 3 seeds" in n]
            assert each == (looked and looks == "each")
            assert bool(spent) == (looks == "spend")
            if spent:  # the levels said are the looks' own
                assert f"{100 * Looks(2, 3)(2):.1f}% on 2 seeds" in spent[0]


def test_under_a_time_budget_a_check_starts_only_if_predicted_to_end_in_time(
    tmp_path, tiny_model_dir, monkeypatch
):
    # each check takes 10 minutes: the first, with no duration known yet, starts; the next,
    # predicted at 10 minutes, would end after the 5-minute budget, so it does not
    names = list("abcd")
    adv = advisor(tmp_path, tiny_model_dir, weights="equal", budget_runs=None, budget_minutes=5)
    trained = faked_checks(monkeypatch, adv, {"a+b": 0.06, "c+d": 0.05}, seconds=600)
    adv.advise(types.SimpleNamespace(names=names), signals=[planted(names, ["ab", "cd"])])
    assert trained == [("a+b", 1)]
    # 25 minutes: c+d, proposed too, is next (2 tasks at 5 minutes a task of a multi-task
    # run), ending at 20; a+b's second seed would end at 30
    adv = advisor(tmp_path, tiny_model_dir, weights="equal", budget_runs=None, budget_minutes=25)
    trained = faked_checks(monkeypatch, adv, {"a+b": 0.06, "c+d": 0.05}, seconds=600)
    adv.advise(types.SimpleNamespace(names=names), signals=[planted(names, ["ab", "cd"])])
    assert trained == [("a+b", 1), ("c+d", 1)]


def test_a_check_is_predicted_to_last_as_long_as_runs_of_its_kind():
    def run(tasks, seconds):
        return types.SimpleNamespace(tasks=list(tasks), duration=seconds)

    runs = [run("a", 10), run("a", 20), run("b", 40), run("ab", 100), run("cde", 90)]
    runs.append(run("c", None))  # not ended
    # a: its own mean; c: never ended, STL runs of 10, 20, 40 s → 70/3 s a task
    assert check_seconds([("a",), ("c",)], runs) == pytest.approx(15 + 70 / 3)
    # a+b: its own; c+d never trained: multi-task runs take (50 + 30) / 2 = 40 s a task
    assert check_seconds([("b", "a"), ("c", "d")], runs) == pytest.approx(100 + 2 * 40)
    # nothing of its kind has ended: not held back
    assert check_seconds([("a", "b")], runs[:3]) == 0
    assert check_seconds([("a",)], []) == 0
    # carried out two at a time, the STL runs first, each run by the first slot to be free:
    # a (15 s) and b (40 s) start together, a+b (100 s) after a
    assert check_seconds([("a", "b"), ("a",), ("b",)], runs, slots=2) == pytest.approx(15 + 100)
    assert check_seconds([("b", "a"), ("c", "d")], runs, slots=2) == pytest.approx(100)
    four = [("a",), ("b",), ("c",), ("e",)]  # 15, 40, 70/3, 70/3 s: c and e after a
    assert check_seconds(four, runs, slots=2) == pytest.approx(15 + 140 / 3)
    assert check_seconds(four, runs, slots=8) == pytest.approx(40)


def test_the_advisor_predicts_checks_with_its_executors_slots(tmp_path, tiny_model_dir):
    from taskmix.execute import ProcessExecutor

    assert advisor(tmp_path, tiny_model_dir).slots == 1  # in this process
    pool = Advisor(RunConfig(out=str(tmp_path)), executor=ProcessExecutor(workers=3, devices=[]))
    assert pool.slots == 3
