"""STL vs MTL comparison tables from finished runs: means, 95% CIs over seeds, differences.

The difference of an MTL setting from STL is paired by seed (the same seeds were used for
both), and its CI is the t interval of the per-seed differences.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskmix.data.task import Suite
from taskmix.evaluate.metrics import format_ci, mean_ci
from taskmix.store import RunRecord

METRICS = {"classification": ("accuracy", "macro_f1"), "multiple_choice": ("accuracy", "macro_f1"),
           "regression": ("spearman", "pearson")}
LABELS = {"accuracy": "acc", "macro_f1": "macro-F1", "pearson": "Pearson", "spearman": "Spearman"}


class Comparison:
    """Test metrics of every task under STL and each MTL setting that contains it.

    ``table()`` has one row per (task, setting): seeds, the two metrics of the task's kind with
    95% CIs, and for MTL rows the paired difference of the main metric from STL.
    ``settings()`` counts models and trainable parameters of each way of training the tasks.
    """

    def __init__(self, records: Sequence[RunRecord], suite: Suite | None = None):
        self.records = [r for r in records if r is not None and r.status == "finished"]
        self.kinds = {t: k for r in self.records for t, k in r.config.get("kinds", {}).items()}
        if suite is not None:
            self.kinds.update({t.name: t.kind for t in suite})
        self.suite_name = suite.name if suite is not None else (self.records[0].suite if self.records else "")

    def _kind(self, task: str) -> str:
        return self.kinds.get(task, "classification")

    def frame(self) -> pd.DataFrame:
        """Long format: one row per (run, task, metric) of the test split."""
        rows = []
        for r in self.records:
            for task, metrics in r.metrics["test"].items():
                for metric, value in metrics.items():
                    rows.append({"task": task, "setting": r.setting, "kind": r.kind, "seed": r.seed,
                                 "metric": metric, "value": value, "run": r.id})
        return pd.DataFrame(rows, columns=["task", "setting", "kind", "seed", "metric", "value", "run"])

    def table(self) -> pd.DataFrame:
        long = self.frame()
        out = []
        if long.empty:
            return pd.DataFrame()
        all_tasks = set(long["task"])
        for task in dict.fromkeys(long["task"]):
            sub = long[long.task == task]
            m1, m2 = METRICS[self._kind(task)]
            stl_setting = f"stl:{task}"
            stl = sub[(sub.setting == stl_setting) & (sub.metric == m2)].set_index("seed")["value"]
            settings = sorted(dict.fromkeys(sub.setting), key=lambda s: (s != stl_setting, s))
            for setting in settings:
                cur = sub[sub.setting == setting]
                row = {"task": task, "setting": self.label(setting, all_tasks), "seeds": cur.seed.nunique()}
                for m in (m1, m2):
                    mean, half = mean_ci(cur[cur.metric == m]["value"].to_numpy())
                    row[f"{m}"], row[f"{m}_ci"] = mean, half
                if setting != stl_setting and not stl.empty:
                    mine = cur[cur.metric == m2].set_index("seed")["value"]
                    paired = mine.index.intersection(stl.index)
                    d = (mine[paired] - stl[paired]).to_numpy()
                    row["delta"], row["delta_ci"] = mean_ci(d) if len(d) else (math.nan, math.nan)
                else:
                    row["delta"], row["delta_ci"] = math.nan, math.nan
                row["delta_metric"] = m2
                out.append(row)
        return pd.DataFrame(out)

    @staticmethod
    def label(setting: str, all_tasks: set[str]) -> str:
        """'STL', 'MTL all tasks' (a group of every task, 3 or more) or 'MTL a+b'."""
        kind, _, names = setting.partition(":")
        tasks = names.split("+")
        if kind == "stl":
            return "STL"
        if len(tasks) >= 3 and set(tasks) == all_tasks:
            return f"MTL all {len(tasks)} tasks"
        return "MTL " + names

    def settings(self) -> pd.DataFrame:
        """Per training setting: tasks, models, trainable parameters (mean over seeds), time."""
        by: dict[str, list[RunRecord]] = defaultdict(list)
        for r in self.records:
            by[r.setting].append(r)
        rows = []
        for setting, recs in by.items():
            rows.append({"setting": setting, "kind": recs[0].kind, "tasks": len(recs[0].tasks), "models": 1,
                         "trainable_parameters": int(np.mean([r.metrics["trainable_parameters"] for r in recs])),
                         "seeds": len(recs), "mean_minutes": float(np.mean([r.duration or 0 for r in recs]) / 60)})
        return pd.DataFrame(rows)

    def strategies(self, groups: Sequence[Sequence[str]]) -> pd.DataFrame:
        """One model per task (STL) vs one model per group: models and trainable parameters."""
        st = self.settings().set_index("setting") if self.records else pd.DataFrame()
        tasks = list(dict.fromkeys(t for g in groups for t in g))

        def params(settings: list[str]) -> int:
            return int(sum(st.loc[s, "trainable_parameters"] for s in settings if s in st.index))

        stl = [f"stl:{t}" for t in tasks]
        mtl = [f"{'stl' if len(g) == 1 else 'mtl'}:{'+'.join(g)}" for g in groups]
        return pd.DataFrame([
            {"strategy": "STL (one model per task)", "models": len(stl), "trainable_parameters": params(stl)},
            {"strategy": "MTL (one model per group)", "models": len(mtl), "trainable_parameters": params(mtl)},
        ])

    def printable(self) -> pd.DataFrame:
        """The table with metrics as 'mean ± CI' strings in percent, for the console and HTML."""
        t = self.table()
        if t.empty:
            return t
        rows = []
        for _, r in t.iterrows():
            m1, m2 = METRICS[self._kind(r.task)]
            rows.append({
                "task": r.task, "setting": r.setting, "seeds": r.seeds,
                "metric 1": f"{LABELS[m1]} {format_ci(r[m1], r[m1 + '_ci'])}",
                "metric 2": f"{LABELS[m2]} {format_ci(r[m2], r[m2 + '_ci'])}",
                "Δ vs STL": "" if math.isnan(r.delta) else
                (f"{r.delta * 100:+.1f}" + ("" if math.isnan(r.delta_ci) else f" ± {r.delta_ci * 100:.1f}")),
            })
        return pd.DataFrame(rows)
