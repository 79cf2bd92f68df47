"""Tests of whether tasks' PVI distributions differ: two-sample t-tests for pairs, one-way ANOVA
for groups of three or more, with effect sizes (Cohen's d, η²), as in Li et al.; and of whether
they are equivalent: two one-sided tests (TOST) of a mean difference within a margin, in bits or
in Cohen's d, for pairs, and for a group the largest TOST p-value of its pairs (an
intersection–union test: the group is equivalent when every pair is).

p ≥ α is no evidence of similarity (a small task gives large p-values whatever its PVI), and
p-values shrink as data sets grow, so a large suite can make every pair "significantly
different"; equivalence tests answer the question grouping asks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class GroupTest:
    """The test of one candidate group of tasks."""

    tasks: tuple[str, ...]
    test: str  # "welch t", "student t" or "anova"
    statistic: float  # t (pairs) or F (groups)
    pvalue: float
    cohens_d: float  # pairs only (NaN for groups)
    eta_squared: float  # share of PVI variance explained by the task (pairs and groups)
    sizes: tuple[int, ...]
    means: tuple[float, ...]


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference with the pooled standard deviation.

    >>> round(cohens_d(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])), 3)
    -1.0
    """
    na, nb = len(a), len(b)
    pooled = ((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / max(1, na + nb - 2)
    if pooled <= 0:
        return 0.0 if np.mean(a) == np.mean(b) else math.copysign(math.inf, np.mean(a) - np.mean(b))
    return float((np.mean(a) - np.mean(b)) / math.sqrt(pooled))


def eta_squared(samples: Sequence[np.ndarray]) -> float:
    """Between-group sum of squares over the total sum of squares.

    >>> eta_squared([np.array([0.0, 0.0]), np.array([1.0, 1.0])])
    1.0
    """
    allv = np.concatenate(samples)
    total = float(((allv - allv.mean()) ** 2).sum())
    between = float(sum(len(s) * (s.mean() - allv.mean()) ** 2 for s in samples))
    return between / total if total > 0 else 0.0


def d_to_eta_squared(d: float) -> float:
    """The η² of two equal-size groups whose Cohen's d is ``d``: d² / (d² + 4)."""
    return d * d / (d * d + 4)


def group_test(
    tasks: Sequence[str], samples: Sequence[np.ndarray], equal_var: bool = False
) -> GroupTest:
    """t-test (two tasks; Welch unless ``equal_var``) or one-way ANOVA (three or more)."""
    samples = [np.asarray(s, dtype=float) for s in samples]
    if len(samples) < 2:
        raise ValueError("a test needs at least two tasks")
    if any(len(s) < 2 for s in samples):
        raise ValueError("every task needs at least two PVI values to be tested")
    if all(np.ptp(s) == 0 for s in samples):  # no spread at all: equal means are not different
        same = len({float(s[0]) for s in samples}) == 1
        return GroupTest(
            tuple(tasks),
            "constant",
            0.0 if same else math.inf,
            1.0 if same else 0.0,
            0.0 if same else math.nan,
            eta_squared(samples),
            tuple(len(s) for s in samples),
            tuple(float(s.mean()) for s in samples),
        )
    if len(samples) == 2:
        res = stats.ttest_ind(samples[0], samples[1], equal_var=equal_var)
        name, d = ("student t" if equal_var else "welch t"), cohens_d(samples[0], samples[1])
    else:
        res = stats.f_oneway(*samples)
        name, d = "anova", math.nan
    stat, p = float(res.statistic), float(res.pvalue)
    if math.isnan(p):  # every value identical: nothing differs
        stat, p = 0.0, 1.0
    return GroupTest(
        tuple(tasks),
        name,
        stat,
        p,
        d,
        eta_squared(samples),
        tuple(len(s) for s in samples),
        tuple(float(s.mean()) for s in samples),
    )


def equivalence_pvalue(
    a: np.ndarray, b: np.ndarray, margin: float, unit: str = "d", equal_var: bool = False
) -> float:
    """TOST p-value of |mean(a) − mean(b)| < margin: ``margin`` in bits (``unit='bits'``) or in
    pooled standard deviations (``unit='d'``, a bound on Cohen's d); Welch's standard error and
    degrees of freedom unless ``equal_var`` (Student's, pooled). Below α: equivalent at α."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = len(a), len(b)
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    diff = float(a.mean() - b.mean())
    pooled = ((na - 1) * va + (nb - 1) * vb) / max(1, na + nb - 2)
    delta = margin * math.sqrt(pooled) if unit == "d" else margin
    if equal_var:
        se, df = math.sqrt(pooled * (1 / na + 1 / nb)), na + nb - 2
    else:
        se = math.sqrt(va / na + vb / nb)
        df = se**4 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1)) if se > 0 else 1
    if se == 0 or delta <= 0:
        return 0.0 if abs(diff) < delta else 1.0
    return float(max(stats.t.sf((diff + delta) / se, df), stats.t.sf((delta - diff) / se, df)))


def group_equivalence(
    samples: Sequence[np.ndarray], margin: float, unit: str = "d", equal_var: bool = False
) -> float:
    """The TOST p-value of a group: the largest of its pairs' (equivalent when all pairs are)."""
    return max(
        equivalence_pvalue(samples[i], samples[j], margin, unit, equal_var)
        for i in range(len(samples))
        for j in range(i + 1, len(samples))
    )


def equal_subsamples(
    values: dict[str, np.ndarray], size: int | str | None, seed: int
) -> dict[str, np.ndarray]:
    """Seeded subsamples of equal size (``'min'``: the smallest task's size); ``None`` keeps all."""
    if size is None:
        return values
    n = min(len(v) for v in values.values()) if size == "min" else int(size)
    rng = np.random.default_rng(seed)
    return {
        t: (v if len(v) <= n else v[rng.choice(len(v), n, replace=False)])
        for t, v in values.items()
    }
