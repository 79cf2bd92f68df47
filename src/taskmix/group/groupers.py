"""Groupers: which tasks to train together. One small estimator per method, chosen by name.

Every grouper's ``fit(suite)`` returns ``self`` with ``groups_``: a partition of the tasks (groups
of two or more are trained together, singletons alone) that ``MultiTaskTrainer.compare`` takes.

- :class:`PVIGrouper` (Li et al.): tasks whose PVI distributions do not differ significantly
  (or differ by a small effect) are grouped; ``different_`` holds the most different pairs, the
  negative control.
- :class:`TextEmbGrouper`: tasks whose mean input embeddings are the most similar (Vu et al.).
- :class:`SurrogateGrouper`: tasks whose linear-surrogate effects on each other, measured by
  training random subsets together, are positive (Li, Nguyen & Zhang).
- :class:`AllGrouper`: every task in one model. :class:`RandomGrouper`: seeded random groups.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.config import GroupConfig, ModelConfig, PVIConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.estimator import Estimator
from taskmix.group.partition import (
    candidate_groups,
    choose_partition,
    group_sizes,
    random_partition,
    sized_partition,
)
from taskmix.group.stats import (
    d_to_eta_squared,
    equal_subsamples,
    group_equivalence,
    group_test,
)
from taskmix.group.surrogates import LinearSurrogate
from taskmix.relate.pvi import PVI
from taskmix.relate.textemb import TextEmb
from taskmix.stats import CORRECTION_NAMES, adjust

log = logging.getLogger(__name__)


class Grouper(Estimator):
    """Base of the groupers: a ``GroupConfig`` (``config``, with keyword overrides of its fields;
    PVI keys such as ``mode`` or ``folds`` may be given at the top level, as in
    ``PVIGrouper(mode="probe", alpha=0.01)``) and the shared model / feature-cache handles. ``fit``
    resolves them into ``config_`` and calls the method's ``_fit``."""

    method = ""

    def __init__(
        self,
        config: GroupConfig | None = None,
        *,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        out: str | Path = "runs",
        show_progress: bool = False,
        executor=None,
        **params,
    ):
        self.config = config
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.out = out
        self.show_progress = show_progress
        self.executor = executor
        self.params = params

    def fit(self, suite: Suite) -> Grouper:
        params = {"method": self.method, **self.params} if self.method else dict(self.params)
        pvi = {
            k: params.pop(k)
            for k in list(params)
            if k in PVIConfig.model_fields and k not in GroupConfig.model_fields
        }
        base = self.config.model_dump() if self.config is not None else {}
        if pvi:
            params["pvi"] = {**base.get("pvi", {}), **pvi}
        self.config_ = self.resolve(GroupConfig, overrides=params)
        self._fit(suite)
        return self

    def _fit(self, suite: Suite) -> None:
        raise NotImplementedError

    def _candidate_frame(self, names: Sequence[str], score, column: str) -> pd.DataFrame:
        """Every candidate group of ``names`` with its ``score`` (in ``column``) and whether it was
        chosen, best first."""
        chosen = {tuple(g) for g in self.groups_}
        rows = [
            {"group": "+".join(g), "size": len(g), column: score(g), "chosen": g in chosen}
            for g in candidate_groups(list(names), self.config_.max_size)
        ]
        return pd.DataFrame(rows).sort_values(column, ascending=False, ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"group": ["+".join(g) for g in self.groups_], "size": [len(g) for g in self.groups_]}
        )

    def describe(self) -> str:
        """One sentence on how the groups were chosen, for reports."""
        return self.method

    def record(self) -> dict:
        """What `report` needs later to redraw how the groups were chosen: the config, and the
        folder of the PVI table the groups came from (if any)."""
        folder = getattr(getattr(self, "pvi_", None), "folder_", None)
        return {
            "config": self.config_.model_dump(mode="json"),
            "pvi": str(Path(folder).resolve()) if folder else None,
        }


class AllGrouper(Grouper):
    """Every task in one model."""

    method = "all"

    def _fit(self, suite: Suite) -> None:
        self.groups_ = [suite.names]

    def describe(self) -> str:
        return "all tasks in one model"


