"""One estimator contract (scikit-learn's): __init__ stores its arguments as given, get_params /
set_params read and change them, validation and work happen in fit."""

from __future__ import annotations

import inspect

import pytest

from taskmix.errors import ConfigError
from taskmix.estimator import Estimator
from taskmix.experiment.transfer import PairwiseTransfer
from taskmix.group.groupers import (
    AllGrouper,
    PVIGrouper,
    RandomGrouper,
    SurrogateGrouper,
    TextEmbGrouper,
)
from taskmix.group.search import CombinationSearch
from taskmix.group.surrogates import BayesSurrogate, GPSurrogate, LinearSurrogate, MLPSurrogate
from taskmix.relate.llmsim import LLMSimilarity
from taskmix.relate.pvi import PVI
from taskmix.relate.similarity import RetrievalOfExperts
from taskmix.relate.taskshop import TaskShop
from taskmix.relate.textemb import TextEmb

ESTIMATORS = [
    PVI,
    TextEmb,
    PairwiseTransfer,
    PVIGrouper,
    TextEmbGrouper,
    SurrogateGrouper,
    AllGrouper,
    RandomGrouper,
    CombinationSearch,
    TaskShop,
    RetrievalOfExperts,
    LLMSimilarity,
    MLPSurrogate,
    LinearSurrogate,
    BayesSurrogate,
    GPSurrogate,
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=[c.__name__ for c in ESTIMATORS])
def test_init_stores_every_argument_as_given(cls):
    assert issubclass(cls, Estimator)
    names = [
        p
        for p in inspect.signature(cls.__init__).parameters
        if p != "self" and inspect.signature(cls.__init__).parameters[p].kind.name != "VAR_KEYWORD"
    ]
    given = {n: object() for n in names}  # values no validation would accept: stored, not checked
    est = cls(**given)
    params = est.get_params()
    assert all(params[n] is given[n] for n in names)
    other = object()
    assert est.set_params(**{names[0]: other}) is est and est.get_params()[names[0]] is other
    assert repr(est).startswith(cls.__name__ + "(")


def test_keyword_overrides_of_a_config_are_params_and_validated_at_fit():
    g = PVIGrouper(alpha=5.0)  # not a significance level: refused when it is used, not before
    assert g.get_params()["alpha"] == 5.0
    with pytest.raises(ConfigError, match="alpha"):
        g.fit(None)
    assert PVIGrouper().set_params(alpha=0.05).get_params()["alpha"] == 0.05
    with pytest.raises(ConfigError, match="no parameter 'lam2'"):
        TaskShop().set_params(lam2=1)


def test_fit_returns_self_and_learned_results_end_in_underscore(keyword_suite):
    from taskmix.data.suite import Suite

    suite = Suite.from_yaml(keyword_suite)
    g = AllGrouper()
    assert g.fit(suite) is g and g.groups_ == [["a", "b"]] and g.config_.method == "all"
    assert not [k for k in vars(AllGrouper()) if k.endswith("_")]  # nothing learned before fit
