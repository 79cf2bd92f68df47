"""Combination search: encoding, design, surrogates on planted landscapes, proposals, stop rules,
bad input, trials through the trainer and the run store (kill and resume), CLI."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from conftest import keyword_rows, run_cli, write_jsonl, write_suite
from taskmix.config import SearchConfig, TrainConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.group import search as se
from taskmix.group.search import (
    CombinationSearch,
    TableObjective,
    bits,
    enumerate_masks,
    initial_design,
    mask_of,
    names_of,
    trials_until,
)
from taskmix.group.surrogates import SURROGATES, make_surrogate, pairwise_features
from taskmix.store import RunStore


def planted(n=6, seed=0, noise=0.0):
    """Additive effects plus two pairwise interactions; returns (scores by mask, truth function)."""
    rng = np.random.default_rng(seed)
    main = rng.normal(0, 1, n)
    pairs = {(i, j): w for (i, j), w in {(1, 3): 2.0, (0, 4): -1.5}.items() if j < n}

    def f(X):
        v = X @ main
        for (i, j), w in pairs.items():
            v = v + w * X[:, i] * X[:, j]
        return v

    masks = enumerate_masks(n)
    values = f(bits(masks, n)) + rng.normal(0, noise, len(masks))
    return {int(m): float(v) for m, v in zip(masks, values, strict=True)}


def test_bitmask_encoding_round_trips():
    cands = ["a", "b", "c", "d"]
    assert mask_of(["c", "a"], cands) == 0b0101
    assert names_of(0b0101, cands) == ["a", "c"]
    assert bits([0b0101, 0], 4).tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]
    assert all(mask_of(names_of(m, cands), cands) == m for m in enumerate_masks(4))
    assert (
        len(enumerate_masks(4)) == 16 and len({tuple(r) for r in bits(enumerate_masks(4), 4)}) == 16
    )
    with pytest.raises(ConfigError, match="not among the candidate"):
        mask_of(["z"], cands)


def test_pairwise_features_are_main_effects_and_products():
    X = np.array([[1, 0, 1], [1, 1, 0]], float)
    F = pairwise_features(X)
    # x1 x2 x3 | x1x2 x1x3 x2x3
    assert F.tolist() == [[1, 0, 1, 0, 1, 0], [1, 1, 0, 1, 0, 0]]


def test_initial_design_covers_every_candidate_and_is_seeded():
    d = initial_design(6, 4, np.random.default_rng(1))
    assert d[:2] == [0, 63] and len(d) == 4 and len(set(d)) == 4
    assert d[2] | d[3] == 63 and d[2] & d[3] == 0  # two blocks of a partition
    assert d == initial_design(6, 4, np.random.default_rng(1))
    assert initial_design(6, 4, np.random.default_rng(2))[2:] != d[2:]
    assert len(initial_design(2, 10, np.random.default_rng(0))) == 4  # never more than 2^n


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_each_surrogate_recovers_a_planted_landscape(name):
    n = 6
    scores = planted(n)
    masks = np.array(sorted(scores))
    y = np.array([scores[m] for m in masks])
    idx = np.random.default_rng(0).permutation(len(masks))
    train, held = idx[:40], idx[40:]
    model = make_surrogate(name, seed=0).fit(bits(masks[train], n), y[train])
    rho = spearmanr(model.predict(bits(masks[held], n)), y[held]).statistic
    # additive models cannot represent the interactions; the others should nearly
    assert rho > (0.6 if name == "linear" else 0.8), rho
    mean, std = model.predict(bits(masks[held], n), return_std=True)
    assert mean.shape == std.shape == (len(held),) and (std >= 0).all()
    assert model.has_std == (std > 0).any()


def test_linear_effects_and_bayes_interactions_are_read_off():
    n = 5
    rng = np.random.default_rng(3)
    masks = enumerate_masks(n)
    X = bits(masks, n)
    y = (
        X @ np.array([1.0, -2.0, 0.0, 0.5, 0.0])
        + 1.5 * X[:, 0] * X[:, 2]
        + rng.normal(0, 0.01, len(masks))
    )
    lin = make_surrogate("linear").fit(X, y)
    assert np.argmin(lin.effects_) == 1 and lin.effects_[0] > 0
    bayes = make_surrogate("bayes").fit(X, y)
    pairs = list(itertools.combinations(range(n), 2))
    coef = dict(zip(pairs, bayes.effects_[n:], strict=True))
    assert abs(coef[(0, 2)] - 1.5) < 0.1  # the planted interaction
    assert max(abs(v) for k, v in coef.items() if k != (0, 2)) < 0.1  # and no other
    assert np.allclose(bayes.effects_[:n], [1.0, -2.0, 0.0, 0.5, 0.0], atol=0.1)


@pytest.mark.parametrize("name", ["bayes", "gp"])
def test_posterior_draws_match_the_predictive_distribution(name):
    """Thompson sampling relies on the draws: their mean and spread must be the model's own, also
    when few, collinear observations leave the posterior covariance near-singular."""
    n = 6
    X = bits(np.array([0, 1, 3, 7, 7, 63]), n)  # repeated and nested rows: singular design
    y = np.array([0.1, 0.3, 0.2, 0.5, 0.52, 0.4])
    model = make_surrogate(name, seed=0).fit(X, y)
    grid = bits(enumerate_masks(n), n)
    mean, std = model.predict(grid, return_std=True)
    rng = np.random.default_rng(0)
    draws = np.array([model.sample(grid, rng) for _ in range(500)])
    assert np.isfinite(draws).all()
    assert np.allclose(draws.mean(axis=0), mean, atol=0.2 * std.max() + 1e-6)
    assert np.allclose(draws.std(axis=0), std, rtol=0.15, atol=1e-3)


@pytest.mark.parametrize(
    "surrogate,proposal",
    [
        ("mlp", "greedy"),
        ("linear", "greedy"),
        ("bayes", "ei"),
        ("bayes", "thompson"),
        ("gp", "ei"),
        ("gp", "thompson"),
    ],
)
def test_search_finds_the_planted_best_well_before_enumerating(surrogate, proposal):
    scores = planted(6)
    truth = max(scores, key=scores.get)
    found = [
        trials_until(
            CombinationSearch(surrogate=surrogate, proposal=proposal, budget=30, seed=s)
            .fit(TableObjective(list("abcdef"), scores), callback=lambda x: truth in x.scores_)
            .trials_,
            truth,
        )
        for s in range(4)
    ]
    assert np.median(found) <= 20, found  # of 64 combinations; random search needs ~32


def test_random_proposals_are_the_baseline_and_never_repeat():
    obj = TableObjective(list("abcd"), planted(4))
    s = CombinationSearch(proposal="random", budget=16, seed=0).fit(obj)
    assert sorted(s.trials_["mask"]) == list(range(16)) and s.surrogate_ is None
    assert obj.calls == 16 and s.stopped_ == "budget"


def test_thompson_sampling_is_seeded_and_reproducible():
    scores = planted(6, noise=0.3)

    def run(seed):
        return (
            CombinationSearch(surrogate="bayes", proposal="thompson", budget=14, seed=seed)
            .fit(TableObjective(list("abcdef"), scores))
            .trials_["mask"]
            .tolist()
        )

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_paper_stop_rule_stops_when_the_predicted_best_was_already_trained(monkeypatch):
    # a landscape whose best is the full set, tried in the initial design: the MLP predicts it back
    scores = {m: float(bin(m).count("1")) for m in range(16)}
    s = CombinationSearch(surrogate="mlp", proposal="greedy", stop="repeat", budget=16, seed=0).fit(
        TableObjective(list("abcd"), scores)
    )
    assert s.stopped_ == "repeat" and len(s.trials_) == 4 and s.best_mask_ == 15
    assert s.best_ == ["a", "b", "c", "d"] and s.best_score_ == 4.0
    # and the rule looks at the surrogate: one whose prediction peaks elsewhere does not stop
    monkeypatch.setattr(se.Greedy, "choose", lambda self, sur, X, best, q, rng: [0])

    class Peak:
        has_std = False

        def fit(self, X, y):
            return self

        def predict(self, X, return_std=False):
            return -np.abs(X.sum(1) - 2)

    monkeypatch.setattr(se, "make_surrogate", lambda name, seed=0: Peak())
    s = CombinationSearch(surrogate="mlp", proposal="greedy", stop="repeat", budget=6, seed=0).fit(
        TableObjective(list("abcd"), scores)
    )
    assert s.stopped_ == "budget" and len(s.trials_) == 6


def test_budget_batches_ei_stop_and_exhaustion():
    scores = planted(4)
    s = CombinationSearch(surrogate="gp", budget=11, q=3, seed=0).fit(
        TableObjective(list("abcd"), scores)
    )
    assert len(s.trials_) == 11 and s.trials_["round"].tolist() == [0] * 4 + [1] * 3 + [2] * 3 + [3]
    assert s.trials_["mask"].is_unique
    s = CombinationSearch(surrogate="gp", budget=64, seed=0).fit(
        TableObjective(list("ab"), planted(2))
    )
    assert s.stopped_ == "exhausted" and len(s.trials_) == 4
    flat = {m: 1.0 for m in range(16)}
    s = CombinationSearch(surrogate="bayes", stop="ei", noise=0.5, budget=16, seed=0).fit(
        TableObjective(list("abcd"), flat)
    )
    assert s.stopped_ == "ei" and len(s.trials_) == 4
    best = s.trials_["best_so_far"]
    assert (best.diff().dropna() >= 0).all()


def test_a_budget_the_initial_design_uses_up_is_said(caplog):
    with caplog.at_level("WARNING"):
        s = CombinationSearch(budget=4, initial=4, seed=0).fit(
            TableObjective(list("abcd"), planted(4))
        )
    assert len(s.trials_) == 4 and set(s.trials_["phase"]) == {"design"}
    assert (
        "used up by the initial design" in caplog.text and "raise --budget above 4" in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        CombinationSearch(budget=5, initial=4, seed=0).fit(TableObjective(list("abcd"), planted(4)))
    assert "initial design" not in caplog.text


def test_local_search_above_the_enumeration_limit(monkeypatch):
    n = 12
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, n)
    scores = {int(m): float(bits([m], n)[0] @ w) for m in enumerate_masks(n)}
    pools = []
    real = se.local_pool
    monkeypatch.setattr(se, "local_pool", lambda *a, **k: pools.append(real(*a, **k)) or pools[-1])
    s = CombinationSearch(surrogate="gp", budget=20, enumerate_up_to=8, seed=0).fit(
        TableObjective([f"t{i}" for i in range(n)], scores)
    )
    assert pools and max(len(p) for p in pools) < 2**n / 4  # it did not enumerate
    assert s.best_score_ >= sorted(scores.values())[-5]  # among the best 5 of 4096 after 20 trials
    with pytest.raises(ConfigError, match="too many to score each"):
        CombinationSearch(budget=20, enumerate_up_to=8, local_search=False).fit(
            TableObjective([f"t{i}" for i in range(n)], scores)
        )


def test_bad_search_settings_get_clear_errors():
    with pytest.raises(ConfigError, match="smaller than the initial design"):
        CombinationSearch(budget=3).fit(TableObjective(list("abcd"), planted(4)))
    table = TableObjective(list("abcd"), planted(4))
    with pytest.raises(ConfigError, match="needs a surrogate that knows its uncertainty"):
        CombinationSearch(surrogate="mlp", proposal="ei").fit(table)
    with pytest.raises(ConfigError, match="needs a surrogate that knows"):
        CombinationSearch(surrogate="linear", proposal="greedy", stop="ei").fit(table)
    with pytest.raises(ConfigError, match="random proposals have none"):
        CombinationSearch(proposal="random", stop="repeat").fit(table)
    assert table.calls == 0  # refused before any trial
    with pytest.raises(ConfigError, match="unknown surrogate"):
        make_surrogate("forest")


def test_a_partial_table_is_searched_over_its_rows_only(tmp_path):
    """A table of measured rows (not every combination): every trial is one of its rows, and the
    search still finds a good one; a combinations file restricts a search the same way."""
    n = 14
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, n)
    rows = rng.choice(2**n, 300, replace=False)
    scores = {int(m): float(bits([m], n)[0] @ w) for m in rows}
    table = TableObjective([f"t{i}" for i in range(n)], scores)
    assert len(table.allowed) == 300
    s = CombinationSearch(surrogate="gp", budget=25, seed=0).fit(table)
    assert set(s.trials_["mask"]) <= set(scores) and len(s.trials_) == 25
    assert s.best_score_ >= sorted(scores.values())[-15]  # among the best 5% after 25 of 300

    f = tmp_path / "rows.txt"
    f.write_text("# measured before\n-\nt1+t3\nt3, t1\nt0\n\n", encoding="utf-8")
    names = [f"t{i}" for i in range(4)]
    assert se.read_combinations(f, names).tolist() == [0, 1, 0b1010]
    f.write_text('datasets,score\n"t0,t2",0.5\n', encoding="utf-8")  # a CSV of results
    assert se.read_combinations(f, names).tolist() == [0b101]
    f.write_text("t0\nt9+t1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: t9 not among the candidate"):
        se.read_combinations(f, names)
    with pytest.raises(ConfigError, match="cannot read the combinations file"):
        se.read_combinations(tmp_path / "missing.txt", names)


@pytest.fixture
def four_suite(tmp_path):
    for name, seed in (("t", 1), ("a", 5), ("b", 9), ("c", 13)):
        write_jsonl(tmp_path / f"{name}.jsonl", keyword_rows(30, seed))
    return write_suite(
        tmp_path / "suite.yaml",
        {
            "name": "four",
            "tasks": [
                {"name": n, "text": "text", "label": "label", "splits": {"train": f"{n}.jsonl"}}
                for n in "tabc"
            ],
        },
    )


def test_trials_train_through_the_store_resume_after_a_kill_and_never_repeat(
    four_suite, tiny_factory, tmp_path, monkeypatch
):
    from taskmix.experiment import trials as tt

    suite = Suite.load(four_suite)
    cfg = SearchConfig(
        surrogate="bayes",
        budget=6,
        train=TrainConfig(max_steps=3, sampler="equal", batch_size=8, patience=None),
    )
    calls = []
    real = tt.TrialTrainer._work

    def counted(self, spec, run_id, progress):
        calls.append((spec.aux, spec.seed))
        if len(calls) == 5 and not getattr(counted, "done", False):
            counted.done = True
            raise KeyboardInterrupt  # the search is killed during its fifth trial
        return real(self, spec, run_id, progress)

    monkeypatch.setattr(tt.TrialTrainer, "_work", counted)
    out = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        tt.search_combinations(suite, "t", cfg, backbone=tiny_factory, out=out, show_progress=False)
    with RunStore(out / "taskmix.db") as store:
        done = store._conn.execute("SELECT datasets, status, score FROM trials").fetchall()
    assert sum(r[1] == "finished" for r in done) == 4
    first = list(calls)
    calls.clear()
    search, trials = tt.search_combinations(
        suite, "t", cfg, backbone=tiny_factory, out=out, show_progress=False
    )
    assert len(trials) == 6 and len(calls) == 2  # the fifth trial again, and the sixth
    assert not set(first[:4]) & set(calls)
    assert trials["mask"].tolist()[:2] == [0, 7]  # t alone, t with a, b and c
    assert trials["score"].between(0, 1).all() and trials["test_score"].between(0, 1).all()
    with RunStore(out / "taskmix.db") as store:
        rows = store._conn.execute("SELECT target, status FROM trials").fetchall()
    assert len(rows) == 6 and {r[0] for r in rows} == {"t"} and {r[1] for r in rows} == {"finished"}
    calls.clear()
    again, _ = tt.search_combinations(
        suite, "t", cfg, backbone=tiny_factory, out=out, show_progress=False
    )
    assert calls == [] and again.best_mask_ == search.best_mask_
    with pytest.raises(ConfigError, match="not a task of suite"):
        tt.TrialTrainer(suite, "zzz", cfg)


def test_search_command(monkeypatch, capsys, four_suite, tiny_model_dir, tmp_path):
    out = tmp_path / "runs"
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "search",
        four_suite,
        "--target",
        "t",
        "--budget",
        "5",
        "--surrogate",
        "bayes",
        "--max-steps",
        "2",
        "--model",
        tiny_model_dir,
        "--out",
        out,
    )
    assert code == 0, err
    assert (
        "best combination" in text
        and "(target alone)" in text
        and "stopped: budget after 5 trials" in text
    )
    csv = out / "search" / "four-t.csv"
    assert csv.exists() and csv.with_suffix(".json").exists() and csv.with_suffix(".png").exists()
    code, text, err = run_cli(
        monkeypatch, capsys, "report", "--out", out
    )  # a store with only a search
    assert code == 0, err
    html = (out / "report" / "index.html").read_text()
    assert (
        "Combination search for t" in html and "search-t.png" in html and "STL vs MTL" not in html
    )
    assert (out / "report" / "search-t.png").exists() and (out / "report" / "search-t.csv").exists()
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "search",
        four_suite,
        "--target",
        "zzz",
        "--model",
        tiny_model_dir,
        "--out",
        out,
    )
    assert code == 2 and "no task 'zzz'" in err
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "search",
        four_suite,
        "--target",
        "t",
        "--budget",
        "2",
        "--model",
        tiny_model_dir,
        "--out",
        out,
    )
    assert code == 2 and "smaller than the initial design" in err
    rows = tmp_path / "measured.txt"
    rows.write_text("-\na\na+b\n", encoding="utf-8")
    code, text, err = run_cli(
        monkeypatch, capsys, "search", four_suite, "--target", "t", "--budget", "5",
        "--initial", "2", "--allowed", rows, "--max-steps", "2", "--model", tiny_model_dir,
        "--out", tmp_path / "runs2", "--json",
    )  # fmt: skip
    assert code == 0, err
    tried = {r["datasets"] for r in json.loads(text)["trials"]}
    assert tried == {"(target alone)", "a", "a+b"}


def test_random_subsets_cover_every_task_are_distinct_and_seeded():
    from taskmix.group.groupers import random_subsets

    names = list("abcdefg")
    subs = random_subsets(names, 10, 3, seed=1)
    assert (
        len(subs) == 10 and len({tuple(s) for s in subs}) == 10 and all(len(s) == 3 for s in subs)
    )
    assert set().union(*map(set, subs)) == set(names)
    assert subs == random_subsets(names, 10, 3, seed=1) and subs != random_subsets(
        names, 10, 3, seed=2
    )
    assert len(random_subsets(list("abcd"), 50, 3, seed=0)) == 4  # only 4 distinct subsets exist
    with pytest.raises(ConfigError, match="cannot be drawn"):
        random_subsets(names, 5, 9, seed=0)


def test_surrogate_grouper_groups_tasks_that_raise_each_others_scores():
    """Planted: a and b raise each other's dev score by 0.1, c and d too; across the pairs,
    -0.05."""
    from taskmix.group.groupers import SurrogateGrouper
    from taskmix.store import RunRecord

    helps = {frozenset("ab"): 0.1, frozenset("cd"): 0.1}

    def fake_run(suite, groups):
        recs = []
        for g in groups:
            dev = {
                t: {"accuracy": 0.5 + sum(helps.get(frozenset((t, s)), -0.05) for s in g if s != t)}
                for t in g
            }
            recs.append(
                RunRecord(
                    id="+".join(g),
                    suite="s",
                    setting="mtl",
                    kind="mtl",
                    tasks=list(g),
                    seed=1,
                    status="finished",
                    config={},
                    metrics={"dev": dev},
                    error=None,
                    created=0,
                    started=None,
                    finished=None,
                    duration=None,
                    artifacts=None,
                )
            )
        return recs

    class T:
        main_metric = "accuracy"

    class FakeSuite:
        name, names = "s", list("abcd")

        def __getitem__(self, k):
            return T()

    g = SurrogateGrouper(subsets=6, subset_size=2, ridge=1e-3, max_size=2, runner=fake_run).fit(
        FakeSuite()
    )
    assert g.groups_ == [["a", "b"], ["c", "d"]]
    assert g.relevance_.loc["a", "b"] > 0.05 and g.relevance_.loc["a", "c"] < 0
    assert np.allclose(g.relevance_.fillna(0), g.relevance_.T.fillna(0))
    frame = g.to_frame()
    assert frame.iloc[0]["chosen"] and set(frame.columns) == {
        "group",
        "size",
        "relevance",
        "chosen",
    }


def test_group_command_with_the_surrogate_method(
    monkeypatch, capsys, four_suite, tiny_model_dir, tmp_path
):
    out = tmp_path / "runs"
    code, text, err = run_cli(
        monkeypatch,
        capsys,
        "group",
        four_suite,
        "--method",
        "surrogate",
        "--subsets",
        "4",
        "--max-steps",
        "2",
        "--model",
        tiny_model_dir,
        "--out",
        out,
    )
    assert code == 0, err
    assert "surrogate relevance" in text and "recommended" in text
    [table] = (out / "groups").glob("four-surrogate-*.csv")
    assert table.with_suffix(".png").exists()
    with RunStore(out / "taskmix.db") as store:
        assert len(store.runs(kinds=("mtl",), status="finished")) == 4
