"""TaskShop (Kim et al. 2023): rank source tasks for a new target known from a few examples.

A similarity F needs only target examples (Retrieval-of-Experts: mean dot product of sentence
embeddings of 100 source and 32 target examples). TaskShop adds what the transfer matrix T
knows, through pivot tasks p whose transfers are measured (transfer is roughly transitive)::

    TaskShop(s → t) = λ · mean_p (T(s → p) + F(p → t)) / 2  +  (1 − λ) · F(s → t)

Pivots are the matrix's targets other than s and t (source-only tasks are never pivots). The
score is directional by construction: T(s → p) is not T(p → s).

Evaluation follows the paper's leave-one-out protocol: each target in turn is removed from the
matrix, its sources are ranked, and the ranking is scored against the measured one with NDCG
(graded relevance n − gold rank, gain 2^rel − 1, discount log2(i + 2)) and Regret@k.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.data.task import Task
from taskmix.errors import DataError
from taskmix.relate.matrix import TransferMatrix, read_pair_table

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- ranking metrics

def ndcg(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """NDCG of a predicted ranking against the gold ranking of the same items.

    Relevance of an item is ``n − its gold rank`` (0-based), gain ``2^rel − 1``, discount
    ``log2(i + 2)`` at predicted position i.

    >>> ndcg(["a", "b", "c"], ["a", "b", "c"])
    1.0
    >>> round(ndcg(["c", "b", "a"], ["a", "b", "c"]), 4)   # worst order
    0.5286
    """
    if sorted(predicted) != sorted(gold):
        raise ValueError("the predicted and gold rankings must hold the same items")
    n = len(gold)
    rank = {x: i for i, x in enumerate(gold)}
    discounts = np.log2(np.arange(n) + 2)

    def dcg(order: Sequence[str]) -> float:
        rel = np.array([n - rank[x] for x in order], dtype=float)
        return float(np.sum((2.0 ** rel - 1) / discounts))

    return dcg(predicted) / dcg(gold)


def regret_at_k(predicted: Sequence[str], gold: Sequence[str], metric: Mapping[str, float], k: int = 5) -> float:
    """Regret@k in %: how much lower the mean target metric of the predicted top-k sources is
    than that of the gold top-k: ``(gold − predicted) / gold · 100``.

    >>> regret_at_k(["b", "a"], ["a", "b"], {"a": 0.8, "b": 0.6}, k=1)
    25.0
    """
    best = float(np.mean([metric[x] for x in gold[:k]]))
    got = float(np.mean([metric[x] for x in predicted[:k]]))
    return 100.0 * (best - got) / best


def rank(scores: pd.Series) -> list[str]:
    """Items from highest to lowest score; ties keep alphabetical order (a stable sort)."""
    s = scores.dropna().sort_index(kind="stable")
    return list(s.sort_values(ascending=False, kind="stable").index)


# ---------------------------------------------------------------- similarities F

class Similarity:
    """F(s → t): how promising source s looks for target t, from target examples only.

    One subclass per method, chosen by name (``SelectConfig.similarity``, see :func:`make_similarity`): ``fit`` reads the source tasks,
    ``score`` gives a target × source table for some targets.
    """

    name = "base"

    def fit(self, sources: Sequence[Task]) -> Similarity:
        raise NotImplementedError

    def score(self, targets: Sequence[Task]) -> pd.DataFrame:
        raise NotImplementedError


class RetrievalOfExperts(Similarity):
    """Retrieval-of-Experts (Jang et al. 2023): the mean dot product between the sentence
    embeddings of ``n_source`` examples of each source and ``n_target`` examples of the target
    (embeddings unit-normalised as all-MiniLM-L6-v2's sentence pipeline does). Embeddings come
    from the feature cache, so a suite is encoded once for every method.

    >>> F = RetrievalOfExperts().fit(list(suite)).score([target])     # doctest: +SKIP
    """

    name = "roe"

    def __init__(self, *, model=None, backbone=None, cache=None, n_source: int = 100, n_target: int = 32,
                 seed: int = 13, normalize: bool = True):
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.n_source = n_source
        self.n_target = n_target
        self.seed = seed
        self.normalize = normalize

    def _mean_embedding(self, task: Task, n: int) -> np.ndarray:
        X = self.cache_.get(self.backbone_.template, task, "train")
        if task.kind == "multiple_choice":  # one embedding per example: its choices' mean
            X = X.mean(axis=1)
        rng = np.random.default_rng(self.seed)
        idx = rng.choice(len(X), size=min(n, len(X)), replace=False) if len(X) > n else np.arange(len(X))
        E = X[np.sort(idx)].astype(np.float64)
        if self.normalize:
            E = E / np.linalg.norm(E, axis=1, keepdims=True).clip(min=1e-12)
        return E.mean(axis=0)  # mean_i,j <s_i, t_j> = <mean s, mean t>

    def fit(self, sources: Sequence[Task]) -> RetrievalOfExperts:
        from taskmix.models.features import feature_source

        self.backbone_, self.cache_ = feature_source(self.model, self.backbone, self.cache)
        self.sources_ = {t.name: self._mean_embedding(t, self.n_source) for t in sources}
        return self

    def score(self, targets: Sequence[Task]) -> pd.DataFrame:
        rows = {}
        for t in targets:
            e = self._mean_embedding(t, self.n_target)
            rows[t.name] = {s: float(v @ e) for s, v in self.sources_.items() if s != t.name}
        return pd.DataFrame.from_dict(rows, orient="index")


def make_similarity(config=None, *, store=None, **kw) -> Similarity:
    """The F named by a ``SelectConfig`` with its settings; ``kw`` (roe): model, backbone or
    cache; ``store`` (llm): the run store whose cache keeps the LLM's answers."""
    from taskmix.config import SelectConfig

    c = config or SelectConfig()
    if c.similarity == "llm":
        from taskmix.relate.llmsim import LLMSimilarity

        return LLMSimilarity(llm=c.llm, store=store, pairs=c.llm_pairs, seed=c.seed)
    return RetrievalOfExperts(n_source=c.n_source_examples, n_target=c.n_target_examples, seed=c.seed, **kw)


def load_similarity(path: str | Path) -> pd.DataFrame:
    """A saved F table (CSV/Parquet with columns target, source, score) as target × source."""
    frame = read_pair_table(path, "score")
    return frame.pivot_table(index="target", columns="source", values="score", aggfunc="first")


# ---------------------------------------------------------------- TaskShop

class TaskShop:
    """Estimate source → target transfer for a target outside the matrix.

    >>> shop = TaskShop(lam=0.7).fit(matrix)                             # doctest: +SKIP
    >>> shop.predict("new_task", F.loc["new_task"]).head()               # doctest: +SKIP
    """

    def __init__(self, lam: float = 0.7, exclude_pivots: Sequence[str] = ()):
        if not 0 <= lam <= 1:
            raise ValueError("lam is a weight between 0 and 1")
        self.lam = lam
        self.exclude_pivots = tuple(exclude_pivots)

    def fit(self, matrix: TransferMatrix) -> TaskShop:
        self.matrix_ = matrix
        self.T_ = matrix.scores()  # T_.loc[p, s] = score of s → p
        return self

    def predict(self, target: str, similarity: pd.Series, sources: Sequence[str] | None = None) -> pd.DataFrame:
        """Every source's estimated transfer to ``target``, best first.

        ``similarity`` holds F(x → target) for the sources and the pivots (indexed by task).
        Columns: score (TaskShop), direct (F(s → t)), pivot (the pivot mean), pivots (how many).
        """
        T = self.T_
        F = similarity.drop(labels=[target], errors="ignore").astype(float)
        sources = [s for s in (sources if sources is not None else F.index) if s != target]
        unknown = [s for s in sources if s not in F.index or np.isnan(F[s])]
        if unknown:
            raise DataError(f"no similarity for source(s) {', '.join(unknown)} → {target}")
        candidates = [p for p in T.index if p != target and p not in self.exclude_pivots
                      and p in F.index and not np.isnan(F[p])]
        rows = []
        for s in sources:
            pivots = [p for p in candidates if p != s and s in T.columns and not np.isnan(T.loc[p, s])]
            direct = float(F[s])
            if pivots:
                pivot = float(np.mean([(T.loc[p, s] + F[p]) / 2 for p in pivots]))
                score = self.lam * pivot + (1 - self.lam) * direct
            else:  # nothing known about s: fall back on F alone
                pivot, score = float("nan"), direct
            rows.append({"source": s, "score": score, "direct": direct, "pivot": pivot, "pivots": len(pivots)})
        out = pd.DataFrame(rows).set_index("source")
        return out.loc[rank(out["score"])]


def leave_one_out(matrix: TransferMatrix, similarity: pd.DataFrame, *, lam: float = 0.7, k: int = 5,
                  targets: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's protocol: for each target t, rank every source of t with F alone and with
    TaskShop fitted on the matrix without t; score both rankings against t's measured ones.

    Returns one row per target: ndcg_F, ndcg_taskshop and (if the matrix has a ``metric``
    column) regret_F, regret_taskshop — NDCG × 100 and Regret@k in %.
    """
    scores = matrix.scores()
    metric = matrix.scores("metric") if "metric" in matrix.frame.columns else None
    rows = []
    for t in targets or list(scores.index):
        if t not in similarity.index:
            raise DataError(f"no similarity scores for the target {t!r}")
        gold_scores = scores.loc[t].dropna()
        sources = sorted(s for s in gold_scores.index if s in similarity.columns and not np.isnan(similarity.loc[t, s]))
        gold = rank(gold_scores[sources])
        shop = TaskShop(lam).fit(matrix.without(t))
        by_f = rank(similarity.loc[t, sources])
        by_shop = list(shop.predict(t, similarity.loc[t], sources).index)
        row = {"target": t, "sources": len(sources), "ndcg_F": 100 * ndcg(by_f, gold),
               "ndcg_taskshop": 100 * ndcg(by_shop, gold), "top_gold": ", ".join(gold[:k]),
               "top_taskshop": ", ".join(by_shop[:k])}
        if metric is not None and t in metric.index:
            m = metric.loc[t]
            if m[sources].notna().all():
                row["regret_F"] = regret_at_k(by_f, gold, m, k)
                row["regret_taskshop"] = regret_at_k(by_shop, gold, m, k)
        rows.append(row)
    return pd.DataFrame(rows).set_index("target")


def tune_lambda(matrix: TransferMatrix, similarity: pd.DataFrame, held_out: Sequence[str],
                grid: Sequence[float] = tuple(np.round(np.arange(0, 1.01, 0.1), 2))) -> tuple[float, pd.DataFrame]:
    """Choose λ by the mean leave-one-out NDCG on held-out targets (the paper held out PIQA)."""
    rows = [{"lam": float(lam), "ndcg": float(leave_one_out(matrix, similarity, lam=lam, targets=held_out)
                                              ["ndcg_taskshop"].mean())} for lam in grid]
    table = pd.DataFrame(rows)
    return float(table.loc[table["ndcg"].idxmax(), "lam"]), table


# ---------------------------------------------------------------- selection for a new target

def rank_sources(target: Task, sources: Sequence[Task], matrix: TransferMatrix | None = None, config=None,
                 **similarity_kw) -> pd.DataFrame:
    """Rank ``sources`` for ``target`` (known only from its examples): TaskShop over ``matrix``
    (without any row of the target itself), or F alone when there is no matrix.

    Columns: score, direct (F), pivot, pivots — best first.
    """
    from taskmix.config import SelectConfig

    c = config or SelectConfig()
    sources = [s for s in sources if s.name != target.name]
    if not sources:
        raise DataError("no source tasks to rank (the sources are only the target itself)")
    F = make_similarity(c, **similarity_kw).fit(sources).score([target]).loc[target.name]
    names = [s.name for s in sources]
    if matrix is None or c.lam == 0:
        out = pd.DataFrame({"score": F[names], "direct": F[names], "pivot": np.nan, "pivots": 0})
        return out.loc[rank(out["score"])]
    # Pivots need F(p → target) too: every matrix target among the sources has it.
    return TaskShop(c.lam).fit(matrix.without(target.name)).predict(target.name, F, names)


def selection_groupings(ranking: Sequence[str], target: str, k: int = 5, seed: int = 13) -> dict[str, list[list[str]]]:
    """The training sets that prove a selection: the target with the top-k sources, with k random
    sources, with the bottom-k, and with every source."""
    ranking = [s for s in ranking if s != target]
    k = min(k, len(ranking))
    rng = np.random.default_rng(seed)
    chosen = [ranking[i] for i in sorted(rng.choice(len(ranking), size=k, replace=False))]
    return {"taskshop": [[target, *ranking[:k]]], "random": [[target, *chosen]],
            "bottom": [[target, *ranking[-k:]]], "all": [[target, *ranking]]}


def train_selection(suite, target: str, ranking: Sequence[str], config=None, trainer=None):
    """Train the target alone and with each selection (sources sampled to ``per_source``
    examples each, mixed into one multi-task training set), over the trainer's seeds.

    Returns (comparison, table): the table has one row per selection with the target's main
    metric and its difference from the target alone, ± 95% CI over seeds.
    """
    from taskmix.config import SelectConfig
    from taskmix.data.task import Suite
    from taskmix.evaluate.compare import Comparison
    from taskmix.relate.transfer import target_sample
    from taskmix.train.experiment import MultiTaskTrainer

    c = config or SelectConfig()
    trainer = trainer or MultiTaskTrainer()
    groupings = selection_groupings(ranking, target, c.k, c.seed)
    used = dict.fromkeys(t for part in groupings.values() for g in part for t in g)
    tasks = [suite[t] if t == target else target_sample(suite[t], c.per_source, c.seed) for t in used]
    mixed = Suite(suite.name, tasks, model=suite.model)
    # The target alone is the baseline; the sources need no single-task models of their own.
    records = trainer.run(mixed, [[target]]) + trainer.run(mixed, [g for part in groupings.values() for g in part],
                                                           stl=False)
    comparison = Comparison(records, mixed, groupings=groupings)
    table = comparison.table()
    table = table[(table["task"] == target) & (table["grouping"] != "")]
    keep = ["grouping", "setting", "seeds", table["delta_metric"].iloc[0], table["delta_metric"].iloc[0] + "_ci",
            "delta", "delta_ci"]
    return comparison, table[keep].reset_index(drop=True)
