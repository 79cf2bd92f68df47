"""STL vs MTL comparison tables from finished runs: means, 95% CIs over seeds, differences.

The difference of an MTL setting from STL is paired by seed (the same seeds were used for
both), and its CI is the t interval of the per-seed differences. Its verdict (helps / hurts /
equivalent within a margin / inconclusive with the seeds it would need) is
:func:`taskmix.stats.judge`. A comparison whose STL models had not converged — their best dev
score was at their last evaluation, or their test score is at the majority-class level — is
flagged instead of counted: any extra training the MTL model had would look like a gain.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.data.metrics import MAJORITY_TOLERANCE
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.evaluate.metrics import LABELS, METRICS, format_ci, mean_ci
from taskmix.experiment.groupings import load_groupings
from taskmix.experiment.runs import STORE_FILE
from taskmix.stats import Looks, judge
from taskmix.store import RunRecord, RunStore

#: default equivalence margin of a verdict: one point of the main metric
MARGIN = 0.01


class Comparison:
    """Test metrics of every task under STL and each MTL setting that contains it.

    ``table()`` has one row per (task, setting): seeds, the two metrics of the task's kind with
    95% CIs, and for MTL rows the paired difference of the main metric from STL.
    ``settings()`` counts models and trainable parameters of each way of training the tasks.
    ``margin``: the difference of the main metric (a fraction: 0.01 = one point) within which MTL
    and STL count as equivalent. ``alpha``: the level of the verdicts and of the differences'
    CIs — 0.05, or :class:`~taskmix.stats.Looks` when seeds are added until a verdict settles.
    """

    def __init__(
        self,
        records: Sequence[RunRecord],
        suite: Suite | None = None,
        groupings: dict[str, Sequence[Sequence[str]]] | None = None,
        margin: float = MARGIN,
        alpha: float | Looks = 0.05,
    ):
        self.margin, self.alpha = margin, alpha
        self._problems: dict[tuple[str, str], str] = {}
        # One model counts once, however many groupings chose it: records are deduplicated by
        # run id, and a group is a set (the same tasks in any order are one setting).
        finished = {r.id: r for r in records if r is not None and r.status == "finished"}
        self._settings: dict[tuple[str, frozenset], str] = {}
        # A store may hold runs trained in several ways (another step budget, adaptation, model):
        # each way is compared on its own, STL with MTL of the same training ("@max_steps=2").
        self.variants = _variants(finished.values())
        self.records = [
            replace(
                r,
                setting=self._settings.setdefault((r.kind, frozenset(r.tasks)), r.setting)
                + self.variants.get(r.id, ""),
            )
            for r in finished.values()
        ]
        # Named ways of grouping the tasks (e.g. pvi, random, all): which settings each trains.
        self.groupings = {k: [list(g) for g in v] for k, v in (groupings or {}).items()}
        self.kinds = {t: k for r in self.records for t, k in r.config.get("kinds", {}).items()}
        if suite is not None:
            self.kinds.update({t.name: t.kind for t in suite})
        self.suite_name = (
            suite.name if suite is not None else (self.records[0].suite if self.records else "")
        )

    def _kind(self, task: str) -> str:
        return self.kinds.get(task, "classification")

    def frame(self) -> pd.DataFrame:
        """Long format: one row per (run, task, metric) of the test split."""
        rows = []
        for r in self.records:
            for task, metrics in r.metrics["test"].items():
                for metric, value in metrics.items():
                    rows.append(
                        {
                            "task": task,
                            "setting": r.setting,
                            "kind": r.kind,
                            "seed": r.seed,
                            "metric": metric,
                            "value": value,
                            "run": r.id,
                        }
                    )
        return pd.DataFrame(
            rows, columns=["task", "setting", "kind", "seed", "metric", "value", "run"]
        )

    def table(self) -> pd.DataFrame:
        long = self.frame()
        out = []
        if long.empty:
            return pd.DataFrame()
        all_tasks = set(long["task"])
        for task in dict.fromkeys(long["task"]):
            sub = long[long.task == task]
            m1, m2 = METRICS[self._kind(task)]
            for setting in sorted(
                dict.fromkeys(sub.setting), key=lambda s: (_variant(s), not s.startswith("stl:"), s)
            ):
                stl_setting = f"stl:{task}{_variant(setting)}"
                stl = sub[(sub.setting == stl_setting) & (sub.metric == m2)].set_index("seed")[
                    "value"
                ]
                cur = sub[sub.setting == setting]
                row = {
                    "task": task,
                    "setting": self.label(setting, all_tasks),
                    "seeds": cur.seed.nunique(),
                }
                if self.groupings:
                    row["grouping"] = ", ".join(self._groupings_of(setting)) or (
                        "-" if setting == stl_setting else ""
                    )
                for m in (m1, m2):
                    mean, half = mean_ci(cur[cur.metric == m]["value"].to_numpy())
                    row[f"{m}"], row[f"{m}_ci"] = mean, half
                problem = self.stl_problem(task, _variant(setting))
                row["delta"], row["delta_ci"], row["verdict"] = math.nan, math.nan, ""
                if setting == stl_setting:
                    row["verdict"] = f"not converged: {problem}" if problem else ""
                elif not stl.empty:
                    mine = cur[cur.metric == m2].set_index("seed")["value"]
                    paired = mine.index.intersection(stl.index)
                    d = (mine[paired] - stl[paired]).to_numpy()
                    if len(d):
                        v = judge(d, self.margin, self.alpha)
                        row["delta"], row["delta_ci"] = v.mean, v.half
                        row["verdict"] = "STL not converged" if problem else v.text()
                row["delta_metric"] = m2
                out.append(row)
        return pd.DataFrame(out)

    def stl_problem(self, task: str, variant: str = "") -> str:
        """Why the STL models of ``task`` (trained the ``variant`` way) are no fair baseline, or
        '': still improving (the best dev score of most seeds was at their last evaluation: the
        step budget stopped them, not early stopping), or at the majority-class level (mean test
        score of the main metric within one point of always answering the most frequent label)."""
        key = (task, variant)
        if key not in self._problems:  # asked once per table row and grouping: worked out once
            self._problems[key] = self._stl_problem(task, variant)
        return self._problems[key]

    def _stl_problem(self, task: str, variant: str) -> str:
        runs = [r for r in self.records if r.setting == f"stl:{task}{variant}"]
        if not runs:
            return ""
        reasons = []
        rising = sum(_still_improving(r) for r in runs)
        if 2 * rising > len(runs):
            reasons.append(f"still improving at its last step ({rising} of {len(runs)} seeds)")
        main = METRICS[self._kind(task)][1]
        majority = [(r.metrics.get("majority") or {}).get(task, {}).get(main) for r in runs]
        majority = [m for m in majority if m is not None]
        scores = [r.metrics["test"][task][main] for r in runs if task in r.metrics.get("test", {})]
        if majority and scores and np.mean(scores) <= np.mean(majority) + MAJORITY_TOLERANCE:
            reasons.append(
                f"at the majority-class level ({LABELS[main]} {np.mean(scores) * 100:.1f}, "
                f"majority {np.mean(majority) * 100:.1f})"
            )
        return "; ".join(reasons)

    @staticmethod
    def label(setting: str, all_tasks: set[str]) -> str:
        """'STL', 'MTL all tasks' (a group of every task, 3 or more) or 'MTL a+b'; with the way
        the runs were trained in brackets when a store holds several."""
        variant = _variant(setting)
        kind, _, names = setting.removesuffix(variant).partition(":")
        tasks = names.split("+")
        trained = f" [{variant.removeprefix(' @')}]" if variant else ""
        if kind == "stl":
            return "STL" + trained
        if kind == "fewshot":
            return "few-shot LLM"
        if len(tasks) >= 3 and set(tasks) == all_tasks:
            return f"MTL all {len(tasks)} tasks{trained}"
        return "MTL " + names + trained

    def setting_of(self, group: Sequence[str]) -> str:
        """The setting (e.g. 'mtl:a+b') under which the runs of ``group`` are stored, whatever the
        order of its tasks."""
        kind = "stl" if len(set(group)) == 1 else "mtl"
        return self._settings.get((kind, frozenset(group)), f"{kind}:{'+'.join(group)}")

    def _groupings_of(self, setting: str) -> list[str]:
        base = setting.removesuffix(_variant(setting))
        return [
            k
            for k, part in self.groupings.items()
            if base.startswith("mtl:") and any(self.setting_of(g) == base for g in part)
        ]

    @property
    def sequential(self) -> bool:
        """Whether the verdicts' α is spent over looks (seeds added until a verdict settles)."""
        return isinstance(self.alpha, Looks)

    def by_grouping(self) -> pd.DataFrame:
        """Per named grouping: the mean MTL − STL difference in the main metric, ± its CI over
        seeds (95%, or at the level of the look with :class:`~taskmix.stats.Looks`).

        ``delta_grouped`` averages over the tasks trained in a group of two or more (its
        standard error: ``delta_grouped_se``);
        ``delta_all`` over every task, counting a task left alone as 0 (it keeps its STL model).
        ``helped`` / ``hurt``: grouped tasks whose mean difference is above / below zero.
        ``seeds_needed``: of an inconclusive verdict on ≥ 2 seeds, the seeds a difference of the
        observed size would need (NaN otherwise, or when more than any practical number).
        """
        long = self.frame()
        if long.empty or not self.groupings:
            return pd.DataFrame()
        main = {t: METRICS[self._kind(t)][1] for t in set(long.task)}
        long = long[[main[t] == m for t, m in zip(long.task, long.metric, strict=True)]]
        value = long.set_index(["setting", "task", "seed"])["value"]
        seeds = sorted(set(long.seed))
        rows = []
        ways = sorted({_variant(s) for s in long.setting if s.startswith(("stl:", "mtl:"))})
        for name, partition in self.groupings.items():
            for v in ways:
                row = self._grouping_row(name, partition, v, value, long, seeds)
                if row["seeds"] or len(ways) == 1:  # a way of training that never ran it: no row
                    rows.append(row)
        return pd.DataFrame(rows)

    def _grouping_row(self, name, partition, v: str, value, long, seeds) -> dict:
        """The grouping's row for the runs trained one way (``v``: its setting suffix)."""
        tasks = sorted({t for t in long.task if f"stl:{t}{v}" in set(long.setting)})
        pairs = [(self.setting_of(g) + v, t) for g in partition if len(g) > 1 for t in g]
        per_seed, all_seed, per_task = [], [], defaultdict(list)
        for seed in seeds:
            try:
                d = [value[(s, t, seed)] - value[(f"stl:{t}{v}", t, seed)] for s, t in pairs]
            except KeyError:
                continue  # this seed has not been run for every setting
            for (_, t), x in zip(pairs, d, strict=True):
                per_task[t].append(x)
            per_seed.append(float(np.mean(d)) if d else 0.0)
            all_seed.append(float(np.sum(d)) / max(1, len(tasks)))
        judged = judge(per_seed, self.margin, self.alpha)
        ma, ha = mean_ci(all_seed)
        means = [np.mean(x) for x in per_task.values()]
        unfair = [t for _, t in pairs if self.stl_problem(t, v)]
        if not pairs:
            said = "nothing grouped"
        elif unfair:
            said = f"STL not converged ({', '.join(unfair)})"
        else:
            said = judged.text()
        return {
            "grouping": name + (f" [{v.removeprefix(' @')}]" if v else ""),
            "groups": "; ".join("+".join(g) for g in partition if len(g) > 1) or "-",
            "tasks_grouped": len(pairs),
            "seeds": len(per_seed),
            "delta_grouped": judged.mean,
            "delta_grouped_ci": judged.half,
            "delta_grouped_se": judged.se,
            "delta_all": ma,
            "delta_all_ci": ha,
            "p_difference": judged.p_difference,
            "p_equivalence": judged.p_equivalence,
            "seeds_needed": float(judged.needed or "nan"),
            "helped": int(sum(x > 0 for x in means)),
            "hurt": int(sum(x < 0 for x in means)),
            "verdict": said,
            "fair": not unfair,
        }

    def best_grouping(self) -> tuple[str, list[list[str]]] | None:
        """(name, partition) of the named grouping with the largest mean difference from STL over
        every task (``delta_all``; a task left alone counts 0); None when no grouping is above 0
        (the single-task models are best), and groupings compared with STL models that had not
        converged are passed over."""
        table = self.by_grouping()
        if table.empty:
            return None
        # a gain over STL models that had not converged is no gain: such groupings are not chosen
        table = table[(table.seeds > 0) & table.fair]
        table = table.sort_values("delta_all", ascending=False, kind="stable")
        if table.empty or not table.delta_all.iloc[0] > 0:
            return None
        name = str(table.grouping.iloc[0]).split(" [")[0]
        return name, self.groupings[name]

    def runs_of(self, partition: Sequence[Sequence[str]] | None) -> list[RunRecord]:
        """The runs that train ``partition``: each group's MTL runs and each lone task's STL runs
        (None: every task's STL runs)."""
        if partition is None:
            partition = [[t] for t in sorted({t for r in self.records for t in r.tasks})]
        wanted = {self.setting_of(g) for g in partition}
        return [r for r in self.records if r.setting.removesuffix(_variant(r.setting)) in wanted]

    def verdicts(self) -> list[str]:
        """One line per grouping: whether training its groups together helps, hurts, is
        equivalent within the margin or is inconclusive (and then the seeds that would settle
        it), from the mean paired difference over seeds; or that its STL baseline had not
        converged. Each CI is of its own comparison (no multiplicity adjustment across them)."""
        lines = []
        for r in self.by_grouping().itertuples():
            if r.verdict == "nothing grouped":
                lines.append(f"{r.grouping}: no task was grouped (every task trains alone)")
                continue
            ci = "" if math.isnan(r.delta_grouped_ci) else f" ± {r.delta_grouped_ci * 100:.2f}"
            seeds = f"{r.seeds} seed{'s' if r.seeds != 1 else ''}"
            lines.append(
                f"{r.grouping} ({r.groups}): {r.verdict} — {r.delta_grouped * 100:+.2f}{ci} points "
                f"on the grouped tasks over {seeds}"
                + (" (one seed has no confidence interval)" if r.seeds < 2 else "")
                + ("" if r.fair else ": not counted as a gain; train STL longer")
            )
        if lines:
            lines.append(
                f"(equivalent: within ± {self.margin * 100:g} points of STL by two one-sided tests "
                "at α = 0.05; ≈N seeds: what a difference of the observed size would need)"
            )
        return lines

    def printable_groupings(self) -> pd.DataFrame:
        """``by_grouping`` with differences as '±' strings in points, for the console and HTML."""
        t = self.by_grouping()
        if t.empty:
            return t

        def pts(m, h):
            return (
                "-"
                if math.isnan(m)
                else f"{m * 100:+.2f}" + ("" if math.isnan(h) else f" ± {h * 100:.2f}")
            )

        return pd.DataFrame(
            [
                {
                    "grouping": r.grouping,
                    "groups": r.groups,
                    "seeds": r.seeds,
                    "Δ grouped tasks": pts(r.delta_grouped, r.delta_grouped_ci),
                    "Δ all tasks": pts(r.delta_all, r.delta_all_ci),
                    "helped / hurt": f"{r.helped} / {r.hurt} of {r.tasks_grouped}",
                    "verdict": r.verdict,
                }
                for r in t.itertuples()
            ]
        )

    def settings(self) -> pd.DataFrame:
        """Per training setting: tasks, models, trainable parameters (mean over seeds), time."""
        by: dict[str, list[RunRecord]] = defaultdict(list)
        for r in self.records:
            by[r.setting].append(r)
        rows = []
        for setting, recs in by.items():
            params = [r.metrics.get("trainable_parameters") for r in recs]
            params = [p for p in params if p is not None]  # runs of older versions lack it
            rows.append(
                {
                    "setting": setting,
                    "kind": recs[0].kind,
                    "tasks": len(recs[0].tasks),
                    "models": 1,
                    "trainable_parameters": int(np.mean(params)) if params else None,
                    "seeds": len(recs),
                    "mean_minutes": float(np.mean([r.duration or 0 for r in recs]) / 60),
                }
            )
        return pd.DataFrame(rows)

    def training(self) -> pd.DataFrame:
        """How the models were trained, one row per distinct training configuration: model, input
        length, adaptation, step budget and the steps actually run, batch, learning rate, sampler,
        and the settings and seeds trained so — what a reader needs to judge the numbers."""
        groups: dict[str, list[RunRecord]] = defaultdict(list)
        for r in self.records:
            key = json.dumps(
                [r.config.get("model", {}), r.config.get("train", {})], sort_keys=True, default=str
            )
            groups[key].append(r)
        rows = []
        for recs in groups.values():
            model, train = recs[0].config.get("model", {}), recs[0].config.get("train", {})
            steps = [r.metrics.get("steps") for r in recs if r.metrics.get("steps")]
            if train.get("max_steps"):
                budget = f"{train['max_steps']}" + (
                    " per task" if train.get("steps_per_task") else ""
                )
            else:
                budget = f"{train.get('epochs', '-')} epochs" if train else "-"
            rows.append(
                {
                    "runs": len(recs),
                    "settings": len({r.setting for r in recs}),
                    "seeds": ",".join(map(str, sorted({r.seed for r in recs}))),
                    "model": model.get("name", "-"),
                    "max length": model.get("max_length", "-"),
                    "adaptation": train.get("adaptation", "-"),
                    "step budget": budget,
                    "steps run (median)": int(np.median(steps)) if steps else "-",
                    "batch": train.get("batch_size", "-"),
                    "lr": train.get("lr", "-"),
                    "sampler": train.get("sampler", "-"),
                    "early stopping": _early_stopping(train),
                }
            )
        return pd.DataFrame(rows)

    def data_sizes(self) -> pd.DataFrame:
        """Examples per split of each task, as the runs saw them (runs made before taskmix recorded
        them show '-')."""
        sizes: dict[str, dict] = {}
        for r in self.records:
            for task, n in (r.metrics.get("rows") or {}).items():
                sizes.setdefault(task, n)
        tasks = list(dict.fromkeys(t for r in self.records for t in r.metrics.get("test", {})))
        return pd.DataFrame(
            [
                {"task": t, **{s: sizes.get(t, {}).get(s, "-") for s in ("train", "dev", "test")}}
                for t in tasks
            ],
            columns=["task", "train", "dev", "test"],
        )

    def strategies(self, groups: Sequence[Sequence[str]]) -> pd.DataFrame:
        """One model per task (STL) vs one model per group: models and trainable parameters."""
        st = self.settings().set_index("setting") if self.records else pd.DataFrame()
        tasks = list(dict.fromkeys(t for g in groups for t in g))

        def params(settings: list[str]) -> int:
            counts = (st.loc[s, "trainable_parameters"] for s in settings if s in st.index)
            return int(sum(c for c in counts if pd.notna(c)))

        stl = [f"stl:{t}" for t in tasks]
        mtl = [self.setting_of(g) for g in groups]
        return pd.DataFrame(
            [
                {
                    "strategy": "STL (one model per task)",
                    "models": len(stl),
                    "trainable_parameters": params(stl),
                },
                {
                    "strategy": "MTL (one model per group)",
                    "models": len(mtl),
                    "trainable_parameters": params(mtl),
                },
            ]
        )

    def printable(self) -> pd.DataFrame:
        """The table with metrics as 'mean ± CI' strings in percent, for the console and HTML."""
        t = self.table()
        if t.empty:
            return t
        rows = []
        for _, r in t.iterrows():
            m1, m2 = METRICS[self._kind(r.task)]
            rows.append(
                {
                    "task": r.task,
                    "setting": r.setting,
                    **({"grouping": r.grouping} if self.groupings else {}),
                    "seeds": r.seeds,
                    "metric 1": f"{LABELS[m1]} {format_ci(r[m1], r[m1 + '_ci'])}",
                    "metric 2": f"{LABELS[m2]} {format_ci(r[m2], r[m2 + '_ci'])}",
                    "Δ vs STL": ""
                    if math.isnan(r.delta)
                    else (
                        f"{r.delta * 100:+.1f}"
                        + ("" if math.isnan(r.delta_ci) else f" ± {r.delta_ci * 100:.1f}")
                    ),
                    "verdict": r.verdict,
                }
            )
        return pd.DataFrame(rows)


