"""One trainer for single-task (STL) and multi-task (MTL) runs.

AdamW with warm-up and linear decay, mixed-task batches drawn by a task sampler, bf16 autocast
where the hardware has it, dynamic padding, periodic evaluation on dev with early stopping and
best-checkpoint selection (mean of the tasks' main metrics: macro-F1, accuracy or Pearson),
and the best model's metrics on test.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from taskmix.config import ModelConfig, TrainConfig
from taskmix.data.metrics import task_metrics
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.adapt import make_adaptation
from taskmix.models.backbone import Backbone, BackboneFactory
from taskmix.models.hps import HardSharingModel, make_batch
from taskmix.train.sampling import make_sampler
from taskmix.train.weighting import LossWeighting, make_weighting

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What one run produced: test and dev metrics per task, and how it got there."""

    tasks: list[str]
    seed: int
    test: dict[str, dict[str, float]]
    dev: dict[str, dict[str, float]]
    best_step: int
    steps: int
    duration_s: float
    examples_per_s: float
    trainable_parameters: int
    total_parameters: int
    history: list[dict] = field(default_factory=list)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # examples per task and split
    predictions: dict[str, dict[str, list]] = field(default_factory=dict)
    model: HardSharingModel | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("model", "predictions")}


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))  # for third-party code; our own code uses explicit Generators


class _Streams:
    """An endless, seeded, reshuffled-every-epoch stream of example indices per task."""

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator):
        self.rng = rng
        self.sizes = list(sizes)
        self.perm = [rng.permutation(n) for n in self.sizes]
        self.pos = [0] * len(self.sizes)

    def next(self, k: int) -> int:
        if self.pos[k] >= self.sizes[k]:
            self.perm[k] = self.rng.permutation(self.sizes[k])
            self.pos[k] = 0
        i = int(self.perm[k][self.pos[k]])
        self.pos[k] += 1
        return i


