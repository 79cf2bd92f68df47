"""Statistics over seeds: means with 95% confidence intervals, and verdicts on paired
differences."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


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
    t = stats.t.ppf(0.5 + confidence / 2, df=len(x) - 1)
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
