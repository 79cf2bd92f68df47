"""Groupers fitted with what they need: PVI measured once and kept beside the run store, the
surrogate's subsets trained through it; and the recommended grouping with its baselines, for the
proof by training."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from taskmix.config import GroupConfig, ModelConfig, config_hash
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.experiment.groupings import BASELINES
from taskmix.experiment.groups import GroupTrainer
from taskmix.files import atomic_file, inside
from taskmix.group.groupers import Grouper, PVIGrouper, TextEmbGrouper, make_grouper
from taskmix.group.partition import group_sizes, random_partition
from taskmix.relate.pvi import PVI, measure

log = logging.getLogger(__name__)


def fit_grouper(
    suite: Suite,
    config: GroupConfig | None = None,
    *,
    pvi: PVI | None = None,
    model: ModelConfig | None = None,
    backbone=None,
    cache=None,
    out: str | Path = "runs",
    executor=None,
    show_progress: bool = False,
) -> Grouper:
    """The grouper ``config.method`` names, fitted on ``suite``. PVI: ``pvi`` if given, else
    measured once per (suite, model, settings) and kept under ``out/pvi`` for the next command;
    surrogate: its random subsets trained through the run store under ``out``."""
    config = config or GroupConfig()
    kw = {
        "model": model,
        "backbone": backbone,
        "cache": cache,
        "out": out,
        "show_progress": show_progress,
        "executor": executor,
    }
    if config.method == "pvi":
        kw["pvi"] = (
            pvi
            if pvi is not None
            else measure(suite, config.pvi, model, out, show_progress=show_progress)[0]
        )
    elif config.method == "surrogate":
        trainer = GroupTrainer(
            config.train,
            model,
            seeds=[config.seed],
            out=out,
            executor=executor,
            backbone=backbone,
            show_progress=show_progress,
        )
        kw["runner"] = lambda s, subsets: trainer.run(s, subsets, stl=False)
    return make_grouper(config, **kw).fit(suite)


def save_grouper(grouper: Grouper, out: str | Path, suite: str) -> Path:
    """The grouper's candidate table, at OUT/groups/<suite>-<method>-<hash of its settings>.csv (a
    run with another criterion or test writes its own file); returns the path."""
    path = inside(
        out, "groups", f"{suite}-{grouper.config_.method}-{config_hash(grouper.config_)[:8]}.csv"
    )
    with atomic_file(path) as f:
        grouper.to_frame().to_csv(f, index=False)
    return path


def training_groupings(
    suite: Suite, config: GroupConfig, baselines: Sequence[str] = BASELINES, **kw
) -> tuple[Grouper, dict[str, list[list[str]]]]:
    """The recommended grouping and its baselines, for the proof by training (``kw`` as for
    :func:`fit_grouper`).

    Random and text-embedding groups take the recommended groups' sizes, so that every grouping
    trains as many tasks together; a PVI recommendation adds its most-different pairs.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ConfigError(
            f"unknown baseline {unknown[0]!r}", hint=f"choose from {', '.join(BASELINES)}"
        )
    grouper = fit_grouper(suite, config, **kw)
    groupings = {config.method: grouper.groups_}
    if isinstance(grouper, PVIGrouper) and "most_different" in baselines:
        groupings["most_different"] = grouper.different_
    sizes = group_sizes(grouper.groups_) or [2]
    if "all" in baselines:
        groupings["all"] = [suite.names]
    if "random" in baselines:
        groupings["random"] = random_partition(suite.names, sizes, config.seed)
    if "textemb" in baselines and config.method != "textemb":
        groupings["textemb"] = (
            TextEmbGrouper(
                config.model_copy(update={"sizes": sizes}),
                model=kw.get("model"),
                backbone=kw.get("backbone"),
                cache=kw.get("cache"),
            )
            .fit(suite)
            .groups_
        )
    if not group_sizes(grouper.groups_):
        log.warning("%s found no tasks to group; the baselines use pairs", config.method)
    return grouper, groupings