def _load_shared(model: HardSharingModel, init: HardSharingModel) -> None:
    """Copy every weight but the task heads from ``init`` into ``model``."""
    own = model.state_dict()
    shared = {k: v for k, v in init.state_dict().items() if not k.startswith("heads.")}
    bad = [k for k, v in shared.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ModelError(
            f"the model to start from does not fit this run ({len(bad)} weights differ, e.g. "
            f"{bad[0]})",
            hint="start from a model trained with the same backbone and adaptation",
        )
    model.load_state_dict(shared, strict=False)


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def make_optimizer(model: torch.nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters: weight decay on matrices, none on biases and norms;
    task heads (``heads.*``) at ``head_lr``."""
    decay, no_decay, heads = [], [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if n.startswith("heads."):
            heads.append(p)
        else:
            (no_decay if p.ndim < 2 or "LayerNorm" in n or "norm" in n.lower() else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": c.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": heads, "weight_decay": c.weight_decay, "lr": c.head_lr or c.lr},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=c.lr)


class Trainer:
    """Train one model on one task (STL) or several (MTL) and evaluate it.

    >>> trainer = Trainer(TrainConfig(max_steps=100))                       # doctest: +SKIP
    >>> tasks = [suite["negation_site_a"], suite["negation_site_b"]]  # doctest: +SKIP
    >>> result = trainer.fit(tasks, seed=1)  # doctest: +SKIP
    >>> result.test["negation_site_b"]["macro_f1"]                             # doctest: +SKIP
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        backbone: BackboneFactory | ModelConfig | None = None,
        weighting: LossWeighting | None = None,
    ):
        self.config = config or TrainConfig()
        self.backbone = (
            backbone if isinstance(backbone, BackboneFactory) else BackboneFactory(backbone)
        )
        self.weighting = weighting or make_weighting(
            self.config.loss_weighting, self.config.task_weights
        )
        # one strategy for every run: what it loads once (IP's separate form module) is reused
        self.adaptation = make_adaptation(self.config)

    def total_steps(self, tasks: Sequence[Task]) -> int:
        c = self.config
        if c.max_steps:
            return c.max_steps * (len(tasks) if c.steps_per_task else 1)
        n = sum(len(t.splits["train"]) for t in tasks)
        return max(1, math.ceil(c.epochs * n / (c.batch_size * c.grad_accum)))

    def adapted_backbone(self) -> Backbone:
        """A fresh copy of the backbone whose parameters train as the adaptation says."""
        backbone = self.backbone()
        backbone.model = self.adaptation.apply(backbone.model)
        if self.config.freeze_embeddings:
            backbone.model.get_input_embeddings().weight.requires_grad_(False)
        return backbone

    def build(
        self, tasks: Sequence[Task], init: HardSharingModel | None = None
    ) -> HardSharingModel:
        """The model a run trains: a fresh backbone, adapted, with its task heads (and the shared
        weights of ``init``)."""
        backbone = self.adapted_backbone()
        model = self.adaptation.build(backbone, tasks)
        if init is not None:
            _load_shared(model, init)
        return model

    def loss(self, model: HardSharingModel, items: list[tuple[int, str, int]]) -> torch.Tensor:
        """The training loss of one batch of (task index, split, example index) items."""
        batch = make_batch(model.backbone, model.tasks, items)
        with model.backbone.autocast():
            out = model(batch)
        losses = {t: o["loss"] for t, o in out.items()}
        counts = {t: int(o["rows"].numel()) for t, o in out.items()}
        return self.weighting.combine(losses, counts)

    def fit(
        self,
        tasks: Sequence[Task],
        seed: int,
        progress: Callable[[int, int], None] | None = None,
        keep_model: bool = False,
        focus: Sequence[str] | None = None,
        init: HardSharingModel | None = None,
    ) -> TrainResult:
        """Train on ``tasks`` with ``seed``; ``progress(step, total)`` is called after each step.
        ``focus`` names the tasks that matter (default: all): their dev score selects the
        checkpoint and only they are evaluated, as when auxiliary data sets serve one target.
        ``init``: a trained model (same adaptation) whose shared weights — all but the task heads
        — this run starts from, as in few-shot transfer to a new task."""
        c = self.config
        tasks = list(tasks)
        focus = list(focus) if focus else [t.name for t in tasks]
        judged = [t for t in tasks if t.name in focus]
        set_seed(seed)
        rng = np.random.default_rng(seed)
        model = self.build(tasks, init)
        model.train()
        optim = make_optimizer(model, c)
        total = self.total_steps(tasks)
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim, _lr_lambda(int(c.warmup_ratio * total), total)
        )
        sizes = [len(t.splits["train"]) for t in tasks]
        sampler = make_sampler(c.sampler, c.temperature)
        streams = _Streams(sizes, rng)
        eval_every = c.eval_every or max(1, total // 4)
        # Without a dev split there is nothing to select on: the last step's model is kept.
        has_dev = all("dev" in t.splits for t in judged)

        best_score, best_step, best_state, best_dev, bad_evals = -math.inf, 0, None, {}, 0
        history: list[dict] = []
        seen = 0
        start = time.perf_counter()
        train_time = 0.0
        step = 0
        for step in range(1, total + 1):
            t0 = time.perf_counter()
            for _ in range(c.grad_accum):
                draws = sampler.draw(sizes, c.batch_size, rng)
                items = [(int(k), "train", streams.next(int(k))) for k in draws]
                loss = self.loss(model, items) / c.grad_accum
                loss.backward()
                seen += len(items)
            if c.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            train_time += time.perf_counter() - t0
            if progress:
                progress(step, total)

            if has_dev and (step % eval_every == 0 or step == total):
                dev = self.evaluate(model, "dev", tasks=focus)
                score = float(np.mean([dev[t.name][t.main_metric] for t in judged]))
                history.append(
                    {"step": step, "loss": float(loss.item() * c.grad_accum), "dev_score": score}
                )
                if score > best_score:
                    best_score, best_step, best_dev, bad_evals = score, step, dev, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_evals += 1
                if c.patience and bad_evals >= c.patience and step >= c.min_steps:
                    log.info("early stop at step %d (best %d)", step, best_step)
                    break

        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            best_step = step
        test, preds = {}, {}
        if all("test" in t.splits for t in judged):
            test, preds = self.evaluate(model, "test", return_predictions=True, tasks=focus)
        total_params = sum(p.numel() for p in model.parameters())
        return TrainResult(
            tasks=[t.name for t in tasks],
            seed=seed,
            test=test,
            dev=best_dev,
            best_step=best_step,
            steps=step,
            duration_s=time.perf_counter() - start,
            examples_per_s=seen / max(train_time, 1e-9),
            trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
            total_parameters=total_params,
            history=history,
            rows={t.name: {s: len(d) for s, d in t.splits.items()} for t in tasks},
            predictions=preds,
            model=model if keep_model else None,
        )

    @torch.no_grad()
    def outputs(
        self, model: HardSharingModel, split: str, tasks: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Raw head outputs of every task of ``model`` (or of those named in ``tasks``) on ``split``
        (float32): class logits [n, classes], choice scores [n, choices] or regression values [n].
        Length-sorted batches."""
        was_training = model.training
        model.eval()
        backbone = model.backbone
        bs = backbone.config.inference_batch_size
        result = {}
        try:
            for k, task in enumerate(model.tasks):
                if tasks is not None and task.name not in tasks:
                    continue
                data = task.splits[split]
                seqs = [data.sequences(i)[0] for i in range(len(data))]
                shape = {
                    "regression": (len(data),),
                    "classification": (len(data), task.num_labels),
                    "multiple_choice": (len(data), task.n_choices or 2),
                }[task.kind]
                out = np.zeros(shape, np.float32)
                for idx in backbone.length_sorted_batches(
                    seqs, max(1, bs // (task.n_choices or 1))
                ):
                    batch = make_batch(backbone, model.tasks, [(k, split, int(i)) for i in idx])
                    with backbone.autocast():
                        o = model(batch)[task.name]["outputs"]
                    out[idx] = o.float().cpu().numpy()
                result[task.name] = out
        finally:
            model.train(was_training)
        return result

    def evaluate(
        self,
        model: HardSharingModel,
        split: str,
        return_predictions: bool = False,
        tasks: Sequence[str] | None = None,
    ):
        """Metrics of every task of ``model`` (or of those named in ``tasks``) on ``split`` (and,
        if asked, the predictions)."""
        metrics, preds = {}, {}
        outputs = self.outputs(model, split, tasks)
        for task in model.tasks:
            if task.name not in outputs:
                continue
            data = task.splits[split]
            pred = model.heads[task.name].predict(torch.from_numpy(outputs[task.name])).numpy()
            metrics[task.name] = task_metrics(task, pred, data.labels)
            preds[task.name] = task.readable_predictions(split, pred.tolist())
        return (metrics, preds) if return_predictions else metrics
