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
    return _save(fig, path)


def pvi_distributions(pvi: pd.DataFrame, path: str | Path) -> Path:
    """Violin plot (with box) of each task's per-instance PVI, in bits; the mean is marked."""
    tasks = list(dict.fromkeys(pvi["task"]))
    data = [pvi.loc[pvi.task == t, "pvi"].to_numpy() for t in tasks]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(tasks) + 2), 4.2))
    ax.violinplot(data, showextrema=False)
    ax.boxplot(data, widths=0.15, showfliers=False)
    ax.scatter(np.arange(1, len(tasks) + 1), [d.mean() for d in data], color="crimson", zorder=3, s=18,
               label="V-information (mean PVI)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(np.arange(1, len(tasks) + 1))
    ax.set_xticklabels(tasks, rotation=20, ha="right")
    ax.set_ylabel("PVI (bits)")
    ax.set_title("Per-instance PVI of each task")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def pvalue_heatmap(pvalues: pd.DataFrame, path: str | Path, alpha: float) -> Path:
    """Pairwise p-values of the PVI tests; cells with p < alpha (significantly different) are marked."""
    names = list(pvalues.index)
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(names) + 2.5), max(4, 0.7 * len(names) + 1.5)))
    im = ax.imshow(pvalues.to_numpy(), cmap="viridis", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j:
                p = pvalues.iloc[i, j]
                ax.text(j, i, f"{p:.2g}" + ("*" if p < alpha else ""), ha="center", va="center", fontsize=7,
                        color="white" if p < 0.5 else "black")
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_title(f"p-values of PVI t-tests (* p < {alpha:g}: different)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
