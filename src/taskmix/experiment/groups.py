"""Single-task (STL) and multi-task (MTL) runs of groups of tasks, over seeds, through the run
store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from taskmix.config import ModelConfig, TrainConfig, config_hash
from taskmix.data.suite import Suite
from taskmix.execute import Executor, LocalExecutor
from taskmix.experiment.runs import run_grid, unique_seeds
from taskmix.files import atomic_dir
from taskmix.models.backbone import BackboneFactory
from taskmix.store import RunRecord
from taskmix.train.tracking import tracked
from taskmix.train.trainer import Trainer


@dataclass(frozen=True)
class RunSpec:
    """One training run: which tasks together, with which seed."""

    tasks: tuple[str, ...]
    seed: int

    @property
    def kind(self) -> str:
        return "stl" if len(self.tasks) == 1 else "mtl"

    @property
    def setting(self) -> str:
        return f"{self.kind}:{'+'.join(self.tasks)}"


def plan_runs(
    groups: Sequence[Sequence[str]], seeds: Sequence[int], stl: bool = True
) -> list[RunSpec]:
    """STL runs for every task named in ``groups`` and an MTL run per group of two or more. A group
    is a set of tasks: the same tasks in another order are the same run (trained in the order first
    given)."""
    settings: dict[frozenset, tuple[str, ...]] = {}
    if stl:
        for g in groups:
            for t in g:
                settings.setdefault(frozenset([t]), (t,))
    for g in groups:
        if len(set(g)) > 1:
            settings.setdefault(frozenset(g), tuple(g))
    return [RunSpec(s, seed) for s in settings.values() for seed in unique_seeds(seeds)]


class GroupTrainer:
    """Train the STL model of every task and an MTL model per group, over seeds, through the run
    store (a run that finished is never trained again).
    :class:`~taskmix.evaluate.compare.MultiTaskTrainer` adds the comparison of the two.

    >>> trainer = GroupTrainer(TrainConfig(max_steps=100), seeds=[1, 2])
    >>> records = trainer.run(suite, [["a", "b"]])  # doctest: +SKIP
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        model: ModelConfig | None = None,
        seeds: Sequence[int] = (1, 2, 3),
        out: str | Path = "runs",
        executor: Executor | None = None,
        backbone: BackboneFactory | None = None,
        show_progress: bool = True,
    ):
        self.config = config or TrainConfig()
        self.backbone = backbone or BackboneFactory(model or ModelConfig())
        self.model_config = self.backbone.config
        self.seeds = unique_seeds(seeds)
        self.out = Path(out)
        self.executor = executor or LocalExecutor()
        self.show_progress = show_progress

    def run_id(self, suite: Suite, spec: RunSpec) -> str:
        return config_hash(self._run_config(suite, spec))

    def _run_config(self, suite: Suite, spec: RunSpec) -> dict:
        return {
            "tasks": {t: suite[t].fingerprint() for t in spec.tasks},
            "kinds": {t: suite[t].kind for t in spec.tasks},
            "seed": spec.seed,
            "model": self.model_config.identity(),
            "backbone": self.backbone.fingerprint(),
            "train": self.config.identity(),
        }

    def run(
        self, suite: Suite, groups: Sequence[Sequence[str]], stl: bool = True
    ) -> list[RunRecord]:
        """Carry out every planned run not already finished; return the records of all of them."""
        trainer = Trainer(self.config, self.backbone)

        def work(spec, run_id, progress):
            name = f"{spec.setting} seed {spec.seed} {run_id[:8]}"
            with tracked(self.config, self.out / "tracking", suite.name, name) as tracker:
                result = trainer.fit(
                    [suite[t] for t in spec.tasks],
                    spec.seed,
                    progress=progress,
                    keep_model=True,
                    tracker=tracker,
                )
            return result.to_dict(), str(self._write_artifacts(run_id, spec, result))

        specs = plan_runs(groups, self.seeds, stl=stl)
        return run_grid(
            self.out,
            suite.name,
            [(spec, spec.kind, self._run_config(suite, spec)) for spec in specs],
            work,
            executor=self.executor,
            show_progress=self.show_progress,
        )

    def _write_artifacts(self, run_id: str, spec: RunSpec, result) -> Path:
        """metrics.json, test predictions and what the model keeps (the weights if asked; IP: its
        task-embedding similarities); written whole or not at all."""
        final = self.out / run_id
        with atomic_dir(final) as tmp:
            (tmp / "metrics.json").write_text(
                json.dumps({"setting": spec.setting, **result.to_dict()}, indent=2)
            )
            rows = [
                {"task": t, **dict(zip(p, vals, strict=True))}
                for t, p in result.predictions.items()
                for vals in zip(*p.values(), strict=True)
            ]
            pd.DataFrame(rows).to_csv(tmp / "predictions.csv", index=False)
            result.model.write_artifacts(tmp, weights=self.config.save_model)
        return final
