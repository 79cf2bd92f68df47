"""Task affinity on one scale: TAG's lookahead affinity and gradient cosine measured by a step hook
(checked against a lookahead done by hand, and shown not to change the run), the adapters of the
other signals, the partition search by TAG's objective and the combination of signals."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from taskmix.config import TrainConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.group.affinity import (
    Affinity,
    AffinityModel,
    combine,
    lookahead_affinities,
    pvi_affinity,
    surrogate_affinity,
    taskshop_affinity,
    transfer_affinity,
)
from taskmix.models.hps import make_batch
from taskmix.train.lookahead import LookaheadAffinity, auto_every
from taskmix.train.trainer import TimeLimit, Trainer

FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)


def test_the_hook_measures_without_changing_the_run(keyword_suite, tiny_factory):
    suite = Suite.from_yaml(keyword_suite)
    tasks = [suite["a"], suite["b"]]
    plain = Trainer(FAST, tiny_factory).fit(tasks, seed=2)
    hook = LookaheadAffinity(every=2, per_task=4, seed=1)
    hooked = Trainer(FAST, tiny_factory).fit(tasks, seed=2, hooks=[hook])
    assert hooked.test == plain.test and hooked.history == plain.history
    assert hook.samples == 3 and hooked.hook_seconds > 0  # steps 1, 3, 5
    z, se = hook.affinity()
    cos, _ = hook.cosine()
    assert z.shape == (2, 2) and np.isfinite(z).all() and np.isfinite(se).all()
    assert cos[0, 0] == pytest.approx(1.0) and cos[0, 1] == pytest.approx(cos[1, 0])
    assert -1 <= cos[0, 1] <= 1
    assert z[0, 0] > 0 and z[1, 1] > 0  # a step on a task's own gradient lowers its loss
    tag, cosine = lookahead_affinities(hook)
    assert tag.name == "tag" and tag.tasks == ["a", "b"] and tag.zero == 0.0
    assert cosine.matrix.loc["a", "b"] == pytest.approx(cos[0, 1])


def test_a_time_limit_ends_the_run_before_the_step_where_its_time_is_up(
    keyword_suite, tiny_factory
):
    suite = Suite.from_yaml(keyword_suite)
    tasks = [suite["a"], suite["b"]]
    ticks = iter(range(100))  # a clock that advances one second each time it is read
    hook = LookaheadAffinity(every=1, per_task=4, seed=1)
    limit = TimeLimit(2.5, clock=lambda: float(next(ticks)))  # read at start, 1, 2, 3 s
    result = Trainer(FAST, tiny_factory).fit(tasks, seed=2, hooks=[hook, limit])
    assert limit.stop and result.steps == 2 and hook.samples == 3  # measured before step 3
    plain = Trainer(FAST, tiny_factory).fit(tasks, seed=2, hooks=[TimeLimit(3600)])
    assert plain.steps == FAST.max_steps


def test_one_lookahead_by_hand(keyword_suite, tiny_factory):
    """Z[i → j] = 1 − L_j(θ − η g_i) / L_j(θ), with θ the shared encoder, dropout off."""
    suite = Suite.from_yaml(keyword_suite)
    tasks = [suite["a"], suite["b"]]
    trainer = Trainer(FAST, tiny_factory)
    model = trainer.build(tasks, None)
    hook = LookaheadAffinity(every=1, per_task=4, seed=5)
    hook.start(model, 8)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook.before_step(model, 1, 0.05)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # put back
    # the same draws, by hand
    rng = np.random.default_rng([5, 17])
    batches = []
    for k, t in enumerate(tasks):
        rows = np.sort(rng.choice(len(t.splits["train"]), 4, replace=False))
        batches.append([(k, "train", int(i)) for i in rows])
    model.eval()
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    both = make_batch(model.backbone, tasks, batches[0] + batches[1])

    def losses():
        with torch.no_grad():
            out = model(both)
        return np.array([float(out[t.name]["loss"]) for t in tasks])

    base = losses()
    grads = []
    for k, items in enumerate(batches):
        loss = model(make_batch(model.backbone, tasks, items))[tasks[k].name]["loss"]
        grads.append(torch.autograd.grad(loss, shared, allow_unused=True))
    z = np.zeros((2, 2))
    for i in range(2):
        with torch.no_grad():
            for p, g in zip(shared, grads[i], strict=True):
                if g is not None:
                    p.sub_(0.05 * g)
        z[i] = 1 - losses() / base
        model.load_state_dict(state)
    flat = [torch.cat([g.flatten() for g in gs if g is not None]) for gs in grads]
    cos = float(torch.nn.functional.cosine_similarity(flat[0], flat[1], dim=0))
    assert hook.affinity()[0] == pytest.approx(z, rel=1e-4, abs=1e-7)
    assert hook.cosine()[0][0, 1] == pytest.approx(cos, rel=1e-4)


def test_auto_every_keeps_the_cost_near_its_share():
    assert auto_every(8, 4, 32) == 20 and auto_every(2, 4, 32) == 3
    assert auto_every(20, 4, 32) > auto_every(8, 4, 32)


def planted_affinity() -> Affinity:
    """Six tasks, two planted groups {a, b, c} and {d, e}, f related to nothing."""
    names = list("abcdef")
    m = pd.DataFrame(-0.1, index=names, columns=names)
    for group in ("abc", "de"):
        for i, j in itertools.permutations(group, 2):
            m.loc[i, j] = 0.5
    m.loc["a", "b"] = 0.9  # asymmetric: a helps b more than b helps a
    return Affinity("planted", m, neutral=0.0)


def test_partition_by_tags_objective_recovers_planted_groups():
    aff = planted_affinity()
    assert aff.partition(max_size=3) == [["a", "b", "c"], ["d", "e"], ["f"]]
    # the objective by hand: mean over j of the mean affinity from the others
    assert aff.group_score(("a", "b")) == pytest.approx((0.9 + 0.5) / 2)
    assert aff.group_score(("a", "b", "c")) == pytest.approx(((0.5 + 0.5) + (0.9 + 0.5) + 1.0) / 6)
    assert aff.pair("a", "b") == pytest.approx(0.7)
    assert aff.pairs()["a+b"] == pytest.approx(0.7) and len(aff.pairs()) == 15
    assert aff.partition(max_size=2)[:2] == [["a", "b"], ["d", "e"]]
    # nothing above neutral: every task alone
    none = Affinity("flat", pd.DataFrame(-1.0, index=list("xyz"), columns=list("xyz")), neutral=0.0)
    assert none.partition() == [["x"], ["y"], ["z"]]
    long = aff.to_frame()
    assert len(long) == 30 and set(long.columns) == {"signal", "source", "target", "affinity"}


def test_adapters_put_every_signal_on_one_orientation():
    rng = np.random.default_rng(0)
    pvi = pvi_affinity(
        {"a": rng.normal(0, 1, 500), "b": rng.normal(0.05, 1, 500), "c": rng.normal(2, 1, 500)}
    )
    assert pvi.pair("a", "b") > pvi.pair("a", "c")  # similar PVI: larger affinity
    assert pvi.se is not None and pvi.se.loc["a", "c"] > pvi.se.loc["a", "b"]
    # transfer tables are target × source; affinities source × target
    scores = pd.DataFrame({"a": [np.nan, 0.3], "b": [-0.2, np.nan]}, index=["a", "b"])
    t = transfer_affinity(scores)
    assert t.matrix.loc["a", "b"] == 0.3 and t.matrix.loc["b", "a"] == -0.2
    # TaskShop: t's column from the similarity and the matrix without t
    from taskmix.relate.matrix import TransferMatrix
    from taskmix.relate.taskshop import TaskShop

    names3 = ["a", "b", "c"]
    rows = [
        (t, s, 0.1 * (i + 1), 0.5) for i, (t, s) in enumerate(itertools.permutations(names3, 2))
    ]
    matrix = TransferMatrix.from_records(rows)
    sim = pd.DataFrame(
        [[1.0, 0.2, 0.7], [0.2, 1.0, 0.4], [0.7, 0.4, 1.0]], index=names3, columns=names3
    )
    shop = taskshop_affinity(matrix, sim)
    want = TaskShop(0.7).fit(matrix.without("a")).predict("a", sim.loc["a"], ["b", "c"])
    assert shop.matrix.loc["b", "a"] == pytest.approx(want.loc["b", "score"])
    assert shop.name == "taskshop" and np.isnan(shop.matrix.loc["a", "a"])
    effects = pd.DataFrame([[0.0, 0.4], [0.1, 0.0]], index=["a", "b"], columns=["a", "b"])
    s = surrogate_affinity(effects)  # effects: row target, column the data set
    assert s.matrix.loc["b", "a"] == 0.4


def test_combining_signals_standardises_them():
    aff = planted_affinity()
    scaled = Affinity("scaled", aff.matrix * 100, neutral=0.0)
    both = combine([aff, scaled])
    assert both.partition() == aff.partition()
    assert np.allclose(both.centered().fillna(0), aff.standardised().fillna(0))
    flipped = Affinity("flipped", -aff.matrix, neutral=0.0)
    only = combine([aff, flipped], weights={"planted": 1.0, "flipped": 0.0})
    assert only.partition() == aff.partition()


def _random_signal(name: str, names: list[str], seed: int) -> Affinity:
    m = np.random.default_rng(seed).normal(size=(len(names), len(names)))
    m = (m + m.T) / 2
    return Affinity(name, pd.DataFrame(m, index=names, columns=names), neutral=0.0)


def test_the_fitted_advisor_recovers_known_weights():
    names = list("abcdefgh")
    good, noise = _random_signal("good", names, 1), _random_signal("noise", names, 2)
    wrong = Affinity("wrong", -good.matrix, neutral=0.0)
    gains = -0.01 + 0.02 * good.standardised()  # in the units of the gains, NaN diagonal
    model = AffinityModel(ridge=0.0).fit([good, noise, wrong], gains)
    assert model.weights_["good"] == pytest.approx(0.02, abs=1e-9)
    assert model.weights_["noise"] == pytest.approx(0.0, abs=1e-9)
    assert model.weights_["wrong"] == 0.0  # non-negative: a signal that points the wrong way
    assert model.intercept_ == pytest.approx(-0.01, abs=1e-9)
    assert model.residual_sd_ == pytest.approx(0.0, abs=1e-9)  # an exact fit
    pred = model.predict([good, noise, wrong])
    assert np.allclose(pred.matrix.fillna(0), gains.fillna(0)) and pred.zero == 0.0
    assert np.isnan(pred.matrix.loc["a", "a"])
    # ridge shrinks the weight towards 0; the model travels as plain numbers
    shrunk = AffinityModel(ridge=1.0).fit([good, noise, wrong], gains)
    assert 0 < shrunk.weights_["good"] < 0.02
    assert shrunk.residual_sd_ > 0  # the shrunk fit misses: its predictions carry that se
    assert shrunk.predict([good]).se.loc["a", "b"] == pytest.approx(shrunk.residual_sd_)
    back = AffinityModel.from_dict(json.loads(json.dumps(shrunk.to_dict())))
    assert back.predict([good, noise]).matrix.equals(shrunk.predict([good, noise]).matrix)
    # pairs not measured (NaN) are not fitted on; a prediction that was never fitted says so
    part = gains.copy()
    part.loc["a", :] = np.nan
    assert AffinityModel(ridge=0.0).fit([good], part).n_pairs_ == 56 - 7
    with pytest.raises(ConfigError, match="not fitted"):
        AffinityModel().predict([good])
