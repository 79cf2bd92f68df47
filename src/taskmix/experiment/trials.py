"""Training the trials of a combination search through the run store.

A trial trains the target together with a combination of auxiliary data sets: equal sampling from
each data set and a fixed step budget whatever their number (as Zhan & Zhang do), the checkpoint
chosen by the target's dev score, the target's metrics on test. Each (combination, seed) is one run
of kind "trial" in the run store (the store's ``trials`` view lists them), identified by the hash of
everything it depends on; a trial is never trained twice, so a killed search re-run with the same
command carries on where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.config import ModelConfig, SearchConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.execute import Executor, LocalExecutor
from taskmix.experiment.runs import run_grid
from taskmix.files import atomic_file, inside, make_dir
from taskmix.group.search import (
    CombinationSearch,
    Objective,
    mask_of,
    names_of,
    read_combinations,
)
from taskmix.models.backbone import BackboneFactory
from taskmix.train.generative import GenerativeTrainer, language_model_factory
from taskmix.train.tracking import tracked
from taskmix.train.trainer import Trainer


@dataclass(frozen=True)
class TrialSpec:
    """One trial: the target trained with ``aux`` under ``seed``; ``mask`` is aux's bitmask."""

    target: str
    aux: tuple[str, ...]
    mask: int
    seed: int

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.target, *self.aux)

    @property
    def setting(self) -> str:
        return f"trial:{self.target}<-{'+'.join(self.aux) or '(alone)'}"


class TrialTrainer(Objective):
    """Scores combinations of auxiliary data sets for ``target`` by training them.

    >>> objective = TrialTrainer(suite, "negation_site_b", SearchConfig(budget=8))  # doctest: +SKIP
    >>> CombinationSearch(objective.config).fit(objective).best_  # doctest: +SKIP

    ``allowed``: the only combinations the search may train (a file, one combination a line, as
    :func:`~taskmix.group.search.read_combinations` reads it, or lists of data set names).
    """

    def __init__(
        self,
        suite: Suite,
        target: str,
        config: SearchConfig | None = None,
        candidates: Sequence[str] | None = None,
        model: ModelConfig | None = None,
        backbone: BackboneFactory | None = None,
        out: str | Path = "runs",
        executor: Executor | None = None,
        show_progress: bool = True,
        allowed: str | Path | Sequence[Sequence[str]] | None = None,
    ):
        if target not in suite.names:
            raise ConfigError(
                f"target {target!r} is not a task of suite {suite.name!r}",
                hint=f"its tasks: {', '.join(suite.names)}",
            )
        self.candidates = [t for t in (candidates or suite.names) if t != target]
        unknown = [t for t in self.candidates if t not in suite.names]
        if unknown:
            raise ConfigError(
                f"{', '.join(unknown)}: not tasks of suite {suite.name!r}",
                hint=f"its tasks: {', '.join(suite.names)}",
            )
        if not self.candidates:
            raise ConfigError(
                f"suite {suite.name!r} has no task besides {target!r} to search over",
                hint="a combination search needs at least one auxiliary data set",
            )
        self.suite, self.target = suite, target
        self.config = config or SearchConfig()
        if self.config.trainer == "generative":
            self.backbone = backbone or language_model_factory(model, self.config.generation)
            self.trainer: Trainer = GenerativeTrainer(
                self.config.train, self.backbone, self.config.generation
            )
        else:
            self.backbone = backbone or BackboneFactory(model or ModelConfig())
            self.trainer = Trainer(self.config.train, self.backbone)
        self.out = Path(out)
        self.executor = executor or LocalExecutor()
        self.show_progress = show_progress
        self.test_scores_: dict[int, list[float]] = {}
        if isinstance(allowed, str | Path):
            self.allowed = read_combinations(allowed, self.candidates)
        elif allowed is not None:
            masks = {mask_of(list(names), self.candidates) for names in allowed}
            self.allowed = np.array(sorted(masks), dtype=np.int64)

    def spec(self, mask: int, seed: int) -> TrialSpec:
        return TrialSpec(self.target, tuple(names_of(mask, self.candidates)), mask, seed)

    def run_config(self, spec: TrialSpec) -> dict:
        """Everything a trial depends on (hashed into its id); not the search's own settings, so
        searches with other surrogates share the trials they have in common."""
        generative = (
            {"trainer": "generative", "generation": self.config.generation.identity()}
            if self.config.trainer == "generative"
            else {}
        )  # encoder trials keep their old ids
        return {
            **generative,
            "target": self.target,
            "datasets": list(spec.aux),
            "mask": format(spec.mask, "b").zfill(len(self.candidates)),
            "tasks": {t: self.suite[t].fingerprint() for t in spec.tasks},
            "seed": spec.seed,
            "model": self.backbone.config.identity(),
            "backbone": self.backbone.fingerprint(),
            "train": self.config.train.identity(),
        }

    def evaluate(self, masks: Sequence[int]) -> list[list[float]]:
        specs = [self.spec(int(m), seed) for m in masks for seed in self.config.seeds]
        records = run_grid(
            self.out,
            self.suite.name,
            [(s, "trial", self.run_config(s)) for s in specs],
            self._work,
            executor=self.executor,
            show_progress=self.show_progress,
        )
        k = len(self.config.seeds)
        for j, m in enumerate(masks):
            self.test_scores_[int(m)] = [
                r.metrics["test_score"] for r in records[j * k : (j + 1) * k]
            ]
        scores = [r.metrics["score"] for r in records]
        return [scores[j * k : (j + 1) * k] for j in range(len(masks))]

    def _work(self, spec: TrialSpec, run_id: str, progress):
        name = f"{spec.setting} seed {spec.seed} {run_id[:8]}"
        out = Path(self.out) / "tracking"
        with tracked(self.config.train, out, self.suite.name, name) as tracker:
            result = self.trainer.fit(
                [self.suite[t] for t in spec.tasks],
                spec.seed,
                progress=progress,
                focus=[self.target],
                tracker=tracker,
            )
        metric = self.suite[self.target].main_metric
        metrics = result.to_dict()
        metrics.update(
            score=result.dev[self.target][metric] if result.dev else float("nan"),
            test_score=result.test.get(self.target, {}).get(metric, float("nan")),
            metric=metric,
        )
        return metrics, None


