"""Statistics shared by the grouping tests and the verdicts over seeds: Student's t distribution
for whole degrees of freedom, two one-sided tests (TOST) of equivalence, Holm and
Benjamini–Hochberg adjustment of many p-values, the seeds a paired comparison would need, and
the α of each look at a verdict judged again after every added seed (:class:`Looks`).

numpy and math only: commands that read a run store import this, and scipy costs ~1 s to import.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: what the verdict words mean, for tables and reports
VERDICTS = {
    "helps": "the whole 95% CI of the paired difference is above 0 and it is not equivalent",
    "hurts": "the whole 95% CI of the paired difference is below 0 and it is not equivalent",
    "equivalent": "the difference is within ± the margin (two one-sided tests at α = 0.05)",
    "inconclusive": "neither: more seeds needed (≈N: the seeds that would settle a difference "
    "of the observed size with 80% power, from the observed spread between seeds)",
}
MAX_SEEDS = 1000


def _within(x: float, df: int) -> float:
    """P(|T| < x) for Student's t with whole ``df`` (Abramowitz & Stegun 26.7.3)."""
    theta = math.atan(abs(x) / math.sqrt(df))
    c = math.cos(theta)
    if df % 2:  # odd: (2/pi) (theta + sin(theta) (c + 2/3 c^3 + 2*4/(3*5) c^5 + ...))
        a, term, total = 1.0, c, 0.0
        for j in range((df - 1) // 2):
            total += a * term
            a, term = a * (2 * j + 2) / (2 * j + 3), term * c * c
        return min(1.0, 2 / math.pi * (theta + math.sin(theta) * total))
    b, term, total = 1.0, 1.0, 0.0  # even: sin(theta) (1 + 1/2 c^2 + 1*3/(2*4) c^4 + ...)
    for j in range(df // 2):
        total += b * term
        b, term = b * (2 * j + 1) / (2 * j + 2), term * c * c
    return min(1.0, math.sin(theta) * total)


def _check_df(df) -> int:
    if df < 1 or int(df) != df:
        raise ValueError(f"Student's t here needs whole df >= 1 (got {df})")
    return int(df)


def t_sf(x: float, df: int) -> float:
    """P(T > x) — scipy's ``stats.t.sf(x, df)`` for whole ``df``.

    >>> round(t_sf(2.776, 4), 4), t_sf(0.0, 3)
    (0.025, 0.5)
    """
    df = _check_df(df)
    if math.isinf(x):
        return 0.0 if x > 0 else 1.0
    tail = (1.0 - _within(x, df)) / 2
    return tail if x >= 0 else 1.0 - tail


@functools.lru_cache(maxsize=4096)
def t_multiplier(df: int, confidence: float = 0.95) -> float:
    """The Student t quantile of a two-sided interval: P(|T| < t) = ``confidence`` with ``df``
    (a whole number) degrees of freedom — scipy's ``stats.t.ppf(0.5 + confidence / 2, df)``.
    Cached: a bisection of 200 steps, asked again and again for the same few quantiles (every
    verdict's CI; :func:`seeds_needed` tries each n up to 1000).

    >>> round(t_multiplier(2), 3), round(t_multiplier(4), 3)
    (4.303, 2.776)
    """
    df = _check_df(df)
    if not 0 < confidence < 1:
        raise ValueError(f"t_multiplier needs 0 < confidence < 1 (got {confidence})")
    lo, hi = 0.0, math.pi / 2  # P(|T| < sqrt(df) tan(theta)) rises from 0 to 1: bisect
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        inside = _within(math.sqrt(df) * math.tan(mid), df)
        lo, hi = (mid, hi) if inside < confidence else (lo, mid)
    return math.sqrt(df) * math.tan((lo + hi) / 2)


def t_quantile(p: float, df: int) -> float:
    """q with P(T ≤ q) = ``p`` — scipy's ``stats.t.ppf(p, df)`` for whole ``df``."""
    if p == 0.5:
        return 0.0
    q = t_multiplier(df, abs(2 * p - 1))
    return q if p > 0.5 else -q


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error ≤ α when adjusted p < α).

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate ≤ α).

    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")[::-1]  # largest first
    adjusted = np.minimum.accumulate(p[order] * m / np.arange(m, 0, -1))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg, "none": lambda p: np.asarray(p, float)}