class RandomGrouper(Grouper):
    """Random groups of the given sizes (default: pairs), seeded."""

    method = "random"

    def _fit(self, suite: Suite) -> None:
        sizes = self.config_.sizes or [2] * (len(suite) // 2)
        self.groups_ = random_partition(suite.names, sizes, self.config_.seed)

    def describe(self) -> str:
        return f"random groups of sizes {group_sizes(self.groups_)} (seed {self.config_.seed})"


class TextEmbGrouper(Grouper):
    """Groups of tasks whose mean input embeddings are the most similar (cosine)."""

    method = "textemb"

    def _fit(self, suite: Suite) -> None:
        self.similarity_ = TextEmb(model=self.model, backbone=self.backbone, cache=self.cache).fit(
            suite
        )
        names = suite.names
        if self.config_.sizes:
            self.groups_ = sized_partition(names, self.config_.sizes, self.similarity_.group_score)
            self.threshold_ = None
        else:
            scores = {
                g: self.similarity_.group_score(g)
                for g in candidate_groups(names, self.config_.max_size)
            }
            pairs = [v for g, v in scores.items() if len(g) == 2]
            self.threshold_ = (
                self.config_.min_similarity
                if self.config_.min_similarity is not None
                else float(np.median(pairs))
                if pairs
                else 1.0
            )
            similar = {g: v for g, v in scores.items() if v >= self.threshold_}
            self.groups_ = choose_partition(names, similar, self.config_.search)

    def to_frame(self) -> pd.DataFrame:
        return self._candidate_frame(
            self.similarity_.scores_.index, self.similarity_.group_score, "mean_cosine"
        )

    def describe(self) -> str:
        if self.threshold_ is None:
            return f"text-embedding similarity, groups of sizes {self.config_.sizes}"
        return f"text-embedding similarity: groups with mean cosine ≥ {self.threshold_:.3f}"


class PVIGrouper(Grouper):
    """Group tasks whose per-instance PVI distributions do not differ (Li, Miller, Bethard &
    Savova).

    >>> grouper = PVIGrouper(mode="probe", alpha=0.01).fit(suite)     # doctest: +SKIP
    >>> grouper.groups_, grouper.different_                              # doctest: +SKIP
    >>> grouper.to_frame()  # every candidate: statistic, p, effect, sizes  # doctest: +SKIP

    Every pair is compared by a two-sample t-test (Welch, or Student as in the paper) and every
    group of 3 … ``max_size`` by one-way ANOVA. With ``criterion="tost"`` (the default) a group is
    similar when two one-sided tests show every pair's PVI means within the margin
    (``max_effect`` in Cohen's d, or ``margin_bits``), its p-value adjusted across all candidates
    (Holm by default) below α = 0.05: similarity is shown, not assumed from a large p. With
    ``criterion="pvalue"`` (the paper) a group is similar when p ≥ α; with ``criterion="effect"``
    when its observed effect is small (|d| ≤ ``max_effect``, or the equivalent η² for larger
    groups). The partition maximises Σ |g|·evidence(g).
    """

    method = "pvi"

    def __init__(
        self,
        config: GroupConfig | None = None,
        *,
        pvi: PVI | None = None,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        out: str | Path = "runs",
        show_progress: bool = False,
        executor=None,
        **params,
    ):
        super().__init__(
            config,
            model=model,
            backbone=backbone,
            cache=cache,
            out=out,
            show_progress=show_progress,
            executor=executor,
            **params,
        )
        self.pvi = pvi

    def fit(self, suite: Suite | None = None) -> PVIGrouper:
        """Group the tasks of ``suite`` by their PVI: ``pvi`` (an already fitted
        :class:`~taskmix.relate.pvi.PVI`, e.g. a slow fine-tuned one) if given — ``suite`` may
        then be None — else PVI measured here."""
        return super().fit(suite)

    def _fit(self, suite: Suite | None) -> None:
        c = self.config_
        self.pvi_ = (
            self.pvi
            if self.pvi is not None
            else PVI(
                c.pvi,
                model=self.model,
                backbone=self.backbone,
                cache=self.cache,
                show_progress=self.show_progress,
            ).fit(suite)
        )
        values = self.pvi_.values()
        names = [n for n in suite.names if n in values] if suite is not None else list(values)
        if len(names) < 2:
            raise ConfigError("grouping needs PVI of at least two tasks")
        tested = equal_subsamples(values, c.subsample, c.seed)
        candidates = candidate_groups(names, c.max_size)
        student = c.test == "student"
        self.tests_ = [group_test(g, [tested[t] for t in g], equal_var=student) for g in candidates]
        # the equivalence tests, and every p-value adjusted for the number of candidates tested
        unit, margin = ("bits", c.margin_bits) if c.margin_bits else ("d", c.max_effect)
        self.p_equivalence_ = {
            g: group_equivalence([tested[t] for t in g], margin, unit, student) for g in candidates
        }
        self.p_adjusted_ = dict(
            zip(candidates, adjust([t.pvalue for t in self.tests_], c.correction), strict=True)
        )
        self.p_equivalence_adjusted_ = dict(
            zip(candidates, adjust(list(self.p_equivalence_.values()), c.correction), strict=True)
        )
        self.evidence_ = {t.tasks: self.evidence(t) for t in self.tests_ if self.similar(t)}
        self.groups_ = choose_partition(names, self.evidence_, c.search)
        self.different_ = self._most_different(names)

    # ------------------------------------------------------------ the criterion
    @property
    def _eta_bound(self) -> float:
        return d_to_eta_squared(self.config_.max_effect)

    def similar(self, t) -> bool:
        c = self.config_
        if c.criterion == "tost":
            return self.p_equivalence_adjusted_[t.tasks] < c.level
        if c.criterion == "pvalue":
            return t.pvalue >= c.level
        return (
            abs(t.cohens_d) <= c.max_effect
            if len(t.tasks) == 2
            else t.eta_squared <= self._eta_bound
        )

    def different(self, t) -> bool:
        c = self.config_
        if c.criterion == "tost":
            return self.p_adjusted_[t.tasks] < c.level
        if c.criterion == "pvalue":
            return t.pvalue < c.level
        return abs(t.cohens_d) > c.max_effect

    def evidence(self, t) -> float:
        """How strongly a similar group is similar, in [0, 1]: one minus its adjusted equivalence
        p-value (tost), its p-value (pvalue), or 1 − η²/bound (effect)."""
        if self.config_.criterion == "tost":
            return 1.0 - self.p_equivalence_adjusted_[t.tasks]
        if self.config_.criterion == "pvalue":
            return t.pvalue
        return max(0.0, 1.0 - t.eta_squared / self._eta_bound)

    def _most_different(self, names: Sequence[str]) -> list[list[str]]:
        """Disjoint most-different pairs (as many as there are recommended groups, at least one)."""
        pairs = sorted(
            (t for t in self.tests_ if len(t.tasks) == 2 and self.different(t)),
            key=lambda t: (t.pvalue, -abs(t.cohens_d)),
        )
        wanted = max(1, len(group_sizes(self.groups_)))
        chosen, used = [], set()
        for t in pairs:
            if len(chosen) < wanted and used.isdisjoint(t.tasks):
                chosen.append(list(t.tasks))
                used.update(t.tasks)
        return chosen + [[n] for n in names if n not in used]

    # ------------------------------------------------------------ results
    def to_frame(self) -> pd.DataFrame:
        """Every candidate group: test, statistic, p-value, Cohen's d, η², sizes, mean PVIs,
        verdict."""
        chosen = {tuple(g) for g in self.groups_}
        different = {tuple(g) for g in self.different_ if len(g) > 1}
        rows = [
            {
                "group": "+".join(t.tasks),
                "size": len(t.tasks),
                "test": t.test,
                "statistic": t.statistic,
                "p_value": t.pvalue,
                "p_adjusted": self.p_adjusted_[t.tasks],
                "p_equivalence": self.p_equivalence_[t.tasks],
                "p_equivalence_adjusted": self.p_equivalence_adjusted_[t.tasks],
                "cohens_d": t.cohens_d,
                "eta_squared": t.eta_squared,
                "n": "/".join(map(str, t.sizes)),
                "mean_pvi": "/".join(f"{m:.3f}" for m in t.means),
                "similar": self.similar(t),
                "role": "recommended"
                if t.tasks in chosen
                else "most different"
                if t.tasks in different
                else "",
            }
            for t in self.tests_
        ]
        return pd.DataFrame(rows)

    def pvalue_matrix(self) -> pd.DataFrame:
        """Pairwise p-values, task × task (1 on the diagonal)."""
        names = list(self.pvi_.values())
        m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
        for t in self.tests_:
            if len(t.tasks) == 2:
                a, b = t.tasks
                m.loc[a, b] = m.loc[b, a] = t.pvalue
        return m

    def describe(self) -> str:
        c = self.config_
        test = "Student" if c.test == "student" else "Welch"
        margin = f"{c.margin_bits:g} bits" if c.margin_bits else f"|Cohen's d| < {c.max_effect:g}"
        rules = {
            "tost": f"two one-sided tests show every pair's PVI means within {margin} (p < α = "
            f"{c.level:g} after {CORRECTION_NAMES[c.correction]} across "
            f"{len(self.tests_)} candidate groups)",
            "pvalue": f"p ≥ α = {c.level:g} (no evidence of a difference; not evidence of "
            "similarity)",
            "effect": f"effect size small (|Cohen's d| ≤ {c.max_effect:g}; groups of 3+: η² ≤ "
            f"{self._eta_bound:.4f})",
        }
        rule = rules[c.criterion]
        data = (
            "all instances"
            if c.subsample is None
            else "equal seeded subsamples of "
            f"{'the smallest task size' if c.subsample == 'min' else c.subsample}"
        )
        anova = (
            ""
            if c.max_size < 3
            else f", one-way ANOVA for groups of 3{f' to {c.max_size}' if c.max_size > 3 else ''}"
        )
        return (
            f"PVI ({c.pvi.mode}) grouping: {test} t-test for pairs{anova}; "
            f"a group is similar when {rule}; tested on {data}"
        )


def rank_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """A candidate table for reading: recommended groups first, then the most different, then the
    rest by p-value (tables without roles are returned as they are)."""
    if not {"role", "p_value"} <= set(frame.columns):
        return frame
    key = frame["role"].map({"recommended": 0, "most different": 1}).fillna(2)
    return (
        frame.assign(_k=key)
        .sort_values(["_k", "p_value"], ascending=[True, False])
        .drop(columns="_k")
    )


def random_subsets(names: Sequence[str], count: int, size: int, seed: int) -> list[list[str]]:
    """``count`` distinct random subsets of ``size`` tasks (seeded), each task in at least one;
    fewer when there are not that many distinct subsets."""
    if not 2 <= size <= len(names):
        raise ConfigError(
            f"subsets of {size} tasks cannot be drawn from {len(names)} tasks",
            hint=f"choose subset_size between 2 and {len(names)}",
        )
    rng = np.random.default_rng(seed)
    total = math.comb(len(names), size)
    chosen: list[tuple[str, ...]] = []
    perm = [names[i] for i in rng.permutation(len(names))]
    for k in range(0, len(perm), size):  # first a cover: every task in some subset
        block = perm[k : k + size]
        block += [t for t in perm if t not in block][: size - len(block)]
        key = tuple(sorted(block, key=names.index))
        if key not in chosen:
            chosen.append(key)
    while len(chosen) < min(count, total):
        key = tuple(names[i] for i in sorted(rng.choice(len(names), size, replace=False)))
        if key not in chosen:
            chosen.append(key)
    return [list(g) for g in chosen]


class SurrogateGrouper(Grouper):
    """Task modeling (Li, Nguyen & Zhang, TMLR 2023), the surrogate baseline of the PVI paper: train
    one MTL model per random subset of tasks; for each task t, fit a ridge regression of t's dev
    score on which other tasks were in the subset, whose coefficient θ[t, s] is s's effect on t;
    group tasks by the symmetrised relevance (θ + θᵀ) / 2, keeping groups whose mean pairwise
    relevance is positive (as with textemb, fixed ``sizes`` take the most relevant groups)."""

    method = "surrogate"

    def __init__(
        self,
        config: GroupConfig | None = None,
        *,
        runner=None,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        out: str | Path = "runs",
        show_progress: bool = False,
        executor=None,
        **params,
    ):
        super().__init__(
            config,
            model=model,
            backbone=backbone,
            cache=cache,
            out=out,
            show_progress=show_progress,
            executor=executor,
            **params,
        )
        self.runner = runner

    def _fit(self, suite: Suite) -> None:
        c = self.config_
        if self.runner is None:
            raise ConfigError(
                "SurrogateGrouper trains subsets of tasks and needs a runner",
                hint="build it with taskmix.experiment.groupings.fit_grouper (it passes one that "
                "trains through the run store), or give runner=(suite, subsets) -> run records",
            )
        names = suite.names
        if len(names) < 3:
            raise ConfigError(
                f"surrogate grouping needs at least 3 tasks; suite {suite.name!r} has {len(names)}"
            )
        size = c.subset_size or max(2, math.ceil(len(names) / 2))
        self.subsets_ = random_subsets(names, c.subsets or 3 * len(names), size, c.seed)
        records = self.runner(suite, self.subsets_)

        def dev(r, t):
            return r.metrics["dev"][t][suite[t].main_metric]

        self.scores_ = pd.DataFrame(
            [
                {"subset": "+".join(r.tasks), "task": t, "score": dev(r, t)}
                for r in records
                for t in r.tasks
            ]
        )
        theta = pd.DataFrame(0.0, index=names, columns=names)
        for t in names:
            mine = [r for r in records if t in r.tasks]
            others = [s for s in names if s != t]
            X = np.array([[s in r.tasks for s in others] for r in mine], float)
            theta.loc[t, others] = (
                LinearSurrogate(alpha=c.ridge).fit(X, [dev(r, t) for r in mine]).effects_
            )
        self.effects_ = theta  # row: target, column: the data set whose effect it is
        self.relevance_ = ((theta + theta.T) / 2).mask(
            np.eye(len(names), dtype=bool)
        )  # diagonal: NaN
        if c.sizes:
            self.groups_ = sized_partition(names, c.sizes, self.group_score)
        else:
            scores = {g: self.group_score(g) for g in candidate_groups(names, c.max_size)}
            top = max([v for v in scores.values() if v > 0], default=1.0)
            self.groups_ = choose_partition(
                names, {g: v / top for g, v in scores.items() if v > 0}, c.search
            )

    def group_score(self, group: Sequence[str]) -> float:
        """Mean symmetrised relevance of the pairs in ``group``."""
        return float(
            np.mean([self.relevance_.loc[a, b] for a, b in itertools.combinations(group, 2)])
        )

    def to_frame(self) -> pd.DataFrame:
        return self._candidate_frame(self.relevance_.index, self.group_score, "relevance")

    def describe(self) -> str:
        return (
            f"surrogate relevance from {len(self.subsets_)} random subsets of "
            f"{len(self.subsets_[0])} tasks: "
            "groups whose tasks raise each other's dev scores on average"
        )


GROUPERS: dict[str, type[Grouper]] = {
    g.method: g for g in (PVIGrouper, TextEmbGrouper, SurrogateGrouper, AllGrouper, RandomGrouper)
}


def grouper_from_record(record: dict | None) -> PVIGrouper | None:
    """The PVI grouper saved by :meth:`Grouper.record`, refitted from its PVI table (statistics
    only, no training); None when there is no record or its PVI table is gone."""
    if not record or not record.get("pvi") or not Path(record["pvi"]).exists():
        return None
    return PVIGrouper(
        GroupConfig.model_validate(record["config"]), pvi=PVI.load(record["pvi"])
    ).fit(None)


def make_grouper(config: GroupConfig | None = None, **kw) -> Grouper:
    """The grouper named by ``config.method`` (not fitted); ``kw`` go to its constructor."""
    config = config or GroupConfig()
    return GROUPERS[config.method](config, **kw)