def search_combinations(
    suite: Suite, target: str, config: SearchConfig | None = None, *, callback=None, **kw
) -> tuple[CombinationSearch, pd.DataFrame]:
    """Search the auxiliary data sets of ``target`` by training trials (keywords go to
    :class:`TrialTrainer`); returns the fitted search and its trials with their test scores."""
    objective = TrialTrainer(suite, target, config, **kw)
    search = CombinationSearch(objective.config).fit(objective, callback=callback)
    trials = search.trials_
    trials["test_score"] = [float(np.mean(objective.test_scores_[m])) for m in trials["mask"]]
    return search, trials


def save_search(
    search: CombinationSearch, trials: pd.DataFrame, folder: str | Path, suite: str, target: str
) -> Path:
    """Write the trials (CSV) and a summary (JSON) of a search to ``folder/<suite>-<target>.*``;
    returns the CSV's path (:func:`taskmix.report.plots.search_curve` draws its curve beside it)."""
    stem = inside(make_dir(folder), f"{suite}-{target}")
    with atomic_file(stem.with_suffix(".csv"), "w") as f:
        trials.to_csv(f, index=False)
    with atomic_file(stem.with_suffix(".json"), "w") as f:
        json.dump(
            {
                "suite": suite,
                "target": target,
                **search_summary(search, trials),
                "config": search.config_.model_dump(mode="json"),
            },
            f,
            indent=1,
        )
    return stem.with_suffix(".csv")


def search_summary(search: CombinationSearch, trials: pd.DataFrame) -> dict:
    """The pick, its dev and test scores, and the target alone's, for the report."""
    best = trials.loc[trials["mask"] == search.best_mask_].iloc[0]
    alone = trials.loc[trials["mask"] == 0]
    return {
        "best": search.best_,
        "best_dev": float(best["score"]),
        "best_test": float(best["test_score"]),
        "alone_dev": float(alone["score"].iloc[0]) if len(alone) else None,
        "alone_test": float(alone["test_score"].iloc[0]) if len(alone) else None,
        "trials": len(trials),
        "stopped": search.stopped_,
    }