CORRECTION_NAMES = {
    "holm": "Holm (family-wise error)",
    "bh": "Benjamini–Hochberg (false discovery rate)",
    "none": "no multiplicity correction",
}


def adjust(pvalues: Sequence[float], method: str) -> np.ndarray:
    """``pvalues`` adjusted for multiplicity by ``method``: holm, bh or none."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {sorted(CORRECTIONS)}")
    return CORRECTIONS[method](pvalues) if len(pvalues) else np.zeros(0)


def tost_pvalue(mean: float, se: float, df: int, margin: float) -> float:
    """Two one-sided t tests of |true difference| < ``margin``: the larger of the two one-sided
    p-values (equivalent at level α when it is below α, i.e. the 1 − 2α CI lies inside ± margin).

    >>> round(tost_pvalue(0.1, 0.2, 9, 0.5), 4)   # max(P(T > 3), P(T > 2)) with 9 df
    0.0383
    """
    if margin <= 0:
        return 1.0
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    return max(t_sf((mean + margin) / se, df), t_sf((margin - mean) / se, df))


@functools.lru_cache(maxsize=32)
def _spent(first: int, last: int, alpha: float, paths: int = 200_000) -> tuple[float, ...]:
    """The nominal α of the looks at ``first`` … ``last`` seeds that spend ``alpha`` linearly
    (Lan & DeMets 1983): a paired difference with no true effect crosses by the k-th of K looks
    with probability α·k/K. Each look's t threshold is found on ``paths`` simulated null
    sequences (seeded: the same levels everywhere); the t statistic does not depend on the
    spread, so one simulation serves every comparison."""
    if last <= first:
        return (alpha,)
    rng = np.random.default_rng(0)
    total, squares = np.zeros(paths), np.zeros(paths)
    open_ = np.ones(paths, dtype=bool)
    levels, crossed, looks = [], 0, last - first + 1
    for n in range(1, last + 1):
        x = rng.standard_normal(paths)
        total += x
        squares += x * x
        if n < first:
            continue
        mean = total / n
        t = np.abs(mean) / np.sqrt((squares - n * mean * mean) / (n - 1) / n)
        k = round(alpha * (n - first + 1) / looks * paths) - crossed  # may cross at this look
        still = np.sort(t[open_])[::-1]
        threshold = float(still[k]) if k < len(still) else 0.0
        levels.append(2 * t_sf(threshold, n - 1))
        now = open_ & (t > threshold)
        crossed += int(now.sum())
        open_ &= ~now
    return tuple(levels)


@dataclass(frozen=True)
class Looks:
    """A verdict judged after every seed from ``first`` to ``last`` (adding seeds while it is
    inconclusive): each look tests at its own, smaller α so that a difference with no true
    effect is called helps or hurts at most ``alpha`` of the time over all the looks, however
    many of them it gets (α spent linearly over the looks, :func:`_spent`). Called with a
    number of seeds: that look's α (before ``first``: the first look's; after ``last``: the
    last's — more looks than planned spend more than ``alpha``).

    >>> looks = Looks(2, 6)
    >>> [round(looks(n), 3) for n in (2, 6)], Looks(3, 3)(3)
    ([0.01, 0.019], 0.05)
    """

    first: int
    last: int
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 2 <= self.first <= self.last:
            raise ValueError(f"looks need 2 <= first <= last (got {self.first}, {self.last})")

    def __call__(self, seeds: int) -> float:
        levels = _spent(self.first, self.last, self.alpha)
        return levels[min(max(seeds, self.first), self.last) - self.first]

    @property
    def loosest(self) -> float:
        """The largest α of any look."""
        return max(_spent(self.first, self.last, self.alpha))


def _level(alpha: float | Looks, seeds: int) -> float:
    """The α of a verdict on ``seeds`` seeds: ``alpha``, or its look's."""
    return alpha(seeds) if isinstance(alpha, Looks) else alpha


