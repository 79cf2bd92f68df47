"""The statistics of verdicts and groupings against scipy and results worked out by hand: the t
distribution, two one-sided tests, Holm and Benjamini–Hochberg, the seeds a comparison needs,
and the α spent over the looks at a verdict judged again after every added seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from taskmix.stats import (
    Looks,
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


def _sequential(x: np.ndarray, alpha, first: int) -> tuple[str, int]:
    """The verdict (margin 0) and the seeds it was reached on, judged after every seed from
    ``first`` until it is not inconclusive or the seeds run out."""
    for n in range(first, len(x) + 1):
        v = judge(x[:n], 0.0, alpha)
        if v.word != "inconclusive":
            return v.word, n
    return v.word, len(x)


def test_alpha_spent_over_the_looks_keeps_the_false_verdicts_at_alpha():
    # differences with no true effect, judged after each of seeds 2…6 until settled: at α = 0.05
    # a look, far more than 5% end helps or hurts; with α spent over the looks, 5% in all, and
    # by the k-th of the 5 looks about k/5 of it (linear spending). The simulation is not the
    # one the levels were found on (another seed, the product's own judge).
    rng = np.random.default_rng(7)
    sims, looks = 6000, Looks(2, 6)
    x = 3.0 * rng.standard_normal((sims, 6))  # any spread: the t statistic ignores it
    each = [_sequential(row, 0.05, 2) for row in x]
    spent = [_sequential(row, looks, 2) for row in x]
    false_each = np.mean([w != "inconclusive" for w, _ in each])
    false_spent = np.mean([w != "inconclusive" for w, _ in spent])
    se = math.sqrt(0.05 * 0.95 / sims)
    assert false_each > 0.05 + 4 * se  # ≈ 0.14
    assert abs(false_spent - 0.05) < 3.5 * se
    for k, n in enumerate(range(2, 7), 1):  # spent by the k-th look: 0.05 · k / 5
        by_then = np.mean([w != "inconclusive" and m <= n for w, m in spent])
        assert abs(by_then - 0.05 * k / 5) < 3.5 * math.sqrt(0.01 * k / sims) + 0.002
    # every look is stricter than α, the later ones less so; outside the planned looks, the
    # nearest look's level; one planned look keeps α whole
    levels = [looks(n) for n in range(2, 7)]
    assert all(0 < a < 0.05 for a in levels) and levels[0] < levels[-1]
    assert looks(1) == levels[0] and looks(9) == levels[-1] == looks.loosest
    assert Looks(3, 3)(3) == 0.05 and Looks(3, 3, alpha=0.1)(5) == 0.1
    with pytest.raises(ValueError, match="first <= last"):
        Looks(4, 3)


def test_a_verdict_at_a_look_is_judged_and_its_ci_drawn_at_that_looks_level():
    looks, x = Looks(2, 6), [0.03, 0.05, 0.04]
    v = judge(x, 0.0, looks)
    assert v.alpha == looks(3)
    se = np.std(x, ddof=1) / math.sqrt(3)
    assert v.half == pytest.approx(stats.t.ppf(1 - looks(3) / 2, 2) * se)
    assert v.se == pytest.approx(se)
    assert v.half > judge(x).half  # stricter than 95%
    # the seeds a difference needs are counted at the looks' levels: more than at 0.05 a look
    assert seeds_needed(0.01, 0.01, alpha=looks) > seeds_needed(0.01, 0.01) == 10
    n = seeds_needed(0.01, 0.01, alpha=looks)  # one sd: the first n that clears its look

    def clears(m: int) -> bool:
        return math.sqrt(m) >= stats.t.ppf(1 - looks(m) / 2, m - 1) + stats.t.ppf(0.8, m - 1)

    assert clears(n) and not clears(n - 1)
