"""taskmix: which NLP tasks should be trained together, and does it help?

>>> from taskmix import Suite
>>> len(Suite.load("demo"))
7

The public names are imported lazily, so ``taskmix --help`` does not load torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "ModelConfig": "taskmix.config",
    "RunConfig": "taskmix.config",
    "SuiteConfig": "taskmix.config",
    "TaskConfig": "taskmix.config",
    "TrainConfig": "taskmix.config",
    "PVIConfig": "taskmix.config",
    "GroupConfig": "taskmix.config",
    "TransferConfig": "taskmix.config",
    "SelectConfig": "taskmix.config",
    "SearchConfig": "taskmix.config",
    "CombinationSearch": "taskmix.group.search",
    "TableObjective": "taskmix.group.search",
    "TrialTrainer": "taskmix.experiment.trials",
    "search_combinations": "taskmix.experiment.trials",
    "SurrogateGrouper": "taskmix.group.groupers",
    "PairwiseTransfer": "taskmix.experiment.transfer",
    "TransferMatrix": "taskmix.relate.matrix",
    "TaskShop": "taskmix.relate.taskshop",
    "RetrievalOfExperts": "taskmix.relate.similarity",
    "PVI": "taskmix.relate.pvi",
    "TextEmb": "taskmix.relate.textemb",
    "PVIGrouper": "taskmix.group.groupers",
    "TextEmbGrouper": "taskmix.group.groupers",
    "AllGrouper": "taskmix.group.groupers",
    "RandomGrouper": "taskmix.group.groupers",
    "make_grouper": "taskmix.group.groupers",
    "fit_grouper": "taskmix.experiment.groupers",
    "GroupTrainer": "taskmix.experiment.groups",
    "Suite": "taskmix.data.suite",
    "Task": "taskmix.data.task",
    "TaskSplit": "taskmix.data.task",
    "parse_groups": "taskmix.data.suite",
    "demo_suite": "taskmix.data.suite",
    "TaskmixError": "taskmix.errors",
    "ConfigError": "taskmix.errors",
    "DataError": "taskmix.errors",
    "ModelError": "taskmix.errors",
    "StoreError": "taskmix.errors",
    "Comparison": "taskmix.evaluate.compare",
    "Backbone": "taskmix.models.backbone",
    "FeatureCache": "taskmix.models.features",
    "HardSharingModel": "taskmix.models.hps",
    "IPModel": "taskmix.models.ip",
    "load_model": "taskmix.models.load",
    "RunStore": "taskmix.store",
    "MultiTaskTrainer": "taskmix.evaluate.proof",
    "Advisor": "taskmix.evaluate.advise",
    "AdviseConfig": "taskmix.config",
    "Affinity": "taskmix.group.affinity",
    "AffinityModel": "taskmix.group.affinity",
    "LookaheadAffinity": "taskmix.train.lookahead",
    "judge": "taskmix.stats",
    "BackboneFactory": "taskmix.models.backbone",
    "Trainer": "taskmix.train.trainer",
    "TrainResult": "taskmix.train.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'taskmix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