def seeds_needed(
    mean: float, sd: float, margin: float = 0.0, alpha: float | Looks = 0.05, power: float = 0.8
) -> int | None:
    """The fewest seeds with which a paired comparison whose difference is ``mean`` and whose
    per-seed spread is ``sd`` would reach a verdict with probability ``power``: a CI clear of 0
    (helps / hurts), or — when |mean| < ``margin`` — equivalence, whichever needs fewer. None
    when more than MAX_SEEDS would be needed (the difference is too small to tell apart).

    The usual normal-theory approximation with t quantiles: n such that the observed effect is
    at least t(1 − α/2) + t(power) standard errors (t(1 − α) + t(power) from the margin); with
    :class:`Looks`, α is that of the look at n seeds.

    >>> seeds_needed(0.01, 0.01)          # one sd: 10 seeds
    10
    """
    if sd <= 0 or math.isnan(sd) or math.isnan(mean):
        return None
    goals = [(abs(mean), 2)]  # (effect, sides of the test)
    if abs(mean) < margin:
        goals.append((margin - abs(mean), 1))
    loosest = alpha.loosest if isinstance(alpha, Looks) else alpha
    found = []
    for effect, sides in goals:
        if effect <= 0:
            continue
        # t quantiles exceed the normal ones (and no look's α exceeds the loosest), so the
        # normal answer is where the search starts
        z = NormalDist().inv_cdf(1 - loosest / sides) + NormalDist().inv_cdf(power)
        start = max(2, math.floor((z * sd / effect) ** 2))
        for n in range(start, MAX_SEEDS + 1):
            level = 1 - _level(alpha, n) / sides
            if effect * math.sqrt(n) / sd >= t_quantile(level, n - 1) + t_quantile(power, n - 1):
                found.append(n)
                break
    return min(found, default=None)


@dataclass(frozen=True)
class Verdict:
    """The verdict on a paired difference over seeds (e.g. MTL − STL of one metric)."""

    word: str  # helps / hurts / equivalent / inconclusive
    mean: float
    half: float  # half-width of the 1 − alpha CI (NaN with one seed)
    seeds: int
    p_difference: float  # two-sided paired t-test of difference 0
    p_equivalence: float  # TOST of |difference| < margin
    needed: int | None  # seeds that would settle it (inconclusive only); None: > MAX_SEEDS
    alpha: float = 0.05  # the level it was judged at
    se: float = math.nan  # standard error of the mean difference (NaN with one seed)

    def text(self) -> str:
        """'helps', or 'inconclusive, ≈12 seeds' — how tables show it."""
        if self.word != "inconclusive":
            return self.word
        if self.seeds < 2:
            return "inconclusive, ≥3 seeds"
        return f"inconclusive, ≈{self.needed} seeds" if self.needed else "inconclusive, >1000 seeds"


def judge(
    differences: Sequence[float], margin: float = 0.0, alpha: float | Looks = 0.05
) -> Verdict:
    """The verdict on paired per-seed ``differences``: 'equivalent' when the two one-sided tests
    put the difference within ± ``margin`` (same units as the differences; 0 never says
    equivalent), else 'helps' / 'hurts' when the whole 1 − ``alpha`` CI is above / below 0,
    else 'inconclusive' with the seeds a difference of the observed size would need. With
    :class:`Looks`, α is that of the look at this many seeds.

    >>> judge([0.03, 0.04, 0.05]).word, judge([0.002, -0.001, 0.001], margin=0.01).word
    ('helps', 'equivalent')
    """
    x = np.asarray(differences, dtype=float)
    n = len(x)
    level = _level(alpha, max(n, 2))
    if n == 0:
        return Verdict("inconclusive", math.nan, math.nan, 0, math.nan, math.nan, None, level)
    mean = float(x.mean())
    if n == 1:
        return Verdict("inconclusive", mean, math.nan, 1, math.nan, math.nan, None, level)
    sd = float(x.std(ddof=1))
    se, df = sd / math.sqrt(n), n - 1
    half = t_multiplier(df, 1 - level) * se
    if se == 0:
        p_diff = 1.0 if mean == 0 else 0.0
    else:
        p_diff = min(1.0, 2 * t_sf(abs(mean) / se, df))
    p_eq = tost_pvalue(mean, se, df, margin)
    if p_eq < level:
        word = "equivalent"
    elif mean - half > 0:
        word = "helps"
    elif mean + half < 0:
        word = "hurts"
    else:
        word = "inconclusive"
    needed = seeds_needed(mean, sd, margin, alpha) if word == "inconclusive" else None
    return Verdict(word, mean, half, n, p_diff, p_eq, needed, level, se)
