"""Per-task metrics and confidence intervals over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from taskmix.data.task import Task


def task_metrics(task: Task, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (classification, multiple choice) or Pearson/Spearman (regression).

    >>> from taskmix.data.task import Task
    >>> t = Task("t", "classification", {}, label_names=["a", "b"])
    >>> task_metrics(t, np.array([0, 1, 1]), np.array([0, 1, 0]))["accuracy"]
    0.6666666666666666
    """
    if task.kind == "regression":
        p, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
        if np.ptp(p) == 0 or np.ptp(y) == 0:  # a constant prediction has no correlation
            return {"pearson": 0.0, "spearman": 0.0, "mse": float(np.mean((p - y) ** 2))}
        return {"pearson": float(stats.pearsonr(p, y)[0]), "spearman": float(stats.spearmanr(p, y)[0]),
                "mse": float(np.mean((p - y) ** 2))}
    n = task.num_labels if task.kind == "classification" else (task.n_choices or 2)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(n)), zero_division=0)),
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
    t = stats.t.ppf(0.5 + confidence / 2, df=len(x) - 1)
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(len(x)))


def format_ci(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(half):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {half * scale:.{digits}f}"
