"""Grouping: tests against scipy, partitions, the PVI grouper's criteria and its baselines."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from taskmix.config import GroupConfig
from taskmix.group.groupers import AllGrouper, PVIGrouper, RandomGrouper, make_grouper
from taskmix.group.partition import (
    candidate_groups,
    exhaustive_partition,
    greedy_partition,
    random_partition,
    sized_partition,
)
from taskmix.group.stats import cohens_d, equal_subsamples, eta_squared, group_test

A = np.array([0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4])
B = np.array([0.8, 1.2, 0.9, 1.5, 1.1])
C = np.array([0.0, 0.2, -0.1, 0.3, 0.1, 0.05])


def test_t_tests_match_scipy():
    welch = group_test(("a", "b"), [A, B])
    ref = stats.ttest_ind(A, B, equal_var=False)
    assert welch.test == "welch t"
    assert welch.statistic == pytest.approx(ref.statistic) and welch.pvalue == pytest.approx(
        ref.pvalue
    )
    student = group_test(("a", "b"), [A, B], equal_var=True)
    ref = stats.ttest_ind(A, B, equal_var=True)
    assert student.statistic == pytest.approx(ref.statistic) and student.pvalue == pytest.approx(
        ref.pvalue
    )
    pooled = np.sqrt(
        ((len(A) - 1) * A.var(ddof=1) + (len(B) - 1) * B.var(ddof=1)) / (len(A) + len(B) - 2)
    )
    assert welch.cohens_d == pytest.approx((A.mean() - B.mean()) / pooled)
    assert welch.sizes == (7, 5)


def test_anova_matches_scipy_and_eta_squared_by_hand():
    res = group_test(("a", "b", "c"), [A, B, C])
    ref = stats.f_oneway(A, B, C)
    assert res.test == "anova"
    assert res.statistic == pytest.approx(ref.statistic) and res.pvalue == pytest.approx(ref.pvalue)
    allv = np.concatenate([A, B, C])
    between = sum(len(x) * (x.mean() - allv.mean()) ** 2 for x in (A, B, C))
    assert res.eta_squared == pytest.approx(between / ((allv - allv.mean()) ** 2).sum())
    assert eta_squared([A, A]) == pytest.approx(0.0)
    assert cohens_d(A, A) == 0.0


def test_identical_constant_samples_are_not_different():
    res = group_test(("a", "b"), [np.ones(5), np.ones(5)])
    assert res.pvalue == 1.0


def test_equal_subsamples_are_seeded_and_equal_sized():
    vals = {"a": np.arange(100.0), "b": np.arange(30.0)}
    s1, s2 = equal_subsamples(vals, "min", 1), equal_subsamples(vals, "min", 1)
    assert {k: len(v) for k, v in s1.items()} == {"a": 30, "b": 30}
    np.testing.assert_array_equal(s1["a"], s2["a"])
    assert len(equal_subsamples(vals, 50, 1)["a"]) == 50 and equal_subsamples(vals, None, 1) is vals


NAMES = ["t0", "t1", "t2", "t3", "t4", "t5"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(candidate_groups(NAMES, 3)), st.floats(0, 1)), max_size=25)
)
def test_partitions_never_overlap_and_exhaustive_is_at_least_as_good(scored):
    evidence = dict(scored)
    for part in (greedy_partition(NAMES, evidence), exhaustive_partition(NAMES, evidence)):
        flat = [t for g in part for t in g]
        assert sorted(flat) == sorted(NAMES)  # every task exactly once
        assert all(tuple(g) in evidence for g in part if len(g) > 1)  # only similar groups

    def score(part):
        return sum(len(g) * evidence[tuple(g)] for g in part if len(g) > 1)

    assert (
        score(exhaustive_partition(NAMES, evidence))
        >= score(greedy_partition(NAMES, evidence)) - 1e-9
    )


def test_exhaustive_finds_the_best_partition_by_brute_force():
    rng = np.random.default_rng(0)
    cands = candidate_groups(NAMES[:5], 3)
    evidence = {g: float(rng.random()) for g in cands if rng.random() < 0.6}

    def score(part):
        return sum(len(g) * evidence.get(tuple(g), -99) for g in part if len(g) > 1)

    best = max(score(p) for p in _all_partitions(NAMES[:5]))
    assert score(exhaustive_partition(NAMES[:5], evidence)) == pytest.approx(best)


def _all_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for k in range(len(rest) + 1):
        for others in itertools.combinations(rest, k):
            left = [x for x in rest if x not in others]
            for p in _all_partitions(left):
                yield [[first, *others], *p]


def test_sized_and_random_partitions():
    sim = {("t0", "t3"): 0.9, ("t1", "t2"): 0.8}
    part = sized_partition(NAMES, [2, 2], lambda g: sim.get(g, 0.0))
    assert part[:2] == [["t0", "t3"], ["t1", "t2"]] and part[2:] == [["t4"], ["t5"]]
    r1, r2 = random_partition(NAMES, [3, 2], 7), random_partition(NAMES, [3, 2], 7)
    assert r1 == r2 and sorted(len(g) for g in r1) == [1, 2, 3]
    assert random_partition(NAMES, [3, 2], 8) != r1 or random_partition(NAMES, [3, 2], 9) != r1


class FakePVI:
    """A fitted-PVI stand-in: fixed per-task values."""

    def __init__(self, values):
        self._values = values

    def values(self):
        return self._values


def fake_values(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(0.5, 1, 300),
        "b": rng.normal(0.5, 1, 300),
        "c": rng.normal(2.0, 1, 300),
        "d": rng.normal(2.0, 1, 300),
        "e": rng.normal(-1.0, 1, 300),
    }


def test_pvi_grouper_groups_similar_tasks_and_names_the_most_different():
    g = PVIGrouper(criterion="pvalue", alpha=0.01, pvi=FakePVI(fake_values())).fit(None)
    assert g.groups_ == [["a", "b"], ["c", "d"], ["e"]]
    flat = [t for grp in g.different_ for t in grp]
    assert sorted(flat) == list("abcde")
    pairs = [set(x) for x in g.different_ if len(x) > 1]
    assert len(pairs) == 2 and (
        {"c", "e"} in pairs or {"d", "e"} in pairs
    )  # e is the furthest from c/d
    frame = g.to_frame()
    assert len(frame) == 10 + 10  # every pair and every triple of 5 tasks
    assert set(frame.columns) >= {
        "statistic",
        "p_value",
        "cohens_d",
        "eta_squared",
        "n",
        "similar",
        "role",
    }
    assert frame.set_index("group").loc["a+b", "role"] == "recommended"
    assert g.pvalue_matrix().loc["a", "b"] == g.pvalue_matrix().loc["b", "a"]


def test_effect_criterion_and_subsampling_change_the_verdicts():
    rng = np.random.default_rng(1)
    # a tiny but, with 20 000 values each, significant difference
    values = {"a": rng.normal(0.0, 1, 20000), "b": rng.normal(0.06, 1, 20000)}
    by_p = PVIGrouper(criterion="pvalue", alpha=0.01, pvi=FakePVI(values)).fit(None)
    assert by_p.groups_ == [["a"], ["b"]]
    # the equivalence test: different, but by far less than the margin — similar
    by_tost = PVIGrouper(pvi=FakePVI(values)).fit(None)
    assert by_tost.groups_ == [["a", "b"]] and "two one-sided tests" in by_tost.describe()
    by_effect = PVIGrouper(criterion="effect", max_effect=0.2, pvi=FakePVI(values)).fit(None)
    assert by_effect.groups_ == [["a", "b"]] and "effect size small" in by_effect.describe()
    sub = PVIGrouper(criterion="pvalue", alpha=0.01, subsample=200, pvi=FakePVI(values)).fit(None)
    assert sub.to_frame().n.iloc[0] == "200/200" and "subsamples of 200" in sub.describe()


def test_equivalence_needs_evidence_not_a_large_p_value():
    # 300 values a task: a and b do not differ (large p), but the data cannot show them within
    # d = 0.2 either once 20 candidate tests are corrected for; with 3000 values a task they can
    small = PVIGrouper(pvi=FakePVI(fake_values())).fit(None)
    assert small.groups_ == [[t] for t in "abcde"]
    frame = small.to_frame().set_index("group")
    assert frame.loc["a+b", "p_value"] > 0.05 and not frame.loc["a+b", "similar"]
    rng = np.random.default_rng(0)
    big = {t: rng.normal(m, 1, 3000) for t, m in zip("abcde", [0.5, 0.5, 2, 2, -1], strict=True)}
    g = PVIGrouper(pvi=FakePVI(big)).fit(None)
    assert g.groups_ == [["a", "b"], ["c", "d"], ["e"]]
    assert "Holm" in g.describe() and "20 candidate groups" in g.describe()
    # the pair's TOST by hand (Welch), and Holm across the 20 candidates
    a, b = big["a"], big["b"]
    va, vb, n = a.var(ddof=1), b.var(ddof=1), len(a)
    se = np.sqrt(va / n + vb / n)
    df = se**4 / ((va / n) ** 2 / (n - 1) + (vb / n) ** 2 / (n - 1))
    delta = 0.2 * np.sqrt((va + vb) / 2)
    diff = a.mean() - b.mean()
    want = max(stats.t.sf((diff + delta) / se, df), stats.t.sf((delta - diff) / se, df))
    frame = g.to_frame().set_index("group")
    assert frame.loc["a+b", "p_equivalence"] == pytest.approx(want, rel=1e-9)
    p = frame.p_equivalence.sort_values()
    holm_by_hand = np.maximum.accumulate(p.to_numpy() * np.arange(len(p), 0, -1)).clip(max=1)
    assert frame.loc[p.index, "p_equivalence_adjusted"].to_numpy() == pytest.approx(holm_by_hand)
    # a triple is as equivalent as its least equivalent pair
    assert frame.loc["a+b+c", "p_equivalence"] == max(
        frame.loc[x, "p_equivalence"] for x in ("a+b", "a+c", "b+c")
    )
    # a margin in bits, and Benjamini-Hochberg
    loose = PVIGrouper(margin_bits=5.0, correction="bh", pvi=FakePVI(fake_values())).fit(None)
    assert all(len(grp) > 1 for grp in loose.groups_) and "5 bits" in loose.describe()
    assert "Benjamini" in loose.describe()


def test_student_option_and_config_from_keywords():
    g = PVIGrouper(test="student", mode="probe", folds=3, pvi=FakePVI(fake_values())).fit(None)
    assert g.config_.pvi.folds == 3 and g.to_frame().test.iloc[0] == "student t"
    assert g.config is None and g.get_params()["folds"] == 3  # stored as given
    assert isinstance(make_grouper(GroupConfig(method="all")), AllGrouper)


def test_baseline_groupers(keyword_suite):
    from taskmix.data.suite import Suite

    suite = Suite.from_yaml(keyword_suite)
    assert AllGrouper().fit(suite).groups_ == [["a", "b"]]
    six = type("Six", (), {"names": [f"t{i}" for i in range(6)], "__len__": lambda self: 6})()
    first = RandomGrouper(sizes=[2, 2], seed=3).fit(six).groups_
    assert first == RandomGrouper(sizes=[2, 2], seed=3).fit(six).groups_  # seeded
    assert (
        sorted(len(g) for g in first) == [1, 1, 2, 2]
        and sorted(t for g in first for t in g) == six.names
    )
    assert any(RandomGrouper(sizes=[2, 2], seed=s).fit(six).groups_ != first for s in (4, 5, 6))
    assert AllGrouper().fit(suite).to_frame().to_dict("records") == [{"group": "a+b", "size": 2}]
