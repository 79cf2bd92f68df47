"""TextEmb (Vu et al. 2020): tasks are similar when the mean embeddings of their inputs are.

Each task is represented by the mean of its training inputs' pooled embeddings (read from the
feature cache, so PVI's probe and this baseline share one encoder pass); similarity is cosine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskmix.config import ModelConfig
from taskmix.data.suite import Suite
from taskmix.estimator import Estimator


class TextEmb(Estimator):
    """Cosine similarity of the tasks' mean input embeddings.

    >>> sim = TextEmb().fit(suite)          # doctest: +SKIP
    >>> sim.scores_.loc["rte", "cb"]        # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        tasks: Sequence[str] | None = None,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        split: str = "train",
    ):
        self.tasks = tasks
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.split = split

    def fit(self, suite: Suite) -> TextEmb:
        # imported here: the grouper module that holds this baseline is read without torch
        from taskmix.models.features import feature_source

        factory, cache = feature_source(self.model, self.backbone, self.cache)
        names = list(self.tasks or suite.names)
        self.embeddings_ = {}
        for n in names:
            X = cache.get(factory.template, suite[n], self.split)
            self.embeddings_[n] = X.reshape(-1, X.shape[-1]).mean(0)
        E = np.stack([self.embeddings_[n] for n in names])
        E = E / np.linalg.norm(E, axis=1, keepdims=True).clip(min=1e-12)
        self.scores_ = pd.DataFrame(E @ E.T, index=names, columns=names)
        return self

    def group_score(self, group: Sequence[str]) -> float:
        """Mean pairwise cosine of a group of tasks."""
        s = self.scores_
        pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
        return float(np.mean([s.loc[a, b] for a, b in pairs])) if pairs else 1.0

    def to_frame(self) -> pd.DataFrame:
        return self.scores_
