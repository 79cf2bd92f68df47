"""One scale for every relatedness signal: a task × task affinity matrix, and groups from it.

``Affinity.matrix[i, j]`` says how much task i is expected to help task j (row: the source, or the
task a lookahead step was taken on; column: the target); higher means better trained together.
Each signal keeps its own units, with ``neutral`` the value that means "neither helps nor hurts"
(0 for measured transfer, surrogate effects, TAG and gradient cosine; the median pair for
similarities that have no natural zero, PVI and TextEmb). ``se`` holds its standard error where
the signal has one.

Groups come from any affinity by one partition search, TAG's objective (Fifty et al. 2021): the
summed affinity of each task to the other tasks of its group, Σ_g Σ_{j∈g} mean_{i∈g, i≠j} A[i, j]
(above neutral), over partitions into groups of at most ``max_size`` (a task alone scores 0).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskmix.errors import ConfigError
from taskmix.group.partition import candidate_groups, choose_partition


@dataclass(frozen=True)
class Affinity:
    """A task × task affinity matrix of one signal (see the module)."""

    name: str
    matrix: pd.DataFrame
    se: pd.DataFrame | None = None
    neutral: float | None = None  # None: the median of the off-diagonal entries
    description: str = ""

    def __post_init__(self):
        m = self.matrix
        if list(m.index) != list(m.columns):
            raise ConfigError(f"affinity {self.name!r}: rows and columns must name the same tasks")

    @property
    def tasks(self) -> list[str]:
        return list(self.matrix.index)

    def _off_diagonal(self, m: pd.DataFrame) -> pd.DataFrame:
        return m.mask(np.eye(len(m), dtype=bool))

    @property
    def zero(self) -> float:
        """The neutral value in force."""
        if self.neutral is not None:
            return self.neutral
        return float(np.nanmedian(self._off_diagonal(self.matrix).to_numpy(dtype=float)))

    def centered(self) -> pd.DataFrame:
        """The matrix minus its neutral value, diagonal NaN: > 0 means expected to help."""
        return self._off_diagonal(self.matrix.astype(float) - self.zero)

    def standardised(self) -> pd.DataFrame:
        """``centered`` over the root mean square of its off-diagonal entries (unitless: signals
        in different units can be averaged; the sign, above or below neutral, is kept)."""
        c = self.centered()
        rms = float(np.sqrt(np.nanmean(c.to_numpy(dtype=float) ** 2)))
        return c / rms if rms > 0 else c * 0.0

    def pair(self, a: str, b: str) -> float:
        """The symmetrised affinity of two tasks above neutral: (A[a, b] + A[b, a]) / 2."""
        c = self.centered()
        return float(np.nanmean([c.loc[a, b], c.loc[b, a]]))

    def pairs(self) -> pd.Series:
        """``pair`` for every unordered pair, named 'a+b', in suite order."""
        return pd.Series(
            {f"{a}+{b}": self.pair(a, b) for a, b in itertools.combinations(self.tasks, 2)},
            name=self.name,
            dtype=float,
        )

    def group_score(self, group: Sequence[str]) -> float:
        """Mean over the group's tasks j of their mean affinity from the others, above neutral
        (TAG's objective over |g|)."""
        c = self.centered()
        per_task = [np.nanmean([c.loc[i, j] for i in group if i != j]) for j in group]
        return float(np.nanmean(per_task)) if len(group) > 1 else 0.0

    def partition(self, max_size: int = 3, search: str = "auto") -> list[list[str]]:
        """The partition with the largest summed affinity of each task to its group (groups of
        2 … ``max_size``; a group must score above neutral to be formed)."""
        scores = {g: self.group_score(g) for g in candidate_groups(self.tasks, max_size)}
        return choose_partition(
            self.tasks, {g: v for g, v in scores.items() if np.isfinite(v) and v > 0}, search
        )

    def to_frame(self) -> pd.DataFrame:
        """Long format: source, target, affinity (and se), one row per ordered pair."""
        rows = []
        for i, j in itertools.permutations(self.tasks, 2):
            row = {"signal": self.name, "source": i, "target": j, "affinity": self.matrix.loc[i, j]}
            if self.se is not None:
                row["se"] = self.se.loc[i, j]
            rows.append(row)
        return pd.DataFrame(rows)


def _square(values: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=float), index=list(names), columns=list(names))


