"""Plots for the report (PNG files). Figures are drawn through matplotlib's object API on their
own Agg canvas: importing this module changes nothing in the process (not pyplot's backend, not
its figure list)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _subplots(figsize: tuple[float, float]):
    """A figure with one axes, on an Agg canvas of its own (pyplot is never touched)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def stl_vs_mtl_bars(
    table: pd.DataFrame, path: str | Path, metric_label: str = "main metric"
) -> Path:
    """Grouped bars: for each task, the main metric under STL and each MTL setting, with 95% CIs."""
    tasks = list(dict.fromkeys(table["task"]))
    settings = sorted(dict.fromkeys(table["setting"]), key=lambda s: (s != "STL", s))
    fig, ax = _subplots((max(6, 1.3 * len(tasks) + 4), 4.2))
    width = 0.8 / max(1, table.groupby("task").size().max())
    colors = matplotlib.colormaps["tab10"]
    legend: dict[str, object] = {}
    for i, task in enumerate(tasks):
        rows = table[table.task == task].reset_index(drop=True)
        for j, r in rows.iterrows():
            metric = r["delta_metric"]
            mean, ci = r[metric], r[metric + "_ci"]
            x = i - 0.4 + width * (j + 0.5)
            label = r.setting
            color = colors(settings.index(label) % 10)
            bar = ax.bar(
                x,
                mean * 100,
                width * 0.92,
                color=color,
                yerr=None if math.isnan(ci) else ci * 100,
                capsize=3,
                label=label,
            )
            legend.setdefault(label, bar)
    ax.set_xticks(np.arange(len(tasks)))
    ax.set_xticklabels(tasks, rotation=20, ha="right")
    ax.set_ylabel(f"test {metric_label} (%)")
    ax.set_title("Single-task (STL) vs multi-task (MTL), mean ± 95% CI over seeds")
    # Bars start at 0 (a cut axis exaggerates differences) and every error bar is inside the axes.
    means = np.array([r[r["delta_metric"]] for _, r in table.iterrows()], dtype=float) * 100
    cis = (
        np.nan_to_num(
            np.array([r[r["delta_metric"] + "_ci"] for _, r in table.iterrows()], dtype=float)
        )
        * 100
    )
    ax.set_ylim(
        min(0.0, float(np.nanmin(means - cis)) - 2), max(100.0, float(np.nanmax(means + cis)) + 2)
    )
    ax.axhline(0, color="grey", lw=0.8)
    ax.legend(
        legend.values(), legend.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def pvi_distributions(pvi: pd.DataFrame, path: str | Path) -> Path:
    """Violin plot (with box) of each task's per-instance PVI, in bits; the mean is marked."""
    tasks = list(dict.fromkeys(pvi["task"]))
    data = [pvi.loc[pvi.task == t, "pvi"].to_numpy() for t in tasks]
    fig, ax = _subplots((max(6, 1.1 * len(tasks) + 2), 4.2))
    ax.violinplot(data, showextrema=False)
    ax.boxplot(data, widths=0.15, showfliers=False)
    ax.scatter(
        np.arange(1, len(tasks) + 1),
        [d.mean() for d in data],
        color="crimson",
        zorder=3,
        s=18,
        label="V-information (mean PVI)",
    )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(np.arange(1, len(tasks) + 1))
    ax.set_xticklabels(tasks, rotation=20, ha="right")
    ax.set_ylabel("PVI (bits)")
    ax.set_title("Per-instance PVI of each task")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _heatmap(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    title: str,
    label,
    dark,
    cmap: str,
    vmin: float,
    vmax: float,
    xlabel: str | None = None,
    ylabel: str | None = None,
    log: bool = False,
) -> Path:
    """A labelled heatmap of a square-ish table; ``label(value)`` is the text of a cell (None:
    blank), written in white where ``dark(value)`` (the colour map is dark there); ``log``: a
    logarithmic colour scale from ``vmin`` to ``vmax``."""
    from matplotlib.colors import LogNorm

    rows, cols = list(frame.index), list(frame.columns)
    fig, ax = _subplots((max(5, 0.8 * len(cols) + 2.5), max(4, 0.7 * len(rows) + 1.5)))
    values = frame.to_numpy(dtype=float)
    scale = {"norm": LogNorm(vmin=vmin, vmax=vmax)} if log else {"vmin": vmin, "vmax": vmax}
    im = ax.imshow(
        np.ma.masked_invalid(np.clip(values, vmin, vmax) if log else values), cmap=cmap, **scale
    )
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = values[i, j]
            if np.isfinite(v) and (text := label(v)) is not None:
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark(v) else "black",
                )
    ax.set_xticks(range(len(cols)))
    ax.set_yticks(range(len(rows)))
    ax.set_xticklabels(cols, rotation=35, ha="right", fontsize=8)
    ax.set_yticklabels(rows, fontsize=8)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, path)


