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
from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskmix.config import SelectConfig
from taskmix.data.task import Task
from taskmix.errors import ConfigError, DataError
from taskmix.estimator import Estimator
from taskmix.relate.llmsim import LLMSimilarity
from taskmix.relate.matrix import TransferMatrix
from taskmix.relate.ranking import ndcg, rank, regret_at_k
from taskmix.relate.similarity import RetrievalOfExperts, Similarity

log = logging.getLogger(__name__)


def make_similarity(config=None, *, store=None, **kw) -> Similarity:
    """The F named by a ``SelectConfig`` with its settings; ``kw`` (roe): model, backbone or
    cache; ``store`` (llm): the run store whose cache keeps the LLM's answers."""
    c = config or SelectConfig()
    if c.similarity == "llm":
        return LLMSimilarity(llm=c.llm, store=store, pairs=c.llm_pairs, seed=c.seed)
    return RetrievalOfExperts(
        n_source=c.n_source_examples, n_target=c.n_target_examples, seed=c.seed, **kw
    )


def similarity_table(tasks: Sequence[Task], config=None, **kw) -> pd.DataFrame:
    """F between every pair of ``tasks`` (target × source), as ``config`` names it (``kw`` as for
    :func:`make_similarity`)."""
    return make_similarity(config, **kw).fit(tasks).score(tasks)


# ---------------------------------------------------------------- TaskShop


class TaskShop(Estimator):
    """Estimate source → target transfer for a target outside the matrix.

    >>> shop = TaskShop(lam=0.7).fit(matrix)                             # doctest: +SKIP
    >>> shop.predict("new_task", F.loc["new_task"]).head()               # doctest: +SKIP
    """

    def __init__(self, lam: float = 0.7, exclude_pivots: Sequence[str] = ()):
        self.lam = lam
        self.exclude_pivots = exclude_pivots

    def fit(self, matrix: TransferMatrix) -> TaskShop:
        if not 0 <= self.lam <= 1:
            raise ConfigError(f"TaskShop: lam {self.lam} is not a weight between 0 and 1")
        self.matrix_ = matrix
        self.T_ = matrix.scores()  # T_.loc[p, s] = score of s → p
        return self

    def predict(
        self, target: str, similarity: pd.Series, sources: Sequence[str] | None = None
    ) -> pd.DataFrame:
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
        candidates = [
            p
            for p in T.index
            if p != target and p not in self.exclude_pivots and p in F.index and not np.isnan(F[p])
        ]
        rows = []
        for s in sources:
            pivots = [
                p for p in candidates if p != s and s in T.columns and not np.isnan(T.loc[p, s])
            ]
            direct = float(F[s])
            if pivots:
                pivot = float(np.mean([(T.loc[p, s] + F[p]) / 2 for p in pivots]))
                score = self.lam * pivot + (1 - self.lam) * direct
            else:  # nothing known about s: fall back on F alone
                pivot, score = float("nan"), direct
            rows.append(
                {
                    "source": s,
                    "score": score,
                    "direct": direct,
                    "pivot": pivot,
                    "pivots": len(pivots),
                }
            )
        out = pd.DataFrame(rows).set_index("source")
        return out.loc[rank(out["score"])]


def leave_one_out(
    matrix: TransferMatrix,
    similarity: pd.DataFrame,
    *,
    lam: float = 0.7,
    k: int = 5,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
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
        sources = sorted(
            s
            for s in gold_scores.index
            if s in similarity.columns and not np.isnan(similarity.loc[t, s])
        )
        gold = rank(gold_scores[sources])
        shop = TaskShop(lam).fit(matrix.without(t))
        by_f = rank(similarity.loc[t, sources])
        by_shop = list(shop.predict(t, similarity.loc[t], sources).index)
        row = {
            "target": t,
            "sources": len(sources),
            "ndcg_F": 100 * ndcg(by_f, gold),
            "ndcg_taskshop": 100 * ndcg(by_shop, gold),
            "top_gold": ", ".join(gold[:k]),
            "top_taskshop": ", ".join(by_shop[:k]),
        }
        if metric is not None and t in metric.index:
            m = metric.loc[t]
            if m[sources].notna().all():
                row["regret_F"] = regret_at_k(by_f, gold, m, k)
                row["regret_taskshop"] = regret_at_k(by_shop, gold, m, k)
        rows.append(row)
    return pd.DataFrame(rows).set_index("target")


def tune_lambda(
    matrix: TransferMatrix,
    similarity: pd.DataFrame,
    held_out: Sequence[str],
    grid: Sequence[float] = tuple(np.round(np.arange(0, 1.01, 0.1), 2)),
) -> tuple[float, pd.DataFrame]:
    """Choose λ by the mean leave-one-out NDCG on held-out targets (the paper held out PIQA)."""
    rows = [
        {
            "lam": float(lam),
            "ndcg": float(
                leave_one_out(matrix, similarity, lam=lam, targets=held_out)["ndcg_taskshop"].mean()
            ),
        }
        for lam in grid
    ]
    table = pd.DataFrame(rows)
    return float(table.loc[table["ndcg"].idxmax(), "lam"]), table


# ---------------------------------------------------------------- selection for a new target


def rank_sources(
    target: Task,
    sources: Sequence[Task],
    matrix: TransferMatrix | None = None,
    config=None,
    **similarity_kw,
) -> pd.DataFrame:
    """Rank ``sources`` for ``target`` (known only from its examples): TaskShop over ``matrix``
    (without any row of the target itself), or F alone when there is no matrix.

    Columns: score, direct (F), pivot, pivots — best first.
    """
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


def selection_groupings(
    ranking: Sequence[str], target: str, k: int = 5, seed: int = 13
) -> dict[str, list[list[str]]]:
    """The training sets that prove a selection: the target with the top-k sources, with k random
    sources, with the bottom-k, and with every source."""
    ranking = [s for s in ranking if s != target]
    k = min(k, len(ranking))
    rng = np.random.default_rng(seed)
    chosen = [ranking[i] for i in sorted(rng.choice(len(ranking), size=k, replace=False))]
    return {
        "taskshop": [[target, *ranking[:k]]],
        "random": [[target, *chosen]],
        "bottom": [[target, *ranking[-k:]]],
        "all": [[target, *ranking]],
    }
