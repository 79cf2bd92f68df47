"""Pairwise transfer (Kim et al. 2023, TaskWeb): how much does training on s first help t?

For every ordered pair (s, t) and seed: train on s (all of it), then on ``n`` examples of t;
compare t's test metric (or dev, by the config's ``split``) with training on the same ``n``
examples of t alone. Over seeds, PC is the mean relative change of t's metric, PM the fraction
of seeds where it rose, and the TaskWeb score ``0.5·PC + 0.5·(0.2·PM − 0.1)``.

Settings: ``probe`` (frozen features from the feature cache and a small MLP head whose hidden
layer carries over from s to t — seconds per pair on a CPU), and ``finetune``, ``bitfit``,
``lora`` (the encoder adapted that way; the adapted encoder carries over).

The grid of these runs over pairs and seeds, through the run store, is
:class:`taskmix.experiment.transfer.PairwiseTransfer`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from taskmix.config import TransferConfig
from taskmix.data.metrics import task_metrics
from taskmix.data.task import Task
from taskmix.relate.matrix import TransferMatrix, taskweb_score

log = logging.getLogger(__name__)

__all__ = [
    "EncoderTransfer",
    "ProbeTransfer",
    "TransferMatrix",
    "matrix_from_runs",
    "target_sample",
]


@dataclass(frozen=True)
class TransferSpec:
    """One run: the target trained alone (source None) or after the source, with a seed."""

    target: str
    source: str | None
    seed: int

    @property
    def setting(self) -> str:
        return f"transfer:{self.source}>{self.target}" if self.source else f"transfer:{self.target}"

    @property
    def tasks(self) -> list[str]:
        return [self.source, self.target] if self.source else [self.target]


def target_sample(task: Task, n: int, seed: int) -> Task:
    """The task with a seeded sample of ``n`` training examples (all of them if it has fewer)."""
    train = task.splits["train"]
    if len(train) <= n:
        return task
    idx = np.sort(np.random.default_rng(seed).choice(len(train), size=n, replace=False))
    return Task(
        name=task.name,
        kind=task.kind,
        splits={**task.splits, "train": train.subset(idx)},
        label_names=task.label_names,
        description=task.description,
        text_fields=task.text_fields,
        split_info=task.split_info,
        n_choices=task.n_choices,
    )


# ---------------------------------------------------------------- the probe setting


class _Probe(nn.Module):
    """features → hidden layer (carried from source to target) → task output."""

    def __init__(self, dim: int, hidden: int, task: Task, body: nn.Module | None = None):
        super().__init__()
        task.require_encoder_kind("pairwise transfer")
        self.body = (
            body
            if body is not None
            else nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.1))
        )
        self.kind = task.kind
        self.out = nn.Linear(hidden, task.num_labels if task.kind == "classification" else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.body(x))
        return (
            y.squeeze(-1) if self.kind != "classification" else y
        )  # MC: [n, choices]; regression: [n]

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "regression":
            return nn.functional.mse_loss(out, y.float())
        return nn.functional.cross_entropy(out, y.long())

    def predict(self, out: torch.Tensor) -> np.ndarray:
        return out.numpy() if self.kind == "regression" else out.argmax(-1).numpy()


class ProbeTransfer:
    """Train probes on frozen features: on the source, then the target; or the target alone."""

    def __init__(self, config: TransferConfig, factory, cache):
        self.config, self.factory, self.cache = config, factory, cache

    def features(self, task: Task, split: str) -> np.ndarray:
        return self.cache.get(self.factory.template, task, split)

    def _fit(self, probe: _Probe, task: Task, X: np.ndarray, seed: int) -> _Probe:
        c = self.config
        g = torch.Generator().manual_seed(seed)
        X = torch.tensor(X, dtype=torch.float32)  # a copy: cached features are read-only
        y = torch.from_numpy(np.asarray(task.splits["train"].labels))
        opt = torch.optim.AdamW(probe.parameters(), lr=c.probe_lr, weight_decay=0.01)
        probe.train()
        for _ in range(c.probe_steps):
            idx = torch.randint(len(X), (min(c.probe_batch, len(X)),), generator=g)
            loss = probe.loss(probe(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return probe

    def run(self, source: Task | None, target: Task, full_target: Task, seed: int) -> dict:
        c = self.config
        torch.manual_seed(seed)
        dim = self.factory.template.hidden_size
        probe = _Probe(dim, c.probe_hidden, target)
        if source is not None:
            trained = self._fit(
                _Probe(dim, c.probe_hidden, source), source, self.features(source, "train"), seed
            )
            # The hidden layer always carries over; the output layer too when the label spaces are
            # the
            # same (as a text-to-text model's verbalised labels would).
            probe = (
                trained
                if same_outputs(source, target)
                else _Probe(dim, c.probe_hidden, target, trained.body)
            )
        X = self.features(full_target, "train")
        keep = _rows_of(target, full_target)
        probe = self._fit(probe, target, X[keep], seed + 1)
        probe.eval()
        with torch.no_grad():
            X = self.features(full_target, c.split)
            out = probe(torch.tensor(X, dtype=torch.float32))
        return task_metrics(target, probe.predict(out), target.splits[c.split].labels)


def same_outputs(a: Task, b: Task) -> bool:
    """Whether two tasks' outputs mean the same: same kind and (classification) the same labels."""
    if a.kind != b.kind:
        return False
    return a.kind != "classification" or list(a.label_names or []) == list(b.label_names or [])


