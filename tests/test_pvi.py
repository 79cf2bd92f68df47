"""PVI: the formula, the null model, cross-fitting, task kinds, and both model families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskmix.config import PVIConfig, TrainConfig
from taskmix.data.suite import Suite
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import DataError
from taskmix.relate.pvi import (
    PVI,
    ProbeFamily,
    classification_view,
    cross_fit_folds,
    label_prior,
    pvi_bits,
)


def make_task(
    name: str,
    labels,
    kind: str = "classification",
    n_classes: int = 2,
    choices: int | None = None,
    pair: bool = False,
) -> Task:
    labels = np.asarray(labels)
    n = len(labels)
    texts = [
        (f"{name} text {i}", f"second {i}") if pair else (f"{name} text {i}",) for i in range(n)
    ]
    split = TaskSplit(
        texts,
        labels,
        [f"{name}:{i}" for i in range(n)],
        [[f"choice {i}.{c}" for c in range(choices)] for i in range(n)] if choices else None,
    )
    return Task(
        name,
        kind,
        {"train": split},
        label_names=[f"c{k}" for k in range(n_classes)] if kind == "classification" else None,
        n_choices=choices,
        text_fields=["a", "b"] if pair else ["text"],
    )


class FakeCache:
    """Stands in for the feature cache: fixed features per task, no encoder."""

    def __init__(self, features: dict[str, np.ndarray]):
        self.features = features

    def get(self, backbone, task, split, progress=None):
        return self.features[task.name]


def fit_probe(tasks: list[Task], features: dict[str, np.ndarray], **kw) -> PVI:
    pvi = PVI(**kw)
    pvi._family = lambda: ProbeFamily(pvi.config_, backbone=None, cache=FakeCache(features))
    return pvi.fit(Suite("t", tasks))


def test_pvi_bits_hand_computed():
    # prior ¼, model ½: −log2 ¼ + log2 ½ = 2 − 1 = 1 bit; a model worse than the prior is negative
    np.testing.assert_allclose(
        pvi_bits(np.array([0.25, 0.5, 0.5]), np.array([0.5, 0.25, 1.0])), [1.0, -1.0, 1.0]
    )
    # clipping keeps a certain mistake finite
    assert np.isfinite(pvi_bits(np.array([0.5]), np.array([0.0]))).all()


def test_rows_turn_known_probabilities_into_known_bits():
    task = make_task("t", [0, 1, 1])
    p_x = np.array([[0.5, 0.5], [0.125, 0.875], [0.75, 0.25]])
    p_null = np.array([[0.25, 0.75]] * 3)
    rows = PVI._rows(task, 0, ("train", np.arange(3)), p_x, p_null)
    np.testing.assert_allclose(rows.h_y, [2.0, -np.log2(0.75), -np.log2(0.75)])
    np.testing.assert_allclose(rows.h_y_x, [1.0, -np.log2(0.875), 2.0])
    np.testing.assert_allclose(rows.pvi, rows.h_y - rows.h_y_x)
    assert rows.correct.tolist() == [True, True, False]  # a tie counts for the first class


def test_probe_null_model_is_the_label_prior_of_the_training_fold():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 10 + [2] * 20)
    task = make_task("t", labels, n_classes=3)
    pvi = fit_probe([task], {"t": rng.normal(size=(60, 8))}, folds=4)
    folds = cross_fit_folds(labels, 4, 13)
    for f, (train, heldout) in enumerate(folds):
        prior = label_prior(labels[train], 3)
        rows = pvi.pvi_[pvi.pvi_.fold == f]
        np.testing.assert_allclose(rows.h_y, -np.log2(prior[labels[heldout]]))


def test_probe_pvi_is_the_label_entropy_when_the_input_decides_the_label():
    labels = np.array([0, 1] * 40)
    X = np.c_[labels * 4.0 - 2.0, np.random.default_rng(1).normal(size=(80, 3))]
    pvi = fit_probe([make_task("t", labels)], {"t": X})
    s = pvi.summary_.iloc[0]
    # balanced prior: H(y) = 1 bit; a confident right model leaves almost nothing: PVI → 1 bit
    assert s.h_y == pytest.approx(1.0, abs=0.03) and 0.85 < s.v_information <= 1.03
    assert s.accuracy == 1.0 and s.n == 80


def test_noise_features_give_pvi_near_zero():
    labels = np.array([0, 1] * 60)
    pvi = fit_probe(
        [make_task("t", labels)], {"t": np.random.default_rng(2).normal(size=(120, 16))}
    )
    assert abs(pvi.summary_.v_information.iloc[0]) < 0.2


def test_cross_fitting_scores_every_instance_once_and_never_with_a_model_that_saw_it():
    labels = np.array([0] * 23 + [1] * 14)
    seen = []

    class Spy(ProbeFamily):
        def probabilities(self, task, train, heldout, progress=None):
            assert set(train[1]).isdisjoint(heldout[1])
            seen.append(heldout[1])
            return super().probabilities(task, train, heldout)

    task = make_task("t", labels)
    pvi = PVI(folds=5)
    pvi._family = lambda: Spy(
        pvi.config_, None, FakeCache({"t": np.random.default_rng(0).normal(size=(37, 4))})
    )
    pvi.fit(Suite("t", [task]))
    assert sorted(np.concatenate(seen).tolist()) == list(range(37))
    assert sorted(pvi.pvi_.id) == sorted(task.splits["train"].ids)


def test_multiple_choice_probe_softmaxes_over_choices():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 60)
    X = rng.normal(size=(60, 3, 5))
    X[np.arange(60), labels, 0] += 4.0  # the right choice stands out on one feature
    task = make_task("mc", labels, kind="multiple_choice", choices=3)
    pvi = fit_probe([task], {"mc": X})
    assert pvi.summary_.accuracy.iloc[0] > 0.9 and pvi.summary_.v_information.iloc[0] > 0.8
    assert set(pvi.pvi_.label) <= {0, 1, 2}


def test_regression_needs_bins():
    task = make_task("r", np.linspace(0, 5, 40), kind="regression")
    with pytest.raises(DataError, match="regression"):
        classification_view(task, None)
    binned = classification_view(task, 4)
    assert binned.kind == "classification" and len(binned.label_names) == 4
    assert np.bincount(binned.splits["train"].labels).tolist() == [10, 10, 10, 10]


def test_save_and_load_round_trip(tmp_path):
    pvi = fit_probe(
        [make_task("t", [0, 1] * 20)], {"t": np.random.default_rng(0).normal(size=(40, 3))}
    )
    loaded = PVI.load(pvi.save(tmp_path / "p"))
    pd.testing.assert_frame_equal(loaded.pvi_.reset_index(drop=True), pvi.pvi_, check_dtype=False)
    assert loaded.config_ == pvi.config_
    with pytest.raises(DataError, match="no such PVI table"):
        PVI.load(tmp_path / "missing")


def test_probe_on_a_real_encoder_handles_pairs(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    pvi = PVI(folds=3, backbone=tiny_factory).fit(suite)
    assert set(pvi.summary_.task) == {"a", "b"}
    assert pvi.summary_.set_index("task").loc["b", "n"] == len(suite["b"].splits["train"])
    assert np.isfinite(pvi.pvi_.pvi).all()


def test_finetune_mode_null_model_learns_the_prior_and_held_out_rows_stay_unseen(
    keyword_suite, tiny_factory, monkeypatch
):
    from taskmix.relate import pvi as pvi_module

    suite = Suite.from_yaml(keyword_suite).subset(["a"])
    trained_on: list[set] = []
    fit = pvi_module.FinetuneFamily._fit_predict

    def spy(self, task, train, heldout, progress):
        trained_on.append((set(train.ids), set(heldout.ids)))
        return fit(self, task, train, heldout, progress)

    monkeypatch.setattr(pvi_module.FinetuneFamily, "_fit_predict", spy)
    cfg = PVIConfig(
        mode="finetune",
        folds=2,
        finetune=TrainConfig(max_steps=30, batch_size=16, lr=1e-3, patience=None, warmup_ratio=0.0),
    )
    pvi = PVI(cfg, backbone=tiny_factory).fit(suite)
    assert len(trained_on) == 4  # 2 folds × (g′, g∅)
    for train_ids, heldout_ids in trained_on:
        assert train_ids.isdisjoint(heldout_ids)
    # the labels are balanced: g∅ on the empty input should learn ½ each, i.e. H(y) ≈ 1 bit
    assert pvi.pvi_.h_y.mean() == pytest.approx(1.0, abs=0.1)
    assert len(pvi.pvi_) == len(suite["a"].splits["train"])


@pytest.mark.parametrize("c", [0.001, 1.0, 100.0])
def test_probe_solver_matches_scikit_learn(c):
    """The probes' own Newton solver, standardisation and log-loss give scikit-learn's answers
    (they only drop its per-call checks): the same optimum, from a cold or a warm start."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.preprocessing import StandardScaler

    from taskmix.relate import pvi as pvi_module

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)).astype(np.float32) * rng.uniform(0.1, 5, 20).astype(np.float32)
    X[:, 3] = 1e-30  # a dead feature, as frozen encoders have: scaled exactly as sklearn does
    y = (X[:, :5].sum(1) + rng.normal(size=300) > 0).astype(np.int64) * 2 + 1  # labels 1 and 3
    ours_scale = pvi_module._Standardise(X)
    Z = StandardScaler().fit_transform(X)
    np.testing.assert_array_equal(ours_scale.transform(X), Z)

    ref = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-8, max_iter=500)
    ref.fit(Z.astype(np.float64), y)
    cold = pvi_module._BinaryLogistic(c, tol=1e-8).fit(Z, y)
    warm = pvi_module._BinaryLogistic(c, tol=1e-8).fit(Z, y, (cold.coef_ * 0.5, cold.intercept_))
    for ours in (cold, warm):
        assert list(ours.classes_) == [1, 3]
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(ours.predict_proba(Z), ref.predict_proba(Z), atol=1e-5)
    proba = ref.predict_proba(Z)
    assert pvi_module._log_loss(y, proba, ref.classes_) == pytest.approx(
        log_loss(y, proba, labels=ref.classes_), rel=1e-12
    )