def comparison_from_store(
    out: str | Path, suite: str | None = None, allow_empty: bool = False, margin: float = MARGIN
) -> tuple[Comparison, dict | None]:
    """The comparison of the finished STL, MTL and few-shot runs in the store under ``out`` (of
    ``suite``, which must be named when the store holds several), with the groupings saved beside
    it; and how the recommended grouping was found (the grouper's record, or None). Read-only."""
    db = Path(out) / STORE_FILE
    records = []
    if db.exists() or not allow_empty:
        with RunStore(db, readonly=True) as store:
            records = store.runs(suite=suite, status="finished", kinds=("stl", "mtl", "fewshot"))
    if not records:
        if allow_empty:
            return Comparison([], margin=margin), None
        raise ConfigError(
            f"{db}: no finished runs" + (f" of suite {suite!r}" if suite else ""),
            hint="run `taskmix train` first",
        )
    suites = sorted({r.suite for r in records})
    if len(suites) > 1:
        raise ConfigError(
            f"{db} holds runs of several suites: {', '.join(suites)}",
            hint="choose one with --suite",
        )
    groupings, grouper = load_groupings(out, suites[0])
    return Comparison(records, groupings=groupings, margin=margin), grouper


def _variant(setting: str) -> str:
    """The suffix naming how a setting's runs were trained (' @max_steps=2'), or ''."""
    i = setting.find(" @")
    return setting[i:] if i >= 0 else ""


