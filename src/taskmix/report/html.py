"""The HTML report: STL vs MTL tables and plots, with CSV/JSON of every table beside it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import jinja2
import pandas as pd

from taskmix.evaluate.compare import MARGIN, Comparison, comparison_from_store
from taskmix.evaluate.listing import model_folder
from taskmix.files import atomic_dir
from taskmix.group.affinity import Affinity
from taskmix.group.groupers import grouper_from_record, rank_candidates
from taskmix.relate.matrix import TransferMatrix, saved_matrices
from taskmix.report.plots import (
    embedding_heatmap,
    pvalue_heatmap,
    pvi_distributions,
    stl_vs_mtl_bars,
    transfer_heatmap,
)

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("taskmix.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(
        index=False, border=0, classes="tbl", na_rep="-", float_format=lambda x: f"{x:,.4g}"
    )


def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    groups: list[list[str]] | None = None,
    title: str | None = None,
    notes: list[str] | None = None,
    grouper=None,
    searches: list[dict] | None = None,
    transfers: dict[str, pd.DataFrame] | None = None,
    advice: dict | None = None,
) -> Path:
    """Write ``index.html``, PNG plots and CSV/JSON tables to ``out_dir``; returns the HTML path.

    The report opens with a verdict per grouping (helps / hurts / inconclusive, and the seeds) and
    says how the models were trained (model, steps, learning rate, batch, examples per split).
    With a fitted ``grouper`` (e.g. :class:`~taskmix.group.groupers.PVIGrouper`) the report also
    shows how the groups were chosen: PVI distributions, the p-value heatmap and the candidate
    table. ``searches`` are combination searches (summaries from :func:`load_searches`): the pick,
    the best-so-far curve and the trials of each. ``transfers``: measured transfer matrices
    (target × source scores, from :func:`load_transfers`) by name, drawn as heatmaps. ``advice``:
    what `taskmix advise` saved (:func:`load_advice`): each signal's affinity side by side and the
    candidate groups with their verdicts. The folder
    is built beside its final place and renamed, so a report is never half-written.
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        table = comparison.table()
        printable = comparison.printable()
        settings = comparison.settings()
        training, sizes = comparison.training(), comparison.data_sizes()
        long = comparison.frame()
        tables = {
            "comparison": table,
            "settings": settings,
            "runs": long,
            "training": training,
            "data_sizes": sizes,
        }
        if groups:
            tables["strategies"] = comparison.strategies(groups)
        by_grouping = comparison.by_grouping()
        if not by_grouping.empty:
            tables["groupings"] = by_grouping
        if grouper is not None:
            tables["candidate_groups"] = grouper.to_frame()
            if hasattr(grouper, "pvi_"):
                tables["pvi_summary"] = grouper.pvi_.summary_
                grouper.pvi_.to_frame().to_csv(tmp / "pvi.csv", index=False)
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
            (tmp / f"{name}.json").write_text(frame.to_json(orient="records", indent=1))
        plots = []
        if not table.empty:
            stl_vs_mtl_bars(table, tmp / "stl_vs_mtl.png", "macro-F1 / Pearson")
            plots.append("stl_vs_mtl.png")
        grouping = None
        if grouper is not None:
            if hasattr(grouper, "pvi_"):
                pvi_distributions(grouper.pvi_.to_frame(), tmp / "pvi.png")
                pvalue_heatmap(grouper.pvalue_matrix(), tmp / "pvalues.png", grouper.config_.level)
            grouping = {
                "description": grouper.describe(),
                "groups": ["+".join(g) for g in grouper.groups_ if len(g) > 1] or ["(none)"],
                "alone": [g[0] for g in grouper.groups_ if len(g) == 1],
                "plots": [p for p in ("pvi.png", "pvalues.png") if (tmp / p).exists()],
                "summary": _html_table(tables["pvi_summary"]) if "pvi_summary" in tables else None,
                "candidates": _html_table(rank_candidates(tables["candidate_groups"]).head(25)),
            }
        shown = []
        for entry in searches or []:
            stem = f"search-{entry['target']}"
            shutil.copyfile(entry["csv"], tmp / f"{stem}.csv")
            if Path(entry["png"]).exists():
                shutil.copyfile(entry["png"], tmp / f"{stem}.png")
            trials = pd.read_csv(entry["csv"])[
                ["trial", "phase", "datasets", "score", "test_score", "best_so_far"]
            ]
            shown.append({**entry, "plot": f"{stem}.png", "table": _html_table(trials)})
        heatmaps = []
        for name, scores in (transfers or {}).items():
            png = f"transfer-{name.replace('/', '_')}.png"
            transfer_heatmap(scores, tmp / png, title=f"transfer scores ({name}): target × source")
            scores.to_csv(tmp / png.replace(".png", ".csv"))
            heatmaps.append(png)
        shown_advice = _advice_section(advice, tmp) if advice else None
        embeddings = []
        for (
            r
        ) in comparison.records:  # Inspirational Pointer runs: how alike their task embeddings are
            csv = Path(r.artifacts or "") / "task_embeddings.csv"
            if r.artifacts and csv.exists():
                desc = r.config["train"].get("ip_descriptions", True)
                setting = r.setting.replace(":", "-").replace("+", "_")
                name = f"ip-{setting}-s{r.seed}{'' if desc else '-nodesc'}.png"
                embedding_heatmap(
                    pd.read_csv(csv, index_col=0),
                    tmp / name,
                    f"{r.setting} seed {r.seed}: {'with' if desc else 'without'} descriptions",
                )
                embeddings.append(name)
        models = pd.DataFrame(
            [
                {"setting": r.setting, "seed": r.seed, "model": model_folder(r)}
                for r in comparison.records
                if model_folder(r)
            ]
        )
        html = _env.get_template("report.html.j2").render(
            models=_html_table(models) if not models.empty else None,
            searches=shown,
            embeddings=embeddings,
            transfers=heatmaps,
            advice=shown_advice,
            verdicts=comparison.verdicts(),
            training=_html_table(training) if not training.empty else None,
            sizes=_html_table(sizes) if not sizes.empty else None,
            grouping=grouping,
            groupings=_html_table(comparison.printable_groupings())
            if not by_grouping.empty
            else None,
            title=title or f"taskmix report — {comparison.suite_name}",
            created=time.strftime("%Y-%m-%d %H:%M"),
            comparison=_html_table(printable) if not printable.empty else None,
            settings=_html_table(settings),
            strategies=_html_table(tables["strategies"]) if groups else None,
            plots=plots,
            notes=notes or [],
            files=sorted(p.name for p in tmp.iterdir()),
            summary=summarise(table),
        )
        (tmp / "index.html").write_text(html, encoding="utf-8")
    return out_dir / "index.html"


