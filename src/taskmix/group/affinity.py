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

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from scipy import optimize

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


def _stack(affinities: Sequence[Affinity]) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """The tasks every signal has, and each signal's standardised matrix on them."""
    if not affinities:
        raise ConfigError("nothing to combine: give at least one affinity")
    names = [t for t in affinities[0].tasks if all(t in a.tasks for a in affinities)]
    return names, {a.name: a.standardised().loc[names, names] for a in affinities}


def _weighted_sum(
    names: Sequence[str], z: dict[str, pd.DataFrame], weights: dict[str, float]
) -> np.ndarray:
    """Σ_k ``weights[k]`` · ``z[k]`` over the standardised matrices of :func:`_stack` on
    ``names`` (a signal without a weight, or a missing entry, adds 0)."""
    total = np.zeros((len(names), len(names)))
    for k, m in z.items():
        total += weights.get(k, 0.0) * np.nan_to_num(m.to_numpy(dtype=float))
    return total


def combine(
    affinities: Sequence[Affinity], weights: dict[str, float] | None = None, name: str = "combined"
) -> Affinity:
    """One predicted affinity from several signals: the weighted mean of their standardised
    matrices (each above its neutral, over its spread), on the tasks they share; equal weights
    unless ``weights`` (by signal name) are given."""
    names, z = _stack(affinities)
    w = weights or {a.name: 1.0 for a in affinities}
    total = sum(abs(w.get(a.name, 0.0)) for a in affinities)
    if total == 0:
        raise ConfigError("every weight is 0")
    mean = _weighted_sum(names, z, w) / total
    used = ", ".join(f"{a.name} ×{w.get(a.name, 0.0):.2g}" for a in affinities)
    return Affinity(name, _square(mean, names), None, 0.0, f"weighted standardised mean: {used}")


#: The ground truth `taskmix advise` fits its advisor on (``AdviseConfig.weights = "fitted"``):
#: every ordered pair of 8 real tasks (bench/data/pair_gains.csv, all 7 seeds: 28 pairs; MiniLM,
#: 300 training examples a task) with the measured gain of training the two together (points of
#: the main metric) and each signal standardised on those tasks (on 500-example samples; probe
#: transfer to 32 target examples scored on dev over 3 seeds; TAG from a 200-step run). Written by
#: ``python bench/advise_eval.py --skip-transfer --tag-steps 200`` (fitted on seeds 1–5, it was
#: checked on seeds 6–7 before they joined it); how the advisor ranks tasks it never saw:
#: bench/RESULTS.md.
ADVISOR_TABLE = "advisor_pairs.csv"


@functools.cache
def _advisor_table() -> pd.DataFrame:
    with resources.files(__package__).joinpath(ADVISOR_TABLE).open(encoding="utf-8") as f:
        return pd.read_csv(f)


@functools.cache
def advisor_truth() -> tuple[tuple[Affinity, ...], pd.DataFrame]:
    """:data:`ADVISOR_TABLE` as affinities (one a signal) and the task × task measured gains."""
    table = _advisor_table()
    tasks = list(dict.fromkeys([*table.source, *table.target]))

    def square(column: str) -> pd.DataFrame:
        m = table.pivot(index="source", columns="target", values=column)
        return m.reindex(index=tasks, columns=tasks).astype(float)

    signals = [c for c in table.columns if c not in ("source", "target", "gain", "gain_sd")]
    return tuple(Affinity(k, square(k), neutral=0.0) for k in signals), square("gain")


@functools.cache
def advisor_seed_sd() -> float:
    """How far one seed's measured gain of a pair falls from its mean in :data:`ADVISOR_TABLE`
    (points): the standard deviation over seeds, pooled over its pairs (root mean variance)."""
    return float(np.sqrt(np.mean(_advisor_table().gain_sd ** 2)))


def advisor_signals() -> list[str]:
    """The signals the fitted advisor can be fitted on (those of :data:`ADVISOR_TABLE`)."""
    return [a.name for a in advisor_truth()[0]]


def fitted_advisor(signals: Iterable[str]) -> AffinityModel:
    """The advisor `taskmix advise` combines ``signals`` with: an :class:`AffinityModel` fitted on
    :data:`ADVISOR_TABLE`'s pairs with only these signals (a signal left out by ``--signals``,
    or one that cannot be measured, gets the model refitted without it, not other weights)."""
    return _fit_advisor(frozenset(signals))


