"""The statistics of verdicts and groupings against scipy and results worked out by hand: the t
distribution, two one-sided tests, Holm and Benjamini–Hochberg, the seeds a comparison needs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from taskmix.stats import (
    adjust,
    benjamini_hochberg,
    holm,
    judge,
    seeds_needed,
    t_quantile,
    t_sf,
    tost_pvalue,
)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10, 29])
@pytest.mark.parametrize("x", [-3.5, -1.0, 0.0, 0.4, 2.0, 6.0])
def test_t_tail_is_scipys(df, x):
    assert t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-9, abs=1e-13)


@pytest.mark.parametrize("df", [1, 3, 8])
@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.8, 0.975])
def test_t_quantile_is_scipys(df, p):
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_holm_and_bh_by_hand_and_against_scipy():
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # Holm: sorted p × (5, 4, 3, 2, 1) = .05 .08 .09 .08 .05, then running maximum
    assert holm(p) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    # BH: p × 5 / rank = .05 each, then running minimum from the largest
    assert benjamini_hochberg(p) == pytest.approx([0.05] * 5)
    shuffled = [0.04, 0.001, 0.3, 0.02, 0.6, 0.012]
    assert benjamini_hochberg(shuffled) == pytest.approx(stats.false_discovery_control(shuffled))
    # Holm by hand for the shuffled order: ranks 2 4 5 3 6 1 → ×(4, 2, 1, 3, 1... running max)
    by_hand = {0.001: 0.006, 0.012: 0.06, 0.02: 0.08, 0.04: 0.12, 0.3: 0.6, 0.6: 0.6}
    assert holm(shuffled) == pytest.approx([by_hand[x] for x in shuffled])
    assert adjust([0.2, 0.01], "none").tolist() == [0.2, 0.01]
    assert holm([0.9, 0.8]).max() <= 1.0
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1], "bonferonni")


def test_tost_by_hand_and_its_ci_duality():
    x = np.array([0.004, -0.003, 0.006, 0.001, -0.002, 0.003])
    n, m, sd = len(x), x.mean(), x.std(ddof=1)
    se = sd / math.sqrt(n)
    margin = 0.01
    lower = stats.t.sf((m + margin) / se, n - 1)  # H0: difference <= -margin
    upper = stats.t.cdf((m - margin) / se, n - 1)  # H0: difference >= +margin
    p = tost_pvalue(m, se, n - 1, margin)
    assert p == pytest.approx(max(lower, upper), rel=1e-9)
    # equivalent at α = 0.05 exactly when the 90% CI lies inside ± margin
    for margin in (0.002, 0.004, 0.006, 0.01):
        half90 = stats.t.ppf(0.95, n - 1) * se
        inside = m - half90 > -margin and m + half90 < margin
        assert (tost_pvalue(m, se, n - 1, margin) < 0.05) == inside
    assert tost_pvalue(0.5, 0.0, 3, 1.0) == 0.0 and tost_pvalue(0.1, 0.1, 3, 0.0) == 1.0


def test_judge_says_each_verdict_where_it_should():
    assert judge([0.03, 0.04, 0.05]).word == "helps"
    assert judge([-0.03, -0.04, -0.05]).word == "hurts"
    tie = judge([0.001, -0.002, 0.0, 0.001, -0.001], margin=0.01)
    assert tie.word == "equivalent" and tie.text() == "equivalent"
    assert judge([0.001, -0.002, 0.0, 0.001, -0.001], margin=0.0).word == "inconclusive"
    noisy = judge([0.03, -0.01, 0.02])
    assert noisy.word == "inconclusive" and noisy.needed is not None
    assert noisy.text() == f"inconclusive, ≈{noisy.needed} seeds"
    # the paired t-test of the difference is scipy's
    ref = stats.ttest_1samp([0.03, -0.01, 0.02], 0.0)
    assert noisy.p_difference == pytest.approx(ref.pvalue, rel=1e-9)
    one = judge([0.05])
    assert one.word == "inconclusive" and one.text() == "inconclusive, ≥3 seeds"
    assert judge([]).seeds == 0


def test_seeds_needed_by_hand():
    # effect of one sd: n = 10 is the first with sqrt(n) ≥ t(.975, n-1) + t(.8, n-1) (scipy)
    want = next(
        n
        for n in range(2, 100)
        if math.sqrt(n) >= stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)
    )
    assert seeds_needed(0.01, 0.01) == want == 10
    # a tiny difference (0.05 sd) cannot be told from 0 in 1000 seeds, but equivalence within a
    # margin of 2 sd can: 1.95·√n ≥ t(.95, n-1) + t(.8, n-1) from n = 4
    assert seeds_needed(0.0005, 0.01) is None
    want = next(
        n
        for n in range(2, 100)
        if 1.95 * math.sqrt(n) >= stats.t.ppf(0.95, n - 1) + stats.t.ppf(0.8, n - 1)
    )
    assert seeds_needed(0.0005, 0.01, margin=0.02) == want == 4
    assert seeds_needed(1e-6, 1.0) is None  # beyond any budget
    assert seeds_needed(0.01, 0.0) is None