def report_store(
    out: str | Path,
    to: str | Path,
    suite: str | None = None,
    groups: list[list[str]] | None = None,
    margin: float | None = None,
) -> Path:
    """The report of the run store under ``out`` (read-only), written to ``to``: its comparison
    and groupings, how the recommended grouping was found (redrawn from its PVI table), the
    combination searches and the transfer matrices saved beside it. Returns the HTML path."""
    searches = load_searches(out, suite)
    advice = load_advice(out, suite) if suite else None
    comparison, record = comparison_from_store(
        out,
        suite,
        allow_empty=bool(searches or advice),
        margin=MARGIN if margin is None else margin,
    )
    name = comparison.suite_name or (searches[0]["suite"] if searches else suite)
    return write_report(
        comparison,
        to,
        groups=groups,
        grouper=grouper_from_record(record),
        searches=searches,
        transfers=load_transfers(out, name),
        advice=advice or load_advice(out, name),
        title=None if comparison.records else f"taskmix report — {name}",
    )


def load_searches(out: str | Path, suite: str | None = None) -> list[dict]:
    """The summaries `taskmix search` wrote under ``out/search`` (of ``suite``, if given), each
    with the paths of its trials CSV and curve PNG."""
    found = []
    for path in sorted((Path(out) / "search").glob("*.json")):
        entry = json.loads(path.read_text())
        if suite is None or entry.get("suite") == suite:
            found.append(
                {
                    **entry,
                    "csv": str(path.with_suffix(".csv")),
                    "png": str(path.with_suffix(".png")),
                }
            )
    return found


def load_advice(out: str | Path, suite: str) -> dict | None:
    """What `taskmix advise` saved for ``suite`` under ``out`` (advice/SUITE/advice.json), or
    None."""
    path = Path(out) / "advice" / suite / "advice.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _advice_section(advice: dict, folder: Path) -> dict:
    """The advice's heatmaps (one per signal, standardised) written to ``folder``, its table and
    partitions, for the template."""
    plots = []
    for i, (name, s) in enumerate(advice["signals"].items()):
        m = s["matrix"]
        frame = pd.DataFrame(m["data"], index=m["index"], columns=m["columns"], dtype=float)
        standard = Affinity(name, frame, neutral=s["neutral"]).standardised()
        png = f"affinity-{i}.png"
        transfer_heatmap(standard.T, folder / png, title=f"{name}: target × source (standardised)")
        plots.append(png)
    groups = pd.DataFrame(advice["groups"])
    groups.to_csv(folder / "advice.csv", index=False)

    def said(part: list[list[str]]) -> str:
        return "; ".join("+".join(g) for g in part if len(g) > 1) or "every task alone"

    return {
        "plots": plots,
        "table": _html_table(groups),
        "proposed": said(advice["proposed"]),
        "recommended": said(advice["recommended"]),
    }


def load_transfers(out: str | Path, suite: str) -> dict[str, pd.DataFrame]:
    """The transfer matrices `taskmix transfer` saved for ``suite`` under ``out``: a target ×
    source score table per setting (named 'probe', 'finetune', …)."""
    found = {}
    for path in saved_matrices(out, suite):
        matrix = TransferMatrix.load(path)
        for setting in matrix.settings:
            found[setting] = matrix.select(setting).scores()
    return found


_SAID = {
    "helps": "helped",
    "hurts": "hurt",
    "equivalent": "made no difference beyond the margin to",
    "inconclusive": "made no clear difference to",
}


def summarise(table: pd.DataFrame) -> list[str]:
    """Plain sentences: where MTL helped or hurt a task beyond its confidence interval."""
    lines = []
    if table.empty:
        return lines
    for _, r in table[table.setting != "STL"].iterrows():
        if pd.isna(r.delta):
            continue
        word = r.verdict.split(",")[0]
        said = _SAID.get(word, f"cannot be judged ({r.verdict}) against")
        lines.append(
            f"{r.setting} {said} {r.task}: {r.delta * 100:+.1f} points of {r.delta_metric}"
            + ("" if pd.isna(r.delta_ci) else f" (95% CI ± {r.delta_ci * 100:.1f})")
            + (f"; {r.verdict}" if word == "inconclusive" and "≈" in r.verdict else "")
        )
    return lines
