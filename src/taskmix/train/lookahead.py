"""Inter-task affinity measured during one multi-task training run (Fifty et al. 2021, "Efficiently
identifying task groupings for multi-task learning", TAG), and the cosine similarity of the tasks'
gradients on the shared encoder — both from the same per-task gradients.

Every ``every`` steps, before the run's own update, the hook draws a small seeded batch of each
task's training examples and, with dropout off:

1. computes each task i's loss and its gradient g_i on the shared (encoder) parameters θ;
2. for each task i, takes a lookahead step θ' = θ − η g_i (η: the run's learning rate, its
   peak, so that warm-up and decay do not scale the measurements) and measures every task j's
   loss on its batch there;
3. records Z[i → j] = 1 − L_j(θ') / L_j(θ) (positive: a step on i lowers j's loss) and
   cos(g_i, g_j); then puts θ back exactly as it was.

The run itself trains as it would without the hook (its batches, seeds and updates are
untouched). The affinity is the mean of Z over the sampled steps, with its standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from taskmix.models.hps import HardSharingModel, make_batch

#: the share of a run's training time the hook aims to add when ``every`` is left to it
OVERHEAD = 0.4


def auto_every(tasks: int, per_task: int, batch_size: int, overhead: float = OVERHEAD) -> int:
    """Steps between two affinity measurements so that they add about ``overhead`` of the run's
    training work. A measurement runs a forward and backward pass over each task's
    ``per_task`` examples and ``tasks + 1`` forward passes over all ``tasks × per_task`` of them
    (a forward pass ≈ a third of a training step's work per example), against ``batch_size``
    examples a step; small batches and the copies of the encoder's weights about double that in
    practice (measured on MiniLM, 7 tasks: 6.5 steps' time a measurement where the count gives
    3.2), so the estimate is doubled.

    >>> auto_every(8, 4, 32)   # 2 × (32 + 9 × 32 / 3) / 32 = 8 steps of work: every 20 steps
    20
    """
    n = tasks * per_task
    cost = 2 * (n + (tasks + 1) * n / 3) / batch_size
    return max(1, math.ceil(cost / overhead))


class LookaheadAffinity:
    """The step hook of :meth:`taskmix.train.trainer.Trainer.fit` that measures TAG's lookahead
    affinity and gradient cosine. After the run, ``affinity()`` and ``cosine()`` are the task ×
    task means (row: the task stepped on, column: the task affected) and ``samples`` how many
    steps were measured.

    >>> hook = LookaheadAffinity(every=10, per_task=4, seed=1)           # doctest: +SKIP
    >>> Trainer(config).fit(suite.tasks, seed=1, hooks=[hook])           # doctest: +SKIP
    >>> hook.affinity()                                                   # doctest: +SKIP
    """

    def __init__(self, every: int | None = None, per_task: int = 4, seed: int = 0):
        self.every = every
        self.per_task = per_task
        self.seed = seed
        self.names: list[str] = []
        self._z: list[np.ndarray] = []
        self._cos: list[np.ndarray] = []
        self.seconds = 0.0

    def start(self, model: HardSharingModel, batch_size: int) -> None:
        """Called once before the first step."""
        self.names = [t.name for t in model.tasks]
        self.every_ = self.every or auto_every(len(self.names), self.per_task, batch_size)
        self._rng = np.random.default_rng([self.seed, 17])

    def before_step(self, model: HardSharingModel, step: int, lr: float) -> None:
        """Measure at steps 1, 1 + every, …, before the run's own update at that step."""
        if (step - 1) % self.every_ or len(self.names) < 2:
            return
        was_training = model.training
        model.eval()  # no dropout: the losses before and after a lookahead are comparable
        try:
            z, cos = self._measure(model, lr)
        finally:
            model.train(was_training)
            model.zero_grad(set_to_none=True)
        self._z.append(z)
        self._cos.append(cos)

    def _measure(self, model: HardSharingModel, lr: float) -> tuple[np.ndarray, np.ndarray]:
        tasks = model.tasks
        shared = [p for p in model.encoder.parameters() if p.requires_grad]
        batches = []
        for k, task in enumerate(tasks):
            n = len(task.splits["train"])
            rows = self._rng.choice(n, min(self.per_task, n), replace=False)
            batches.append([(k, "train", int(i)) for i in np.sort(rows)])
        grads = []
        for k, items in enumerate(batches):
            with model.backbone.autocast():
                loss = model(make_batch(model.backbone, tasks, items))[tasks[k].name]["loss"]
            g = torch.autograd.grad(loss.float(), shared, allow_unused=True)
            grads.append(
                [torch.zeros_like(p) if x is None else x for p, x in zip(shared, g, strict=True)]
            )
        everything = make_batch(model.backbone, tasks, [i for items in batches for i in items])
        base = self._losses(model, everything)
        T = len(tasks)
        dots = np.zeros((T, T))
        for per_task in zip(*grads, strict=True):  # one parameter tensor at a time: T × n
            g = torch.stack([x.reshape(-1) for x in per_task]).float()
            dots += (g @ g.T).double().cpu().numpy()
        norms = np.sqrt(np.maximum(np.diag(dots), 1e-30))
        cos = dots / np.outer(norms, norms)
        z = np.zeros((T, T))
        backup = [p.detach().clone() for p in shared]
        with torch.no_grad():
            for i in range(T):
                for p, g in zip(shared, grads[i], strict=True):
                    p.sub_(g, alpha=lr)
                after = self._losses(model, everything)
                z[i] = 1.0 - after / np.maximum(base, 1e-12)
                for p, saved in zip(shared, backup, strict=True):
                    p.copy_(saved)
        return z, cos

    @staticmethod
    def _losses(model: HardSharingModel, batch: dict) -> np.ndarray:
        with torch.no_grad(), model.backbone.autocast():
            out = model(batch)
        return np.array([float(out[t.name]["loss"]) for t in model.tasks])

    @property
    def samples(self) -> int:
        return len(self._z)

    def _mean(self, values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if not values:
            raise RuntimeError("no affinity was measured: the run was shorter than one step")
        x = np.stack(values)
        se = (
            x.std(axis=0, ddof=1) / math.sqrt(len(x))
            if len(x) > 1
            else np.full(x.shape[1:], np.nan)
        )
        return x.mean(axis=0), se

    def affinity(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard error) of Z[i → j] over the measured steps; the diagonal is a task's
        affinity to itself."""
        return self._mean(self._z)

    def cosine(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard error) of cos(g_i, g_j) over the measured steps."""
        return self._mean(self._cos)
