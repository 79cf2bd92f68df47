"""Combination search: which auxiliary data sets to train with a target, without training all 2^n.

Zhan & Zhang's loop: train an initial design of combinations, record (inclusion vector -> target
score), fit a surrogate on the table, score the combinations with it, train the one(s) it proposes,
add the result, refit; stop at the budget, or (the paper's rule) when the predicted best has already
been trained. A combination is an integer bitmask over the auxiliary data sets (bit j: candidate j
is included); the target is always trained.

The loop only asks an :class:`Objective` for the scores of combinations: a :class:`TableObjective`
looks them up in a measured landscape (benchmarks, tests),
:class:`taskmix.experiment.trials.TrialTrainer` trains them through the run store.

>>> objective = TableObjective(["a", "b", "c"], {m: float(m == 5) for m in range(8)})
>>> search = CombinationSearch(surrogate="gp", budget=8).fit(objective)  # all 2^3: it must find it
>>> search.best_  # mask 5 = 0b101: data sets a and c
['a', 'c']
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from taskmix.config import SearchConfig
from taskmix.errors import ConfigError
from taskmix.estimator import Estimator
from taskmix.group.surrogates import Surrogate, make_surrogate

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- encoding
def bits(masks: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """0/1 inclusion matrix [len(masks), n] of bitmasks (bit j = candidate j)."""
    m = np.asarray(masks, dtype=np.int64).reshape(-1, 1)
    return ((m >> np.arange(n, dtype=np.int64)) & 1).astype(np.float64)


def mask_of(names: Sequence[str], candidates: Sequence[str]) -> int:
    """The bitmask of ``names`` among ``candidates``."""
    index = {c: j for j, c in enumerate(candidates)}
    unknown = [x for x in names if x not in index]
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)} not among the candidate data sets",
            hint=f"candidates: {', '.join(candidates)}",
        )
    return sum(1 << index[x] for x in set(names))


def read_combinations(path: str | Path, candidates: Sequence[str]) -> np.ndarray:
    """The bitmasks of the combinations listed in a text file, one a line: data set names joined
    by ``+`` or ``,``; an empty line, ``-`` or ``(alone)`` is the target alone; ``#`` starts a
    comment. A CSV of past results works too: its header names a ``datasets`` (or
    ``combination``) column. Unknown names are errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the combinations file {path}: {e}") from None
    lines = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1)]
    column = None
    if lines:
        header = [h.strip().lower() for h in next(csv.reader([lines[0][1]]))]
        column = next((header.index(h) for h in ("datasets", "combination") if h in header), None)
    masks = set()
    for number, line in lines[1:] if column is not None else lines:
        cells = next(csv.reader([line]), []) if column is not None else [line]
        cell = cells[column].strip() if column is not None and len(cells) > column else line
        names = [x.strip() for x in re.split(r"[+,]", cell) if x.strip()]
        if names in ([], ["-"], ["(alone)"]):
            if line:
                masks.add(0)
            continue
        try:
            masks.add(mask_of(names, candidates))
        except ConfigError as e:
            raise ConfigError(f"{path}, line {number}: {e.message}", hint=e.hint) from None
    if not masks:
        raise ConfigError(f"{path} lists no combination", hint="one combination a line: a+b+c")
    return np.array(sorted(masks), dtype=np.int64)


def names_of(mask: int, candidates: Sequence[str]) -> list[str]:
    """The candidates included in ``mask``, in candidate order."""
    return [c for j, c in enumerate(candidates) if mask >> j & 1]


def enumerate_masks(n: int) -> np.ndarray:
    """Every combination of ``n`` candidates (2^n bitmasks, the empty one = the target alone)."""
    return np.arange(2**n, dtype=np.int64)


def initial_design(
    n: int, size: int, rng: np.random.Generator, allowed: np.ndarray | None = None
) -> list[int]:
    """The target alone, all candidates, then ``size - 2`` blocks of a seeded random partition of
    the candidates (together they cover every data set; the paper's "cover all data sets"); random
    further combinations if ``size`` asks for more than that. With ``allowed`` (a table of the
    combinations that may be tried): the target alone and all candidates if allowed, then the
    allowed combinations that cover the most data sets not covered yet, then random ones."""
    if allowed is not None:
        return _allowed_design(n, size, rng, allowed)
    full = 2**n - 1
    design = [0]
    if size >= 2 and full:
        design.append(full)
    blocks = min(size - 2, n)
    if blocks >= 2:
        for part in np.array_split(rng.permutation(n), blocks):
            m = int(sum(1 << int(j) for j in part))
            if m not in design:
                design.append(m)
    while len(design) < min(size, 2**n):
        m = int(rng.integers(2**n))
        if m not in design:
            design.append(m)
    return design[:size]