def _rows_of(sample: Task, full: Task) -> np.ndarray:
    """Positions of the sample's training examples in the full task (by example id)."""
    pos = {i: k for k, i in enumerate(full.splits["train"].ids)}
    return np.array([pos[i] for i in sample.splits["train"].ids])


# ---------------------------------------------------------------- fine-tuning settings


class EncoderTransfer:
    """Adapt the encoder on the source (finetune / bitfit / lora), then on the target."""

    def __init__(self, config: TransferConfig, factory):
        from taskmix.train.trainer import Trainer

        self.config, self.factory = config, factory
        adaptation = {"finetune": "full"}.get(config.setting, config.setting)
        self.source_cfg = config.source.model_copy(update={"adaptation": adaptation})
        self.target_cfg = config.target.model_copy(update={"adaptation": adaptation})
        self.source_trainer = Trainer(self.source_cfg, factory)
        self._last: tuple[tuple[str, int], object] | None = (
            None  # (source name, seed) → its encoder
        )

    def _source_encoder(self, source: Task, seed: int):
        """The encoder after training on ``source`` with ``seed`` (kept for the next pair: runs are
        ordered source by source, so each source is trained once per seed)."""
        from taskmix.models.backbone import Backbone

        key = (source.name, seed)
        if self._last is None or self._last[0] != key:
            result = self.source_trainer.fit([source], seed, keep_model=True)
            bb = result.model.backbone
            self._last = (key, Backbone(bb.model, bb.tokenizer, name=bb.name, config=bb.config))
        return self._last[1]

    def run(
        self, source: Task | None, target: Task, full_target: Task, seed: int, progress=None
    ) -> dict:
        from taskmix.models.backbone import BackboneFactory
        from taskmix.train.trainer import Trainer

        factory = self.factory
        if source is not None:
            factory = BackboneFactory(
                self.factory.config, template=self._source_encoder(source, seed)
            )
        result = Trainer(self.target_cfg, factory).fit([target], seed, progress=progress)
        return getattr(result, self.config.split)[target.name]


def matrix_from_runs(runs: pd.DataFrame, setting: str) -> TransferMatrix:
    """PC, PM and the TaskWeb score of every pair from per-seed target metrics (``runs``: target,
    source ('' for the target alone), seed, metric)."""
    alone = runs[runs["source"] == ""].set_index(["target", "seed"])["metric"]
    rows = []
    for (t, s), g in runs[runs["source"] != ""].groupby(["target", "source"], sort=False):
        base = alone.loc[[(t, seed) for seed in g["seed"]]].to_numpy()
        got = g["metric"].to_numpy()
        rel = (got - base) / np.maximum(np.abs(base), 1e-6)
        pc, pm = float(rel.mean()), float((got > base).mean())
        rows.append(
            {
                "target": t,
                "source": s,
                "setting": setting,
                "pc": pc,
                "pm": pm,
                "score": float(taskweb_score(pc, pm)),
                "metric": float(got.mean()),
                "base": float(base.mean()),
                "n_seeds": len(g),
            }
        )
    return TransferMatrix(pd.DataFrame(rows))
