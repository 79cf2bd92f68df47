"""Statistics over seeds: means with 95% confidence intervals, and verdicts on paired
differences; which metrics are reported for each kind of task. numpy only: commands that read a
run store import this."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from taskmix.stats import t_multiplier

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