def _allowed_design(n: int, size: int, rng: np.random.Generator, allowed: np.ndarray) -> list[int]:
    pool = [int(m) for m in rng.permutation(allowed)]
    design = [m for m in (0, 2**n - 1) if m in set(pool)][:size]
    covered = 0
    for m in design:
        covered |= m
    while len(design) < min(size, len(pool)):
        rest = [m for m in pool if m not in design]
        gain = [bin(m & ~covered).count("1") for m in rest]
        m = rest[int(np.argmax(gain))]  # the first of the most covering (the order is seeded)
        design.append(m)
        covered |= m
    return design


# ---------------------------------------------------------------- proposals
def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(f - best, 0)] under f ~ N(mean, std²)."""
    std = np.maximum(std, 1e-12)
    z = (mean - best) / std
    return (mean - best) * norm.cdf(z) + std * norm.pdf(z)


class Proposal:
    """Chooses which untried combinations to train next: indices into ``X`` (rows = candidates)."""

    name = ""
    needs_std = False

    def choose(
        self, surrogate: Surrogate, X: np.ndarray, best: float, q: int, rng: np.random.Generator
    ) -> list[int]:
        raise NotImplementedError


class Greedy(Proposal):
    """The paper's rule: the highest predicted scores."""

    name = "greedy"

    def choose(self, surrogate, X, best, q, rng):
        return [int(i) for i in np.argsort(-surrogate.predict(X), kind="stable")[:q]]


class Thompson(Proposal):
    """The best of each of q posterior draws (distinct), seeded through ``rng``."""

    name = "thompson"
    needs_std = True

    def choose(self, surrogate, X, best, q, rng):
        picks: list[int] = []
        for _ in range(q):
            draw = surrogate.sample(X, rng)
            draw[picks] = -np.inf
            picks.append(int(np.argmax(draw)))
        return picks


class EI(Proposal):
    """The largest expected improvement over the best score so far."""

    name = "ei"
    needs_std = True

    def choose(self, surrogate, X, best, q, rng):
        mean, std = surrogate.predict(X, return_std=True)
        return [
            int(i) for i in np.argsort(-expected_improvement(mean, std, best), kind="stable")[:q]
        ]


class RandomProposal(Proposal):
    """Untried combinations uniformly at random: the baseline that needs no surrogate."""

    name = "random"

    def choose(self, surrogate, X, best, q, rng):
        return [int(i) for i in rng.choice(len(X), size=q, replace=False)]


PROPOSALS: dict[str, type[Proposal]] = {c.name: c for c in (Greedy, Thompson, EI, RandomProposal)}


# ---------------------------------------------------------------- objectives
class Objective:
    """Scores of combinations: ``evaluate(masks)`` gives, for each bitmask over ``candidates``, the
    target's score under each training seed. ``allowed``: the bitmasks a search may try (None:
    every combination), e.g. the rows of a table of results measured before."""

    candidates: list[str]
    allowed: np.ndarray | None = None

    def evaluate(self, masks: Sequence[int]) -> list[list[float]]:
        raise NotImplementedError


class TableObjective(Objective):
    """A landscape measured in advance: ``scores[mask]`` for every combination (benchmarks,
    tests)."""

    def __init__(self, candidates: Sequence[str], scores: Mapping[int, float]):
        self.candidates = list(candidates)
        self.scores = dict(scores)
        self.calls = 0
        # a partial table: the search may only try what was measured
        partial = len(self.scores) < 2 ** len(self.candidates)
        self.allowed = np.array(sorted(self.scores), dtype=np.int64) if partial else None

    def evaluate(self, masks):
        self.calls += len(masks)
        return [[float(self.scores[int(m)])] for m in masks]