def pvalue_heatmap(pvalues: pd.DataFrame, path: str | Path, alpha: float) -> Path:
    """Pairwise p-values of the PVI tests on a log scale (1e-10 to 1, so that 1e-3 and 1e-30 do not
    look alike); cells with p < alpha (significantly different) are marked."""
    floor = 1e-10
    return _heatmap(
        pvalues,
        path,
        title=f"p-values of PVI t-tests, log scale (* p < {alpha:g}: different)",
        label=lambda p: (f"<{floor:.0e}" if p < floor else f"{p:.2g}") + ("*" if p < alpha else ""),
        dark=lambda p: p < 1e-5,
        cmap="viridis",
        vmin=floor,
        vmax=1.0,
        log=True,
    )


def transfer_heatmap(
    scores: pd.DataFrame, path: str | Path, title: str = "TaskWeb transfer scores"
) -> Path:
    """Target × source transfer scores (red: the source hurts the target, blue: it helps)."""
    lim = float(np.nanmax(np.abs(scores.to_numpy(dtype=float)))) or 1.0
    return _heatmap(
        scores,
        path,
        title=title,
        label=lambda v: f"{v:+.2f}",
        dark=lambda v: abs(v) > 0.6 * lim,
        cmap="RdBu",
        vmin=-lim,
        vmax=lim,
        xlabel="source",
        ylabel="target",
    )


def transfer_graph(scores: pd.DataFrame, path: str | Path, top: int = 2) -> Path:
    """Tasks on a circle; an arrow s → t for each target's ``top`` most helpful sources with a
    positive score (width ∝ score)."""
    names = sorted(set(scores.index) | set(scores.columns))
    angle = np.linspace(0, 2 * np.pi, len(names), endpoint=False)
    pos = {n: (np.cos(a), np.sin(a)) for n, a in zip(names, angle, strict=True)}
    fig, ax = _subplots((7, 7))
    best = float(np.nanmax(scores.to_numpy(dtype=float))) or 1.0
    for t in scores.index:
        row = scores.loc[t].dropna().sort_values(ascending=False)
        for s, v in row[row > 0].head(top).items():
            ax.annotate(
                "",
                xy=pos[t],
                xytext=pos[s],
                arrowprops={
                    "arrowstyle": "-|>",
                    "lw": 0.5 + 3 * v / best,
                    "color": "tab:blue",
                    "alpha": 0.7,
                    "shrinkA": 18,
                    "shrinkB": 18,
                },
            )
    for n, (x, y) in pos.items():
        ax.text(
            x,
            y,
            n,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "grey"},
        )
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.axis("off")
    ax.set_title(f"Each target's {top} most helpful sources (arrow: source → target)")
    fig.tight_layout()
    return _save(fig, path)


def relevance_heatmap(relevance: pd.DataFrame, path: str | Path) -> Path:
    """Symmetrised surrogate relevance between tasks (blue: training together helps)."""
    lim = float(np.nanmax(np.abs(relevance.to_numpy(dtype=float)))) or 1.0
    return _heatmap(
        relevance,
        path,
        title="surrogate relevance (θ + θᵀ) / 2",
        label=lambda v: f"{v:+.3f}",
        dark=lambda v: abs(v) > 0.6 * lim,
        cmap="RdBu",
        vmin=-lim,
        vmax=lim,
    )


def embedding_heatmap(similarity: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Cosine similarity of mean task embeddings (Inspirational Pointer)."""
    return _heatmap(
        similarity,
        path,
        title=title,
        label=lambda v: f"{v:.2f}",
        dark=lambda v: v > 0.6,
        cmap="magma_r",
        vmin=min(0.0, float(np.nanmin(similarity.to_numpy(dtype=float)))),
        vmax=1.0,
    )


def search_curve(
    trials: pd.DataFrame, path: str | Path, title: str, baseline: float | None = None
) -> Path:
    """Each trial's score (dots: initial design and proposals) and the best so far (line); the
    dashed line is the target trained alone."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _subplots((7, 4))
    for phase, marker, colour in (("design", "s", "tab:grey"), ("search", "o", "tab:blue")):
        part = trials[trials["phase"] == phase]
        ax.scatter(part["trial"], part["score"], marker=marker, color=colour, label=phase, zorder=3)
    ax.step(
        trials["trial"],
        trials["best_so_far"],
        where="post",
        color="tab:orange",
        label="best so far",
    )
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="black", lw=0.8, label="target alone")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are counted, never fractions
    ax.set_xlabel("trial")
    ax.set_ylabel("target score (dev)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
