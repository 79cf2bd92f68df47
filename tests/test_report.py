"""The HTML report and its plots: how the models were trained, a verdict per grouping, an axis that
shows every error bar, p-values on a log scale, whole trial numbers, the transfer heatmap, and
folders a colleague can open."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from conftest import stl_mtl_records
from taskmix.report import plots


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open for the test to read."""
    drawn = []

    def keep(fig, path):
        drawn.append(fig)
        fig.savefig(path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def test_bars_start_at_zero_and_show_every_error_bar(figures, tmp_path):
    table = pd.DataFrame(
        [
            {
                "task": "a",
                "setting": "STL",
                "macro_f1": 0.62,
                "macro_f1_ci": 0.40,
                "delta_metric": "macro_f1",
            },
            {
                "task": "a",
                "setting": "MTL a+b",
                "macro_f1": 0.70,
                "macro_f1_ci": 0.05,
                "delta_metric": "macro_f1",
            },
            {
                "task": "b",
                "setting": "STL",
                "macro_f1": 0.90,
                "macro_f1_ci": np.nan,
                "delta_metric": "macro_f1",
            },
        ]
    )
    plots.stl_vs_mtl_bars(table, tmp_path / "bars.png")
    lo, hi = figures[0].axes[0].get_ylim()
    assert lo <= 0 and hi >= (0.62 + 0.40) * 100  # the widest interval reaches 102: inside the axes


def test_pvalues_on_a_log_scale(figures, tmp_path):
    from matplotlib.colors import LogNorm

    p = pd.DataFrame(
        [[1.0, 1e-3, 1e-30], [1e-3, 1.0, 0.2], [1e-30, 0.2, 1.0]],
        index=list("abc"),
        columns=list("abc"),
    )
    plots.pvalue_heatmap(p, tmp_path / "p.png", alpha=0.01)
    ax = figures[0].axes[0]
    assert isinstance(ax.images[0].norm, LogNorm)
    texts = {t.get_text() for t in ax.texts}
    assert "0.001*" in texts and "<1e-10*" in texts and "0.2" in texts


def test_search_curve_counts_trials_in_whole_numbers(figures, tmp_path):
    trials = pd.DataFrame(
        {
            "trial": [1, 2, 3],
            "phase": ["design", "design", "search"],
            "score": [0.5, 0.6, 0.55],
            "best_so_far": [0.5, 0.6, 0.6],
        }
    )
    plots.search_curve(trials, tmp_path / "s.png", title="t")
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_report_says_how_models_were_trained_gives_verdicts_and_shows_transfer(tmp_path):
    from taskmix.evaluate.compare import Comparison
    from taskmix.relate.matrix import TransferMatrix
    from taskmix.report.html import load_transfers, write_report

    TransferMatrix(
        pd.DataFrame(
            [
                {
                    "target": "a",
                    "source": "b",
                    "setting": "probe",
                    "pc": 0.1,
                    "pm": 1.0,
                    "score": 0.5,
                },
                {
                    "target": "b",
                    "source": "a",
                    "setting": "probe",
                    "pc": -0.1,
                    "pm": 0.0,
                    "score": -0.5,
                },
            ]
        )
    ).save(tmp_path / "transfer" / "s-probe.csv")
    comp = Comparison(stl_mtl_records(), groupings={"pair": [["a", "b"]]})
    old = os.umask(0o022)
    try:
        path = write_report(comp, tmp_path / "report", transfers=load_transfers(tmp_path, "s"))
    finally:
        os.umask(old)
    html = path.read_text()
    assert "How the models were trained" in html and "<td>200</td>" in html and "patience 4" in html
    assert "Examples per split" in html and "<td>80</td>" in html
    assert "pair (a+b):" in html and "points on the grouped tasks over 3 seeds" in html
    assert (
        "Measured transfer" in html
        and (tmp_path / "report" / "transfer-probe.png").stat().st_size > 1000
    )
    # a colleague can open it: the folder and files take the umask's modes, not tempfile's 0700 /
    # 0600
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
