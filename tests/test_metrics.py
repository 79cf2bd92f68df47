"""Metrics and confidence intervals against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taskmix.data.metrics import task_metrics
from taskmix.data.task import Task
from taskmix.evaluate.metrics import format_ci, mean_ci, t_multiplier


def test_ci_five_seeds_uses_t_2776():
    values = [0.80, 0.82, 0.78, 0.85, 0.75]
    mean, half = mean_ci(values)
    sd = math.sqrt(sum((v - 0.8) ** 2 for v in values) / 4)  # = 0.0380789
    assert mean == pytest.approx(0.80)
    assert half == pytest.approx(2.776445 * sd / math.sqrt(5), rel=1e-5)
    assert half == pytest.approx(0.047282, abs=1e-5)


def test_ci_two_seeds_and_one():
    mean, half = mean_ci([1.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), rel=1e-4)
    m, h = mean_ci([0.5])
    assert m == 0.5 and math.isnan(h)
    assert format_ci(0.5, h) == "50.0"
    assert format_ci(0.8, 0.047282) == "80.0 ± 4.7"


def test_classification_metrics_by_hand():
    t = Task("t", "classification", {}, label_names=["a", "b", "c"])
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    m = task_metrics(t, p, y)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: a: P=1/2 R=1/2 → .5; b: P=2/3 R=1 → .8; c: P=1 R=1/2 → 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_class_never_predicted_counts_as_zero():
    t = Task("t", "classification", {}, label_names=["a", "b"])
    m = task_metrics(t, np.array([0, 0, 0, 0]), np.array([0, 0, 1, 1]))
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_regression_metrics():
    t = Task("t", "regression", {})
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = task_metrics(t, y * 2 + 1, y)
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    m = task_metrics(t, np.array([4.0, 3.0, 2.0, 1.0]), y)
    assert m["spearman"] == pytest.approx(-1.0)
    assert task_metrics(t, np.ones(4), y)["pearson"] == 0.0


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_t_multiplier_is_scipys_t_quantile(confidence):
    from scipy import stats

    for df in range(1, 60):
        want = stats.t.ppf(0.5 + confidence / 2, df)
        assert t_multiplier(df, confidence) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("df, confidence", [(0, 0.95), (2.5, 0.95), (3, 1.0), (3, 0.0)])
def test_t_multiplier_refuses_what_it_cannot_compute(df, confidence):
    with pytest.raises(ValueError):
        t_multiplier(df, confidence)
