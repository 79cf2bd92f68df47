"""The pairwise transfer grid (TaskWeb): every (s → t, seed) and every target-only (t, seed) is one
run in the run store; the runs themselves (probe, or an encoder adapted on s then on t) are
:mod:`taskmix.relate.transfer`'s. A killed grid resumes where it stopped; nothing finished is run
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from taskmix.config import ModelConfig, TransferConfig
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError
from taskmix.estimator import Estimator
from taskmix.execute import Executor, LocalExecutor
from taskmix.experiment.runs import run_grid
from taskmix.models.features import feature_source
from taskmix.relate.transfer import (
    EncoderTransfer,
    ProbeTransfer,
    TransferSpec,
    matrix_from_runs,
    target_sample,
)

log = logging.getLogger(__name__)


class PairwiseTransfer(Estimator):
    """Measure the transfer matrix of a suite (or of some targets and sources in it).

    >>> pt = PairwiseTransfer(TransferConfig(setting="probe", seeds=[1, 2, 3]), out="runs")
    >>> pt.fit(suite).matrix_.scores().round(3)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: TransferConfig | None = None,
        *,
        targets: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        out: str | Path = "runs",
        executor: Executor | None = None,
        show_progress: bool = True,
        **params,
    ):
        self.config = config
        self.targets = targets
        self.sources = sources
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.out = out
        self.executor = executor
        self.show_progress = show_progress
        self.params = params

    def _plan(self, targets: Sequence[str], sources: Sequence[str]) -> list[TransferSpec]:
        """Target-only runs first, then the pairs source by source (so that a source-trained
        encoder serves every target before the next source is trained)."""
        seeds = self.config_.seeds
        specs = [TransferSpec(t, None, seed) for t in targets for seed in seeds]
        specs += [
            TransferSpec(t, s, seed) for s in sources for seed in seeds for t in targets if s != t
        ]
        return specs

    def fit(self, suite: Suite) -> PairwiseTransfer:
        """Train every target alone and after every source, over the seeds (runs already in the
        store are not trained again); ``matrix_``: the transfer matrix, ``runs_``: per-seed metrics,
        ``sizes_``: the training examples each target was trained on (at most ``n``)."""
        c = self.config_ = self.resolve(TransferConfig)
        targets = list(self.targets or suite.names)
        sources = list(self.sources or suite.names)
        for name in [*targets, *sources]:
            suite[name]  # a clear error for an unknown task
        missing = [t for t in targets if c.split not in suite[t].splits]
        if missing:
            raise ConfigError(
                f"transfer is scored on the targets' {c.split} split, which "
                f"{', '.join(missing)} lacks: give it one, or set transfer 'split: test'"
            )
        if len(set(targets) | set(sources)) < 2:
            raise ConfigError("pairwise transfer needs at least two tasks")
        factory, cache = feature_source(
            self.model or ModelConfig(name=suite.model), self.backbone, self.cache
        )
        self.backbone_, self.cache_ = factory, cache
        samples = {t: target_sample(suite[t], c.n, c.sample_seed) for t in targets}
        self.sizes_ = {t: len(samples[t].splits["train"]) for t in targets}
        runner = (
            ProbeTransfer(c, factory, cache)
            if c.setting == "probe"
            else EncoderTransfer(c, factory)
        )
        base = {
            "kind": "transfer",
            "setting": c.setting,
            "n": c.n,
            "sample_seed": c.sample_seed,
            "model": factory.config.identity(),
            "backbone": factory.fingerprint(),
        }
        if c.split != "test":  # test-scored runs keep the keys they always had
            base["split"] = c.split
        if c.setting == "probe":
            base["probe"] = {
                k: getattr(c, k) for k in ("probe_hidden", "probe_steps", "probe_lr", "probe_batch")
            }
        else:
            base["train"] = {
                "source": runner.source_cfg.identity(),
                "target": runner.target_cfg.identity(),
            }

        specs = self._plan(targets, sources)

        def work(spec: TransferSpec, run_id: str, progress):
            source = suite[spec.source] if spec.source else None
            kw = {} if c.setting == "probe" else {"progress": progress}
            metrics = runner.run(source, samples[spec.target], suite[spec.target], spec.seed, **kw)
            return {c.split: {spec.target: metrics}}, None

        records = run_grid(
            self.out,
            suite.name,
            [
                (
                    spec,
                    "transfer",
                    {
                        **base,
                        "target": suite[spec.target].fingerprint(),
                        "seed": spec.seed,
                        "source": suite[spec.source].fingerprint() if spec.source else None,
                    },
                )
                for spec in specs
            ],
            work,
            executor=self.executor or LocalExecutor(),
            show_progress=self.show_progress,
        )
        self.runs_ = self._runs_frame(suite, specs, records, c.split)
        self.matrix_ = matrix_from_runs(self.runs_, c.setting)
        return self

    @staticmethod
    def _runs_frame(
        suite: Suite, specs: Sequence[TransferSpec], records, split: str
    ) -> pd.DataFrame:
        rows = []
        for spec, rec in zip(specs, records, strict=True):
            task = suite[spec.target]
            rows.append(
                {
                    "target": spec.target,
                    "source": spec.source or "",
                    "seed": spec.seed,
                    "metric": rec.metrics[split][spec.target][task.main_metric],
                    "run": rec.id,
                    "seconds": rec.duration,
                }
            )
        return pd.DataFrame(rows)
