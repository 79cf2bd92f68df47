"""Similarities F(s → t) that need only a target's examples: how promising a source looks for a
target (Retrieval-of-Experts here; an LLM's judgement in :mod:`taskmix.relate.llmsim`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.data.task import Task
from taskmix.estimator import Estimator
from taskmix.models.features import feature_source
from taskmix.relate.matrix import read_pair_table


class Similarity(Estimator):
    """F(s → t): how promising source s looks for target t, from target examples only.

    One subclass per method, chosen by name (``SelectConfig.similarity``, see
    :func:`make_similarity`): ``fit`` reads the source tasks, ``score`` gives a target × source
    table for some targets.
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

    def __init__(
        self,
        *,
        model=None,
        backbone=None,
        cache=None,
        n_source: int = 100,
        n_target: int = 32,
        seed: int = 13,
        normalize: bool = True,
    ):
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
        idx = (
            rng.choice(len(X), size=min(n, len(X)), replace=False)
            if len(X) > n
            else np.arange(len(X))
        )
        E = X[np.sort(idx)].astype(np.float64)
        if self.normalize:
            E = E / np.linalg.norm(E, axis=1, keepdims=True).clip(min=1e-12)
        return E.mean(axis=0)  # mean_i,j <s_i, t_j> = <mean s, mean t>

    def fit(self, sources: Sequence[Task]) -> RetrievalOfExperts:
        self.backbone_, self.cache_ = feature_source(self.model, self.backbone, self.cache)
        self.sources_ = {t.name: self._mean_embedding(t, self.n_source) for t in sources}
        return self

    def score(self, targets: Sequence[Task]) -> pd.DataFrame:
        rows = {}
        for t in targets:
            e = self._mean_embedding(t, self.n_target)
            rows[t.name] = {s: float(v @ e) for s, v in self.sources_.items() if s != t.name}
        return pd.DataFrame.from_dict(rows, orient="index")


def load_similarity(path: str | Path) -> pd.DataFrame:
    """A saved F table (CSV/Parquet with columns target, source, score) as target × source."""
    frame = read_pair_table(path, "score")
    return frame.pivot_table(index="target", columns="source", values="score", aggfunc="first")
