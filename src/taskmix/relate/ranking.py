"""Scoring a ranking of sources against the measured one: NDCG (graded relevance n − gold rank, gain
2^rel − 1, discount log2(i + 2)) and Regret@k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def ndcg(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """NDCG of a predicted ranking against the gold ranking of the same items.

    Relevance of an item is ``n − its gold rank`` (0-based), gain ``2^rel − 1``, discount
    ``log2(i + 2)`` at predicted position i.

    >>> ndcg(["a", "b", "c"], ["a", "b", "c"])
    1.0
    >>> round(ndcg(["c", "b", "a"], ["a", "b", "c"]), 4)   # worst order
    0.6806
    """
    if sorted(predicted) != sorted(gold):
        raise ValueError("the predicted and gold rankings must hold the same items")
    n = len(gold)
    rank = {x: i for i, x in enumerate(gold)}
    discounts = np.log2(np.arange(n) + 2)

    def dcg(order: Sequence[str]) -> float:
        rel = np.array([n - rank[x] for x in order], dtype=float)
        return float(np.sum((2.0**rel - 1) / discounts))

    return dcg(predicted) / dcg(gold)


def regret_at_k(
    predicted: Sequence[str], gold: Sequence[str], metric: Mapping[str, float], k: int = 5
) -> float:
    """Regret@k in %: how much lower the mean target metric of the predicted top-k sources is
    than that of the gold top-k: ``(gold − predicted) / gold · 100``.

    >>> round(regret_at_k(["b", "a"], ["a", "b"], {"a": 0.8, "b": 0.6}, k=1), 6)
    25.0
    """
    best = float(np.mean([metric[x] for x in gold[:k]]))
    got = float(np.mean([metric[x] for x in predicted[:k]]))
    return 100.0 * (best - got) / best


def rank(scores: pd.Series) -> list[str]:
    """Items from highest to lowest score; ties keep alphabetical order (a stable sort)."""
    s = scores.dropna().sort_index(kind="stable")
    return list(s.sort_values(ascending=False, kind="stable").index)
