"""Selecting sources for a target: ranking them (TaskShop, :mod:`taskmix.relate.taskshop`) for a
target known from a file of examples, evaluating the ranking method leave-one-out, and proving a
selection by training: the target alone and with the top-k, random k, bottom-k and all sources."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from taskmix.config import ModelConfig, RunConfig, SelectConfig
from taskmix.data.suite import Suite
from taskmix.data.task import Task, load_examples
from taskmix.errors import ConfigError
from taskmix.evaluate.compare import Comparison
from taskmix.evaluate.proof import MultiTaskTrainer
from taskmix.experiment.runs import STORE_FILE
from taskmix.relate.matrix import load_matrix
from taskmix.relate.similarity import load_similarity
from taskmix.relate.taskshop import (
    leave_one_out,
    rank_sources,
    selection_groupings,
    similarity_table,
)
from taskmix.relate.transfer import target_sample


def train_selection(
    suite: Suite,
    target: str,
    ranking: Sequence[str],
    config: SelectConfig | None = None,
    run: RunConfig | None = None,
    *,
    model: ModelConfig | None = None,
    executor=None,
    trainer: MultiTaskTrainer | None = None,
):
    """Train the target alone and with each selection (sources sampled to ``per_source``
    examples each, mixed into one multi-task training set), over ``run``'s seeds with its
    training settings (or with ``trainer``).

    Returns (comparison, table): the table has one row per selection with the target's main
    metric and its difference from the target alone, ± 95% CI over seeds.
    """
    c = config or SelectConfig()
    if target not in suite:
        raise ConfigError(
            f"proving a selection trains the target: {target!r} is not a task of suite "
            f"{suite.name!r}",
            hint="add the target (with train and test data) to the suite",
        )
    if trainer is None:
        run = run or RunConfig()
        trainer = MultiTaskTrainer(
            run.train, model or run.model, seeds=run.seeds, out=run.out, executor=executor
        )
    groupings = selection_groupings(ranking, target, c.k, c.seed)
    used = dict.fromkeys(t for part in groupings.values() for g in part for t in g)
    tasks = [
        suite[t] if t == target else target_sample(suite[t], c.per_source, c.seed) for t in used
    ]
    mixed = Suite(suite.name, tasks, model=suite.model)
    # The target alone is the baseline; the sources need no single-task models of their own.
    records = trainer.run(mixed, [[target]]) + trainer.run(
        mixed, [g for part in groupings.values() for g in part], stl=False
    )
    comparison = Comparison(records, mixed, groupings=groupings)
    table = comparison.table()
    table = table[(table["task"] == target) & (table["grouping"] != "")]
    keep = [
        "grouping",
        "setting",
        "seeds",
        table["delta_metric"].iloc[0],
        table["delta_metric"].iloc[0] + "_ci",
        "delta",
        "delta_ci",
    ]
    return comparison, table[keep].reset_index(drop=True)


def rank_for_target(
    suite: Suite,
    target: str,
    config: SelectConfig | None = None,
    *,
    matrix: str | Path | None = None,
    setting: str | None = None,
    text: str = "text",
    label: str = "label",
    model: ModelConfig | None = None,
    out: str | Path = "runs",
) -> tuple[Task, pd.DataFrame, bool]:
    """Rank the suite's tasks as sources for ``target``: a task of the suite, or a data file of its
    examples (``text`` / ``label`` fields). TaskShop through ``matrix`` (or the one `taskmix
    transfer` saved under ``out``), else F alone. Returns (the target task, the ranking, whether a
    matrix was used); an LLM's answers (``similarity: llm``) are cached in the run store."""
    if target in suite:
        task = suite[target]
    elif Path(target).exists():
        task = load_examples(target, text, label)
    else:
        raise ConfigError(
            f"--target {target!r} is neither a task of {suite.name} nor a file",
            hint=f"tasks: {', '.join(suite.names)}",
        )
    m = load_matrix(matrix, out, suite, setting)
    pool = [x for x in suite if x.name != task.name]
    ranking = rank_sources(
        task, pool, m, config or SelectConfig(), model=model, store=Path(out) / STORE_FILE
    )
    return task, ranking, m is not None


def evaluate_ranking(
    config: SelectConfig | None = None,
    suite: Suite | None = None,
    *,
    matrix: str | Path | None = None,
    setting: str | None = None,
    metric: str | Path | None = None,
    similarity: str | Path | None = None,
    model: ModelConfig | None = None,
    out: str | Path = "runs",
) -> pd.DataFrame:
    """Leave-one-out NDCG and Regret@k of F alone and of TaskShop over every target of a transfer
    matrix (``matrix``, or the one saved for ``suite``); F from a table (``similarity``) or computed
    on the suite's tasks."""
    c = config or SelectConfig()
    m = load_matrix(matrix, out, suite, setting, metric)
    if m is None:
        raise ConfigError(
            "evaluating a ranking needs a transfer matrix",
            hint="give --matrix, or run `taskmix transfer` first",
        )
    if similarity is not None:
        F = load_similarity(similarity)
    elif suite is not None:
        tasks = [suite[t] for t in m.tasks if t in suite]
        F = similarity_table(tasks, c, model=model, store=Path(out) / STORE_FILE)
    else:
        raise ConfigError(
            "evaluating a ranking needs F", hint="give --similarity F.csv, or a suite to compute it"
        )
    return leave_one_out(m, F, lam=c.lam, k=c.k)
