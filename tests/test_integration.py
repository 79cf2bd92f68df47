"""Integration with the bundled all-MiniLM-L6-v2 (offline) and the demo pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from taskmix.config import TrainConfig
from taskmix.data.suite import demo_suite
from taskmix.models.backbone import Backbone, bf16_supported

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm():
    return Backbone.load("minilm", max_length=64)


def test_bundled_minilm_loads_offline_and_embeds(minilm):
    assert minilm.hidden_size == 384 and 22_000_000 < minilm.num_parameters < 23_000_000
    assert minilm.use_bf16 == bf16_supported(minilm.device)
    x = minilm.encode(
        [
            ("The patient denies chest pain.",),
            ("No chest pain reported by the patient.",),
            ("Shares fell sharply in early trading.",),
        ]
    )
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2  # a real sentence encoder, not random weights


def test_minilm_fine_tunes_on_a_demo_task(minilm):
    from taskmix.models.backbone import BackboneFactory
    from taskmix.train.trainer import Trainer

    suite = demo_suite(scale=0.5)
    cfg = TrainConfig(max_steps=20, batch_size=16, lr=1e-4, patience=None, freeze_embeddings=True)
    r = Trainer(cfg, BackboneFactory(minilm.config, template=minilm)).fit(
        [suite["sentiment"]], seed=1
    )
    assert r.test["sentiment"]["accuracy"] > 0.8, r.test
    assert r.trainable_parameters < r.total_parameters  # the embedding matrix was frozen


def test_demo_pipeline_writes_report(tiny_model_dir, tmp_path):
    from taskmix.demo import demo_config, run_demo

    cfg = demo_config(seeds=[1, 2], out=str(tmp_path / "demo"), model=str(tiny_model_dir))
    cfg.train.max_steps = 2
    comparison, report, grouper = run_demo(cfg, show_progress=False)
    table = comparison.table()
    assert {"STL", "MTL all 7 tasks"} <= set(table.setting)
    assert (table.seeds == 2).all()
    assert set(comparison.groupings) == {"pvi", "all", "random"}
    # every grouping trains groups of the PVI groups' sizes (all: one group of all tasks)
    sizes = sorted(len(g) for g in comparison.groupings["pvi"] if len(g) > 1)
    assert sorted(len(g) for g in comparison.groupings["random"] if len(g) > 1) == sizes
    assert set(comparison.by_grouping().grouping) == {"pvi", "all", "random"}
    for name in (
        "index.html",
        "stl_vs_mtl.png",
        "pvi.png",
        "pvalues.png",
        "pvi.csv",
        "groupings.csv",
    ):
        assert (report.parent / name).exists(), name
    assert "How the groups were chosen" in report.read_text()
