"""Statistics over seeds: means with 95% confidence intervals, and verdicts on paired
differences; which metrics are reported for each kind of task. numpy only: commands that read a
run store import this."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: the two metrics reported for a task of each kind (the second is the main one)
METRICS = {
    "classification": ("accuracy", "macro_f1"),
    "multiple_choice": ("accuracy", "macro_f1"),
    "regression": ("spearman", "pearson"),
    "generation": ("exact", "f1"),
}
LABELS = {
    "accuracy": "acc",
    "macro_f1": "macro-F1",
    "pearson": "Pearson",
    "spearman": "Spearman",
    "exact": "exact",
    "f1": "F1 (exact match)",
}


def t_multiplier(df: int, confidence: float = 0.95) -> float:
    """The Student t quantile of a two-sided interval: P(|T| < t) = ``confidence`` with ``df``
    (a whole number) degrees of freedom — scipy's ``stats.t.ppf(0.5 + confidence / 2, df)``,
    computed here from the closed form of the t distribution for whole ``df`` (Abramowitz &
    Stegun 26.7.3) so that commands reading a run store need not import scipy (~1 s).

    >>> round(t_multiplier(2), 3), round(t_multiplier(4), 3)
    (4.303, 2.776)
    """
    if df < 1 or int(df) != df or not 0 < confidence < 1:
        raise ValueError(
            f"t_multiplier needs whole df >= 1 and 0 < confidence < 1 ({df}, {confidence})"
        )
    df = int(df)

    def within(theta: float) -> float:  # P(|T| < sqrt(df) tan(theta))
        c = math.cos(theta)
        if df % 2:  # odd: (2/pi) (theta + sin(theta) (c + 2/3 c^3 + 2*4/(3*5) c^5 + ...))
            a, term, total = 1.0, c, 0.0
            for j in range((df - 1) // 2):
                total += a * term
                a, term = a * (2 * j + 2) / (2 * j + 3), term * c * c
            return 2 / math.pi * (theta + math.sin(theta) * total)
        b, term, total = 1.0, 1.0, 0.0  # even: sin(theta) (1 + 1/2 c^2 + 1*3/(2*4) c^4 + ...)
        for j in range(df // 2):
            total += b * term
            b, term = b * (2 * j + 1) / (2 * j + 2), term * c * c
        return math.sin(theta) * total

    lo, hi = 0.0, math.pi / 2  # within() rises from 0 to 1 on this interval: bisect
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if within(mid) < confidence else (lo, mid)
    return math.sqrt(df) * math.tan((lo + hi) / 2)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the t-distribution confidence interval over seeds.

    With 5 seeds the multiplier is t(0.975, 4) = 2.776, as in the PVI paper. One value has no
    interval (half-width NaN).

    >>> m, h = mean_ci([1.0, 2.0, 3.0])
    >>> round(m, 3), round(h, 3)          # 2 ± 4.303 * 1 / sqrt(3)
    (2.0, 2.484)
    """
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    t = t_multiplier(len(x) - 1, confidence)
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(len(x)))


def format_ci(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(half):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"


def verdict(mean: float, half: float, seeds: int) -> str:
    """One word on a paired difference (MTL − STL) and its 95% CI over ``seeds``: 'helps' when the
    whole interval is above 0, 'hurts' when below, else 'inconclusive' (also with one seed, which
    has no interval).

    >>> verdict(0.03, 0.01, 3), verdict(-0.03, 0.01, 3)
    ('helps', 'hurts')
    >>> verdict(0.03, 0.05, 3), verdict(0.03, math.nan, 1)
    ('inconclusive', 'inconclusive')
    """
    if seeds < 2 or math.isnan(mean) or math.isnan(half):
        return "inconclusive"
    if mean - half > 0:
        return "helps"
    if mean + half < 0:
        return "hurts"
    return "inconclusive"