def _variants(records) -> dict[str, str]:
    """Run id → ' @<what differs>' when the runs were trained in more than one way (the model or
    training settings differ), else nothing; runs without such settings (few-shot) get none."""
    ways: dict[str, dict] = {}
    for r in records:
        if "train" in r.config:
            flat = {**r.config.get("model", {}), **r.config["train"]}
            ways[json.dumps(flat, sort_keys=True, default=str)] = flat
    if len(ways) < 2:
        return {}
    differ = [
        k
        for k in dict.fromkeys(k for w in ways.values() for k in w)
        if len({json.dumps(w.get(k), default=str) for w in ways.values()}) > 1
    ]
    label = {key: " @" + ", ".join(f"{k}={w.get(k)}" for k in differ) for key, w in ways.items()}
    return {
        r.id: label[
            json.dumps(
                {**r.config.get("model", {}), **r.config["train"]}, sort_keys=True, default=str
            )
        ]
        for r in records
        if "train" in r.config
    }


def keep_models(comparison: Comparison, keep: str) -> list[dict]:
    """The models a ``train --keep`` run keeps: ``all``, or ``best`` — those of the best grouping
    (:meth:`Comparison.best_grouping`; the STL models when no grouping beats them); the saved
    models of the other runs compared are deleted. One row per kept model: grouping, setting,
    seed, folder."""
    best = comparison.best_grouping() if keep == "best" else None
    kept = comparison.runs_of(best[1] if best else None) if keep == "best" else comparison.records
    kept_ids = {r.id for r in kept}
    rows = []
    for r in comparison.records:
        folder = Path(r.artifacts or "") / "model"
        if not (folder / "taskmix_model.json").is_file():
            continue
        if r.id in kept_ids:
            name = (best[0] if best else "stl") if keep == "best" else "-"
            rows.append(
                {"grouping": name, "setting": r.setting, "seed": r.seed, "model": str(folder)}
            )
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return sorted(rows, key=lambda x: (x["setting"], x["seed"]))


def _still_improving(record: RunRecord) -> bool:
    """Whether a run's best dev score was at its last evaluation, after it had risen: its step
    budget ended it while it was still learning (early stopping would have ended it later)."""
    history = record.metrics.get("history") or []
    best = record.metrics.get("best_step")
    if len(history) < 2 or best is None:
        return False
    return best >= history[-1]["step"] and history[-1]["dev_score"] > history[0]["dev_score"]


def _early_stopping(train: dict) -> str:
    """How a run's early stopping was set, from its stored train config."""
    if not train.get("patience"):
        return "no"
    after = (
        ", majority-level evaluations not counted"
        if train.get("patience_from") == "learned"
        else ""
    )
    return f"patience {train['patience']}{after}"