@functools.cache
def _fit_advisor(signals: frozenset[str]) -> AffinityModel:
    known, gains = advisor_truth()
    unknown = signals - {a.name for a in known}
    if unknown or not signals:
        raise ConfigError(
            f"the fitted advisor knows the signals {', '.join(advisor_signals())}; "
            + (f"not {', '.join(sorted(unknown))}" if unknown else "name at least one")
        )
    return AffinityModel().fit([a for a in known if a.name in signals], gains)


class AffinityModel:
    """The measured gain of training two tasks together, predicted from the signals: ``intercept_``
    + Σ ``weights_[s]`` · (signal s standardised), fitted by ridge least squares with
    non-negative weights (every signal means "higher: better together"; a signal that does not
    help gets weight 0) on a measured ground truth, e.g. bench/pair_gains.py's table.

    >>> model = AffinityModel(ridge=1.0).fit(signals, gains)      # doctest: +SKIP
    >>> model.predict(signals).partition(max_size=3)              # doctest: +SKIP

    ``gains`` is a task × task frame (row source, column target; NaN where not measured): a
    symmetric one for pair gains. The prediction is an :class:`Affinity` in the units of the
    gains, neutral 0, so a group is formed only where the predicted gain is positive.
    """

    def __init__(self, ridge: float = 1.0):
        if ridge < 0:
            raise ConfigError(f"ridge must be ≥ 0, got {ridge}")
        self.ridge = ridge

    def fit(self, affinities: Sequence[Affinity], gains: pd.DataFrame) -> AffinityModel:
        names, z = _stack(affinities)
        entries = [
            (a, b)
            for a, b in itertools.permutations(names, 2)
            if a in gains.index and b in gains.columns and np.isfinite(gains.loc[a, b])
        ]
        if len(entries) < 2:
            raise ConfigError("fitting the advisor needs at least 2 measured pairs")
        X = np.array([[np.nan_to_num(m.loc[a, b]) for m in z.values()] for a, b in entries])
        y = np.array([gains.loc[a, b] for a, b in entries], dtype=float)
        x_mean, y_mean = X.mean(axis=0), y.mean()
        # ridge as extra rows; non-negative least squares on the centred problem
        Xr = np.vstack([X - x_mean, np.sqrt(self.ridge * len(y)) * np.eye(X.shape[1])])
        yr = np.concatenate([y - y_mean, np.zeros(X.shape[1])])
        w = optimize.nnls(Xr, yr)[0]
        self.weights_ = {k: float(v) for k, v in zip(z, w, strict=True)}
        self.intercept_ = float(y_mean - x_mean @ w)
        self.n_pairs_ = len(entries)
        # how far a measured gain falls from the prediction (in sample): the prediction's se
        self.residual_sd_ = float(np.sqrt(np.mean((y - X @ w - self.intercept_) ** 2)))
        return self

    def predict(self, affinities: Sequence[Affinity], name: str = "combined") -> Affinity:
        """The predicted gain of every ordered pair (a signal the model was not fitted on: 0)."""
        if not hasattr(self, "weights_"):
            raise ConfigError("this AffinityModel is not fitted: call fit() or from_dict() first")
        names, z = _stack(affinities)
        value = self.intercept_ + _weighted_sum(names, z, self.weights_)
        np.fill_diagonal(value, np.nan)
        used = ", ".join(f"{k} ×{self.weights_.get(k, 0.0):.3g}" for k in z)
        text = f"fitted gain: {self.intercept_:+.3g} + {used} (signals standardised)"
        se = np.full_like(value, self.residual_sd_)
        np.fill_diagonal(se, np.nan)
        return Affinity(name, _square(value, names), _square(se, names), 0.0, text)

    def to_dict(self) -> dict:
        return {
            "weights": self.weights_,
            "intercept": self.intercept_,
            "residual_sd": self.residual_sd_,
            "ridge": self.ridge,
        }

    @classmethod
    def from_dict(cls, d: dict) -> AffinityModel:
        model = cls(float(d.get("ridge", 1.0)))
        model.weights_ = {str(k): float(v) for k, v in d["weights"].items()}
        model.intercept_ = float(d["intercept"])
        model.residual_sd_ = float(d.get("residual_sd", np.nan))
        return model
