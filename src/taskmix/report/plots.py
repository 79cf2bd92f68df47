"""Plots for the report (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def stl_vs_mtl_bars(table: pd.DataFrame, path: str | Path, metric_label: str = "main metric") -> Path:
    """Grouped bars: for each task, the main metric under STL and each MTL setting, with 95% CIs."""
    tasks = list(dict.fromkeys(table["task"]))
    settings = sorted(dict.fromkeys(table["setting"]), key=lambda s: (s != "STL", s))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(tasks) + 4), 4.2))
    width = 0.8 / max(1, table.groupby("task").size().max())
    colors = plt.get_cmap("tab10")
    legend: dict[str, object] = {}
    for i, task in enumerate(tasks):
        rows = table[table.task == task].reset_index(drop=True)
        for j, r in rows.iterrows():
            metric = r["delta_metric"]
            mean, ci = r[metric], r[metric + "_ci"]
            x = i - 0.4 + width * (j + 0.5)
            label = r.setting
            color = colors(settings.index(label) % 10)
            bar = ax.bar(x, mean * 100, width * 0.92, color=color,
                         yerr=None if math.isnan(ci) else ci * 100, capsize=3, label=label)
            legend.setdefault(label, bar)
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks, rotation=20, ha="right")
    ax.set_ylabel(f"test {metric_label} (%)")
    ax.set_title("Single-task (STL) vs multi-task (MTL), mean ± 95% CI over seeds")
    lo = np.nanmin([table.iloc[k][table.iloc[k]["delta_metric"]] for k in range(len(table))]) * 100
    ax.set_ylim(max(0, lo - 15), 100)
    ax.legend(legend.values(), legend.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
