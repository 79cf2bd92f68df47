"""Pooled-embedding cache on disk, shared by every method that reads frozen features.

Keyed by (model fingerprint, task, split, hash of the texts): a second command, or another
method on the same suite, reuses the embeddings instead of running the encoder again.
Files are plain ``.npy`` arrays, read memory-mapped with ``allow_pickle=False``: a cached split
costs no memory until its rows are used, however many examples it has.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from taskmix.data.task import Task
from taskmix.files import atomic_file
from taskmix.models.backbone import Backbone, BackboneFactory

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("TASKMIX_CACHE", Path.home() / ".cache" / "taskmix")) / "features"


def feature_source(model=None, backbone=None, cache=None):
    """(backbone factory, feature cache) from what an estimator was given: a ready
    ``BackboneFactory`` or else a ``ModelConfig``; a ``FeatureCache`` or else its folder."""
    factory = backbone if isinstance(backbone, BackboneFactory) else BackboneFactory(model)
    return factory, cache if isinstance(cache, FeatureCache) else FeatureCache(cache)


class FeatureCache:
    """Embeddings of a task's split: [n, H], or [n, choices, H] for multiple choice; arrays read
    once are kept in memory (read-only) for the cache object's life.

    >>> cache = FeatureCache("/tmp/taskmix-features")                    # doctest: +SKIP
    >>> X = cache.get(backbone, suite["rte"], "train")                   # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self._memo: dict[Path, np.ndarray] = {}  # arrays already read or computed by this cache

    def path(self, backbone: Backbone, task: Task, split: str) -> Path:
        key = f"{backbone.fingerprint()}-{task.name}-{split}-{task.splits[split].texts_hash()}"
        return self.root / backbone.fingerprint() / f"{key}.npy"

    def get(self, backbone: Backbone, task: Task, split: str, progress=None) -> np.ndarray:
        p = self.path(backbone, task, split)
        if p in self._memo:
            self.hits += 1
            return self._memo[p]
        if p.exists():
            try:
                arr = np.load(p, allow_pickle=False, mmap_mode="r")
                self.hits += 1
                return self._keep(p, arr)
            except (ValueError, OSError):
                log.warning("feature cache file %s is damaged; recomputing", p)
        self.misses += 1
        data = task.splits[split]
        emb = backbone.encode_split(data, progress=progress)
        if task.kind == "multiple_choice":
            emb = emb.reshape(len(data), -1, emb.shape[-1])
        with atomic_file(p, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        return self._keep(p, emb)

    def _keep(self, p: Path, arr: np.ndarray) -> np.ndarray:
        arr.flags.writeable = False  # shared by every caller: read-only
        self._memo[p] = arr
        return arr