def pvi_affinity(values: dict[str, np.ndarray]) -> Affinity:
    """PVI: minus the distance between two tasks' PVI distributions, |Cohen's d| of their means
    (equally hard for the model → 0, the largest), with the standard error of d."""
    names = list(values)
    n = len(names)
    d, se = np.zeros((n, n)), np.zeros((n, n))
    for a, b in itertools.combinations(range(n), 2):
        x, y = np.asarray(values[names[a]], float), np.asarray(values[names[b]], float)
        na, nb = len(x), len(y)
        pooled = ((na - 1) * x.var(ddof=1) + (nb - 1) * y.var(ddof=1)) / max(1, na + nb - 2)
        dist = abs(x.mean() - y.mean()) / np.sqrt(pooled) if pooled > 0 else 0.0
        d[a, b] = d[b, a] = -dist
        se[a, b] = se[b, a] = np.sqrt((na + nb) / (na * nb) + dist**2 / (2 * (na + nb)))
    return Affinity(
        "pvi",
        _square(d, names),
        _square(se, names),
        None,
        "minus |Cohen's d| between the tasks' PVI distributions",
    )


def textemb_affinity(scores: pd.DataFrame) -> Affinity:
    """TextEmb: cosine of the tasks' mean input embeddings (``TextEmb.scores_``)."""
    return Affinity("textemb", scores.astype(float), None, None, "cosine of mean input embeddings")


def transfer_affinity(scores: pd.DataFrame, name: str = "transfer") -> Affinity:
    """Measured (or predicted) transfer: ``scores`` is a target × source table (as
    ``TransferMatrix.scores()``); the affinity is its transpose, 0 neutral."""
    names = list(dict.fromkeys([*scores.index, *scores.columns]))
    m = scores.reindex(index=names, columns=names).T
    return Affinity(name, m.astype(float), None, 0.0, "transfer score source → target")


def taskshop_affinity(matrix, similarity: pd.DataFrame, lam: float = 0.7) -> Affinity:
    """TaskShop (Kim et al. 2023): for each target t, every source's transfer to t estimated
    from ``similarity`` (target × source, e.g. Retrieval-of-Experts) and pivots through the
    measured ``matrix`` (a :class:`~taskmix.relate.matrix.TransferMatrix`) without t — t's own
    measured transfers never enter its column. Its scale mixes the similarity's with the
    transfer scores', so the median pair is neutral."""
    from taskmix.relate.taskshop import TaskShop

    names = [t for t in matrix.tasks if t in similarity.index and t in similarity.columns]
    m = pd.DataFrame(np.nan, index=names, columns=names)
    for t in names:
        shop = TaskShop(lam).fit(matrix.without(t))
        sources = [s for s in names if s != t and np.isfinite(similarity.loc[t, s])]
        m.loc[sources, t] = shop.predict(t, similarity.loc[t], sources)["score"]
    return Affinity("taskshop", m, None, None, f"TaskShop estimate (λ = {lam:g}), target held out")


def surrogate_affinity(effects: pd.DataFrame) -> Affinity:
    """Surrogate task modeling: ``effects`` (``SurrogateGrouper.effects_``, row target, column the
    data set whose effect it is) transposed to source × target, 0 neutral."""
    return Affinity(
        "surrogate", effects.T.astype(float), None, 0.0, "ridge effect of source on target"
    )


def lookahead_affinities(hook) -> list[Affinity]:
    """TAG's lookahead affinity and the gradient cosine measured by a
    :class:`taskmix.train.lookahead.LookaheadAffinity` hook during one MTL run."""
    out = []
    for name, (mean, se), text in (
        ("tag", hook.affinity(), f"TAG lookahead 1 − L_j(θ − η g_i)/L_j(θ), {hook.samples} steps"),
        ("gradient cosine", hook.cosine(), f"cos(g_i, g_j) on the encoder, {hook.samples} steps"),
    ):
        out.append(Affinity(name, _square(mean, hook.names), _square(se, hook.names), 0.0, text))
    return out


def combine(
    affinities: Sequence[Affinity], weights: dict[str, float] | None = None, name: str = "combined"
) -> Affinity:
    """One predicted affinity from several signals: the weighted mean of their standardised
    matrices (each above its neutral, over its spread), on the tasks they share; equal weights
    unless ``weights`` (by signal name) are given, e.g. fitted on measured ground truth."""
    if not affinities:
        raise ConfigError("nothing to combine: give at least one affinity")
    names = [t for t in affinities[0].tasks if all(t in a.tasks for a in affinities)]
    w = weights or {a.name: 1.0 for a in affinities}
    parts = [(w.get(a.name, 0.0), a.standardised().loc[names, names]) for a in affinities]
    total = sum(abs(x) for x, _ in parts)
    if total == 0:
        raise ConfigError("every weight is 0")
    stack = np.stack([x * m.to_numpy(dtype=float) for x, m in parts])
    mean = np.nansum(stack, axis=0) / total
    used = ", ".join(f"{a.name} ×{w.get(a.name, 0.0):.2g}" for a in affinities)
    return Affinity(name, _square(mean, names), None, 0.0, f"weighted standardised mean: {used}")