# ---------------------------------------------------------------- the loop
class CombinationSearch(Estimator):
    """Search the combinations of auxiliary data sets for the one that maximises a target's score.

    ``fit(objective)`` returns ``self`` with ``trials_`` (one row per trained combination: round,
    phase, datasets, score, prediction, best so far), ``best_`` (the best combination's data sets),
    ``best_mask_``, ``best_score_``, ``stopped_`` (why the search ended) and ``surrogate_`` (the
    last fitted surrogate).
    """

    def __init__(self, config: SearchConfig | None = None, **params):
        self.config = config
        self.params = params

    def _check(self, c: SearchConfig) -> None:
        if c.proposal == "random" and c.stop != "budget":
            raise ConfigError(
                f"stop rule {c.stop!r} needs a surrogate; random proposals have none",
                hint="use --stop budget with --proposal random",
            )
        if PROPOSALS[c.proposal].needs_std and not make_surrogate(c.surrogate).has_std:
            raise ConfigError(
                f"proposal {c.proposal!r} needs a surrogate that knows its uncertainty; "
                f"{c.surrogate!r} does not",
                hint="use --surrogate bayes or gp, or --proposal greedy",
            )
        if c.stop == "ei" and not make_surrogate(c.surrogate).has_std:
            raise ConfigError(
                f"stop rule 'ei' needs a surrogate that knows its uncertainty; {c.surrogate!r} "
                "does not",
                hint="use --surrogate bayes or gp, or --stop repeat / budget",
            )

    def _pool(
        self, n: int, surrogate: Surrogate | None, tried: Sequence[int], rng, allowed
    ) -> np.ndarray:
        """The combinations the proposal chooses among: the ``allowed`` ones if the objective
        restricts them, else all of them up to ``enumerate_up_to`` candidates, else those met by
        a local search on the surrogate's prediction."""
        if allowed is not None:
            return allowed
        if n <= self.config_.enumerate_up_to:
            return enumerate_masks(n)
        return local_pool(n, surrogate, tried, rng)

    def fit(
        self,
        objective: Objective,
        callback: Callable[[CombinationSearch], bool | None] | None = None,
    ) -> CombinationSearch:
        """Run the search; ``callback(self)`` is called after each round of trials (a live table),
        and ends the search (``stopped_ == "callback"``) by returning True."""
        c = self.config_ = self.resolve(SearchConfig)
        self._check(c)
        n = len(objective.candidates)
        allowed = getattr(objective, "allowed", None)
        if n > c.enumerate_up_to and not c.local_search and allowed is None:
            raise ConfigError(
                f"{n} candidate data sets make {2**n:,} combinations, too many to score each "
                f"(enumerate_up_to is {c.enumerate_up_to})",
                hint="turn local_search on, or raise enumerate_up_to (memory grows as 2^n)",
            )
        rng = np.random.default_rng(c.seed)
        design = initial_design(n, c.initial, rng, allowed)
        space = 2**n if allowed is None else len(allowed)
        if c.budget < len(design):
            raise ConfigError(
                f"the budget ({c.budget} trials) is smaller than the initial design "
                f"({len(design)} combinations)",
                hint=f"raise --budget to at least {len(design)} or lower initial",
            )
        if c.budget == len(design) and len(design) < space:
            log.warning(
                "the budget (%d trials) is used up by the initial design: the surrogate never "
                "proposes a "
                "combination; raise --budget above %d for a search",
                c.budget,
                len(design),
            )
        self.candidates_ = list(objective.candidates)
        self.scores_: dict[int, list[float]] = {}
        self.rows_: list[dict] = []
        self.surrogate_ = None
        self.stopped_ = "budget"
        stop = self._observe(objective, design, "design", 0, None, callback)
        proposal = PROPOSALS[c.proposal]()
        round_ = 0
        while len(self.scores_) < c.budget and not stop:
            if len(self.scores_) == space:
                self.stopped_ = "exhausted"
                break
            round_ += 1
            tried = list(self.scores_)
            X, y = bits(tried, n), np.array([np.mean(self.scores_[m]) for m in tried])
            surrogate = None
            if c.proposal != "random":
                surrogate = make_surrogate(c.surrogate, seed=c.seed + round_).fit(X, y)
                self.surrogate_ = surrogate
            pool = self._pool(n, surrogate, tried, rng, allowed)
            if c.stop == "repeat":
                everything = np.union1d(pool, tried)
                top = int(everything[np.argmax(surrogate.predict(bits(everything, n)))])
                if top in self.scores_:
                    self.stopped_ = "repeat"
                    break
            untried = np.setdiff1d(pool, tried)
            if not len(untried):
                self.stopped_ = "exhausted"
                break
            Xu = bits(untried, n)
            if c.stop == "ei":
                mean, std = surrogate.predict(Xu, return_std=True)
                if expected_improvement(mean, std, float(y.max())).max() < max(
                    c.noise, self.seed_noise()
                ):
                    self.stopped_ = "ei"
                    break
            k = min(c.q, c.budget - len(self.scores_), len(untried))
            picks = proposal.choose(surrogate, Xu, float(y.max()), k, rng)
            stop = self._observe(
                objective, [int(untried[i]) for i in picks], "search", round_, surrogate, callback
            )
        if stop:
            self.stopped_ = "callback"
        return self

    def seed_noise(self) -> float:
        """Pooled standard deviation of a combination's score between seeds (0 with one seed)."""
        spreads = [np.var(s, ddof=1) for s in self.scores_.values() if len(s) > 1]
        return float(np.sqrt(np.mean(spreads))) if spreads else 0.0

    def _observe(self, objective, masks, phase, round_, surrogate, callback) -> bool:
        predicted = (
            surrogate.predict(bits(masks, len(self.candidates_)))
            if surrogate is not None
            else [None] * len(masks)
        )
        results = objective.evaluate(masks)
        for m, scores, p in zip(masks, results, predicted, strict=True):
            self.scores_[m] = list(scores)
            best_mask = max(self.scores_, key=lambda k: (np.mean(self.scores_[k]), -k))
            self.rows_.append(
                {
                    "trial": len(self.scores_),
                    "round": round_,
                    "phase": phase,
                    "mask": m,
                    "datasets": "+".join(names_of(m, self.candidates_)) or "(target alone)",
                    "n_datasets": bin(m).count("1"),
                    "score": float(np.mean(scores)),
                    "score_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
                    "predicted": None if p is None else float(p),
                    "best_so_far": float(np.mean(self.scores_[best_mask])),
                }
            )
            self.best_mask_ = best_mask
            self.best_ = names_of(best_mask, self.candidates_)
            self.best_score_ = float(np.mean(self.scores_[best_mask]))
        return bool(callback(self)) if callback else False

    @property
    def trials_(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows_)

    def to_frame(self) -> pd.DataFrame:
        return self.trials_


