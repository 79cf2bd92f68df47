"""Backbone encoding and the on-disk feature cache."""

from __future__ import annotations

import numpy as np
import torch

from taskmix.data.suite import Suite
from taskmix.models.backbone import Backbone, pool
from taskmix.models.features import FeatureCache


def test_mean_pool_ignores_padding():
    h = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pool(h, m, "mean").tolist() == [[2.0, 2.0]]
    assert pool(h, m, "cls").tolist() == [[1.0, 1.0]]


def test_encode_is_order_independent(tiny_backbone):
    seqs = [
        ("a short one",),
        ("a much longer sentence with many more words in it",),
        ("mid length text",),
    ]
    full = tiny_backbone.encode(seqs, batch_size=2)
    alone = np.stack([tiny_backbone.encode([s])[0] for s in seqs])
    np.testing.assert_allclose(
        full, alone, rtol=1e-4, atol=1e-5
    )  # padding and sorting change nothing


def test_cache_reuses_embeddings(tiny_backbone, keyword_suite, tmp_path):
    suite = Suite.from_yaml(keyword_suite)
    cache = FeatureCache(tmp_path)
    x1 = cache.get(tiny_backbone, suite["a"], "train")
    assert x1.shape == (60, 32) and cache.misses == 1
    x2 = FeatureCache(tmp_path).get(tiny_backbone, suite["a"], "train")  # a second command
    np.testing.assert_array_equal(x1, x2)
    other = Backbone(
        type(tiny_backbone.model)(tiny_backbone.model.config),
        tiny_backbone.tokenizer,
        name="tiny-bert",
        config=tiny_backbone.config,
    )
    assert cache.path(other, suite["a"], "train") != cache.path(tiny_backbone, suite["a"], "train")


def test_fingerprint_depends_on_weights(tiny_backbone):
    fp = tiny_backbone.fingerprint()
    with torch.no_grad():
        next(tiny_backbone.model.parameters()).add_(1.0)
    tiny_backbone._fingerprint = None
    assert tiny_backbone.fingerprint() != fp