def local_pool(
    n: int,
    surrogate: Surrogate | None,
    tried: Sequence[int],
    rng: np.random.Generator,
    starts: int = 16,
    max_moves: int = 64,
) -> np.ndarray:
    """Combinations met by hill climbing on the surrogate's prediction (one data set added or
    removed per move) from the best tried combinations and random ones, with their neighbours."""
    flips = np.left_shift(np.int64(1), np.arange(n, dtype=np.int64))
    randoms = [int(x) for x in rng.integers(0, 2**n, size=starts)]
    if surrogate is None:
        return np.unique(np.asarray(randoms + list(tried), dtype=np.int64))
    best_tried = (
        [int(tried[i]) for i in np.argsort(-surrogate.predict(bits(tried, n)))[:starts]]
        if tried
        else []
    )
    # every start climbs at once: one prediction per move for all their neighbours
    current = np.asarray(best_tried + randoms, dtype=np.int64)
    values = surrogate.predict(bits(current, n))
    active = np.ones(len(current), dtype=bool)
    seen: set[int] = set(map(int, tried))
    for _ in range(max_moves):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        nb = np.bitwise_xor(current[idx, None], flips[None, :])  # [climbers, n]
        seen.update(nb.ravel().tolist())
        pred = surrogate.predict(bits(nb.ravel(), n)).reshape(len(idx), n)
        j = pred.argmax(axis=1)
        top = pred[np.arange(len(idx)), j]
        up = top > values[idx]
        current[idx[up]] = nb[up, j[up]]
        values[idx[up]] = top[up]
        active[idx[~up]] = False
    seen.update(current.tolist())
    return np.array(sorted(seen), dtype=np.int64)


def trials_until(trials: pd.DataFrame, mask: int) -> float:
    """How many trials a search took to train ``mask`` (inf if it never did)."""
    hit = trials.index[trials["mask"] == mask]
    return float(trials.loc[hit[0], "trial"]) if len(hit) else float("inf")
