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
from taskmix.data.metrics import MAJORITY_TOLERANCE, majority_metrics, task_metrics
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.adapt import make_adaptation
from taskmix.models.backbone import Backbone, BackboneFactory
from taskmix.models.hps import HardSharingModel, make_batch
from taskmix.train.sampling import make_batcher, make_sampler
from taskmix.train.tracking import Tracker
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
    train_seconds: float = 0.0  # in the training steps
    eval_seconds: float = 0.0  # scoring dev: during training, and the kept checkpoint on all of it
    test_seconds: float = 0.0  # scoring test
    hook_seconds: float = 0.0  # in the step hooks (e.g. measuring task affinity)
    history: list[dict] = field(default_factory=list)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # examples per task and split
    # test metrics of always answering the most frequent training label (classification tasks)
    majority: dict[str, dict[str, float]] = field(default_factory=dict)
    predictions: dict[str, dict[str, list]] = field(default_factory=dict)
    model: HardSharingModel | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("model", "predictions")}


#: the fewest dev examples per task an evaluation during training scores (when dev has them)
EVAL_MIN = 64
#: what scoring dev may cost in a run with the default schedule, in forward passes per training
#: example: a forward pass is a quarter to a fifth of a training step's work, so about 15% of it
EVAL_BUDGET = 0.6


def eval_size(c: TrainConfig, eval_every: int, tasks: int) -> int | None:
    """Dev examples per task scored at each evaluation during training: ``eval_examples``, and no
    more than the examples trained between two evaluations (shared by the ``tasks`` judged), so
    that in a short run evaluating costs a fraction of training; at least :data:`EVAL_MIN`."""
    if c.eval_examples is None:
        return None
    between = eval_every * c.batch_size * c.grad_accum // max(1, tasks)
    return min(c.eval_examples, max(EVAL_MIN, between))


def eval_schedule(c: TrainConfig, total: int, judged: Sequence[Task]) -> tuple[int, int | None]:
    """(evaluate every N steps, dev examples per task at each evaluation during training).
    ``eval_every`` if set; else two evaluations an epoch (a run budgeted in epochs: early
    stopping can end it soon after dev stops improving) or four a run (budgeted in max_steps), or
    fewer when a short run could not afford them: the sampled evaluations and one pass over all
    of dev may cost at most :data:`EVAL_BUDGET` forward passes per training example (a 10-step
    run with a few hundred dev examples evaluates once, at its end)."""
    if c.eval_every:
        return c.eval_every, eval_size(c, c.eval_every, len(judged))
    sizes = [len(t.splits["dev"]) for t in judged if "dev" in t.splits]
    budget = EVAL_BUDGET * total * c.batch_size * c.grad_accum
    most = 4 if c.max_steps else max(4, math.ceil(2 * c.epochs))
    for evals in range(most, 0, -1):
        every = max(1, total // evals)
        n = eval_size(c, every, len(judged))
        cost = (evals - 1) * sum(min(n or d, d) for d in sizes) + sum(sizes)
        if cost <= budget:
            break
    return every, n


def dev_sample(tasks: Sequence[Task], n: int | None, seed: int) -> dict[str, np.ndarray]:
    """The dev examples scored at each evaluation during training: a seeded sample of at most
    ``n`` per task (sorted); {} when every task's dev is that small (all of it is scored)."""
    rng = np.random.default_rng([seed, 7])
    out = {}
    for t in tasks:
        size = len(t.splits["dev"])
        if n is not None and size > n:
            out[t.name] = np.sort(rng.choice(size, n, replace=False))
    return out


def step_budget(config: TrainConfig, tasks: Sequence[Task]) -> int:
    """The steps a run of ``tasks`` may train: ``max_steps`` (times the tasks with
    ``steps_per_task``), else ``epochs`` passes over their training examples."""
    if config.max_steps:
        return config.max_steps * (len(tasks) if config.steps_per_task else 1)
    n = sum(len(t.splits["train"]) for t in tasks)
    return max(1, math.ceil(config.epochs * n / (config.batch_size * config.grad_accum)))


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of what training changes (trainable parameters, and buffers): a checkpoint without
    the frozen base of an adapted model."""
    state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    state.update({n: b.detach().clone() for n, b in model.named_buffers()})
    return state


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))  # for third-party code; our own code uses explicit Generators


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
    groups = [g for g in groups if g["params"]]
    try:  # one fused kernel for every parameter (CPU and CUDA, torch >= 2.4): the same update
        return torch.optim.AdamW(groups, lr=c.lr, fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without a fused kernel
        return torch.optim.AdamW(groups, lr=c.lr)


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
        return step_budget(self.config, tasks)

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
        model.train_config = self.config  # what save_pretrained records
        if init is not None:
            _load_shared(model, init)
        return model

    def train_lengths(self, model: HardSharingModel, task: Task) -> np.ndarray:
        """Each training example's length (tokens), what length-grouped batches sort by."""
        return model.backbone.lengths(task.splits["train"])

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
        tracker: Tracker | None = None,
        hooks: Sequence = (),
    ) -> TrainResult:
        """Train on ``tasks`` with ``seed``; ``progress(step, total)`` is called after each step.
        ``focus`` names the tasks that matter (default: all): their dev score selects the
        checkpoint and only they are evaluated, as when auxiliary data sets serve one target.
        ``init``: a trained model (same adaptation) whose shared weights — all but the task heads
        — this run starts from, as in few-shot transfer to a new task. ``tracker``: where the
        settings, the training loss and the metrics are reported as the run goes
        (:mod:`taskmix.train.tracking`). ``hooks``: objects with ``start(model, batch_size)`` and
        ``before_step(model, step, lr)`` (``lr``: the run's peak learning rate) that observe the
        run (e.g. :class:`taskmix.train.lookahead.LookaheadAffinity`) and leave it as it was;
        their time is ``hook_seconds``, outside ``train_seconds``. A hook whose ``stop`` is true
        after ``before_step`` ends the run before that step, as the step budget would (e.g.
        :class:`TimeLimit`)."""
        c = self.config
        tracker = tracker or Tracker()
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
        # fp16 autocast: the loss is scaled so that small gradients do not underflow (a no-op
        # pass-through in bf16 and fp32)
        scaler = torch.amp.GradScaler(
            model.backbone.device.type, enabled=model.backbone.amp_dtype == torch.float16
        )
        sampler = make_sampler(c.sampler, c.temperature)
        batcher = make_batcher(
            c.batching, sampler, [self.train_lengths(model, t) for t in tasks], c.batch_size, rng
        )
        eval_every, n_dev = eval_schedule(c, total, judged)
        # Without a dev split there is nothing to select on: the last step's model is kept.
        has_dev = all("dev" in t.splits for t in judged)
        sample = self.dev_rows(judged, n_dev, seed) if has_dev else {}
        # an evaluation counts against patience only when every task scores above its
        # majority-class level (on the dev rows it is judged on): a model on the plateau of
        # always answering the most frequent label is not stopped there
        learning = has_dev and bool(c.patience) and c.patience_from == "learned"
        floors = _majority_floors(judged, sample) if learning else {}

        tracker.log_params(
            {
                "tasks": ",".join(t.name for t in tasks),
                "seed": seed,
                "steps": total,
                "train": c.identity(),
                "model": model.backbone.config.identity(),
            }
        )
        log_every = max(1, total // 200)  # a loss point every step, or 200 points in a long run
        best_score, best_step, best_state, best_dev, bad_evals = -math.inf, 0, None, {}, 0
        history: list[dict] = []
        seen = 0
        start = time.perf_counter()
        train_time = eval_time = 0.0
        step = 0
        hook_time = 0.0
        for hook in hooks:
            hook.start(model, c.batch_size * c.grad_accum)
        for step in range(1, total + 1):
            if hooks:
                t0 = time.perf_counter()
                for hook in hooks:
                    hook.before_step(model, step, c.lr)
                hook_time += time.perf_counter() - t0
                if any(getattr(hook, "stop", False) for hook in hooks):
                    log.info("stopped by a hook before step %d", step)
                    step -= 1
                    break
            t0 = time.perf_counter()
            for _ in range(c.grad_accum):
                items = [(k, "train", i) for k, i in batcher.next()]
                loss = self.loss(model, items) / c.grad_accum
                scaler.scale(loss).backward()
                seen += len(items)
            scaler.unscale_(optim)
            if c.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
            scaler.step(optim)
            scaler.update()
            sched.step()
            optim.zero_grad(set_to_none=True)
            train_time += time.perf_counter() - t0
            if progress:
                progress(step, total)
            if tracker.active and step % log_every == 0:
                tracker.log_metrics({"train": {"loss": loss.item() * c.grad_accum}}, step)

            if has_dev and (step % eval_every == 0 or step == total):
                t0 = time.perf_counter()
                dev, whole = self._evaluate_dev(model, focus, sample, whole=step == total)
                eval_time += time.perf_counter() - t0
                score = float(np.mean([dev[t.name][t.main_metric] for t in judged]))
                tracker.log_metrics({"dev": dev, "dev_score": score}, step)
                history.append(
                    {"step": step, "loss": float(loss.item() * c.grad_accum), "dev_score": score}
                )
                if score > best_score:
                    best_score, best_step, best_dev, bad_evals = score, step, whole, 0
                    best_state = trainable_state(model)
                elif all(dev[t].get(m, math.inf) > v for t, (m, v) in floors.items()):
                    bad_evals += 1
                if c.patience and bad_evals >= c.patience and step >= c.min_steps:
                    log.info("early stop at step %d (best %d)", step, best_step)
                    break

        if best_state is not None:
            model.load_state_dict(best_state, strict=False)
            if best_dev is None:  # kept from a sampled evaluation: now scored on all of dev
                t0 = time.perf_counter()
                best_dev = self.evaluate(model, "dev", tasks=focus)
                eval_time += time.perf_counter() - t0
        else:
            best_step, best_dev = step, {}
        test, preds = {}, {}
        t0 = time.perf_counter()
        if all("test" in t.splits for t in judged):
            test, preds = self.evaluate(model, "test", return_predictions=True, tasks=focus)
        test_time = time.perf_counter() - t0
        tracker.log_metrics({"best": {"dev": best_dev, "step": best_step}, "test": test}, step)
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
            train_seconds=train_time,
            eval_seconds=eval_time,
            test_seconds=test_time,
            hook_seconds=hook_time,
            trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
            total_parameters=total_params,
            history=history,
            rows={t.name: {s: len(d) for s, d in t.splits.items()} for t in tasks},
            majority={t.name: m for t in judged if (m := majority_metrics(t, "test")) is not None},
            predictions=preds,
            model=model if keep_model else None,
        )

    def dev_rows(self, tasks: Sequence[Task], n: int | None, seed: int) -> dict[str, np.ndarray]:
        """The dev examples scored at each evaluation during training (see :func:`dev_sample`)."""
        return dev_sample(tasks, n, seed)

    def _evaluate_dev(
        self, model: HardSharingModel, focus: Sequence[str], sample: dict, whole: bool
    ) -> tuple[dict, dict | None]:
        """(dev metrics on the ``sample``, which checkpoints are compared by; metrics on all of
        dev, or None when not computed). With ``whole`` (the last evaluation), all of dev is
        scored once and the sample's metrics are taken from the same outputs."""
        if not sample:
            dev = self.evaluate(model, "dev", tasks=focus)
            return dev, dev
        if not whole:
            return self.evaluate(model, "dev", tasks=focus, rows=sample), None
        outputs = self.outputs(model, "dev", focus)
        full = self.score(model, "dev", outputs)[0]
        part = {k: v[sample[k]] if k in sample else v for k, v in outputs.items()}
        return self.score(model, "dev", part, rows=sample)[0], full

    def outputs(
        self,
        model: HardSharingModel,
        split: str,
        tasks: Sequence[str] | None = None,
        rows: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Raw head outputs on ``split`` (see :meth:`HardSharingModel.outputs`)."""
        return model.outputs(split, tasks, rows)

    def evaluate(
        self,
        model: HardSharingModel,
        split: str,
        return_predictions: bool = False,
        tasks: Sequence[str] | None = None,
        rows: dict[str, np.ndarray] | None = None,
    ):
        """Metrics of every task of ``model`` (or of those named in ``tasks``) on ``split`` (and,
        if asked, the predictions); ``rows``: score only these examples of a task."""
        metrics, preds = self.score(model, split, self.outputs(model, split, tasks, rows), rows)
        return (metrics, preds) if return_predictions else metrics

    def score(
        self,
        model: HardSharingModel,
        split: str,
        outputs: dict[str, np.ndarray],
        rows: dict[str, np.ndarray] | None = None,
    ) -> tuple[dict, dict]:
        """(metrics, readable predictions) of head ``outputs`` on ``split`` (of the ``rows``
        given for a task: metrics only)."""
        metrics, preds = {}, {}
        for task in model.tasks:
            if task.name not in outputs:
                continue
            data = task.splits[split]
            chosen = (rows or {}).get(task.name)
            labels = data.labels if chosen is None else data.labels[chosen]
            pred = model.heads[task.name].predict(torch.from_numpy(outputs[task.name])).numpy()
            metrics[task.name] = task_metrics(task, pred, labels)
            if chosen is None:
                preds[task.name] = task.readable_predictions(split, pred.tolist())
        return metrics, preds


def _majority_floors(tasks: Sequence[Task], rows: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Per task with a majority-class level: (its main metric, the level plus the tolerance) on
    the dev ``rows`` it is scored on during training (all of dev where none are given)."""
    out = {}
    for t in tasks:
        m = majority_metrics(t, "dev", rows.get(t.name))
        if m is not None and t.main_metric in m:
            out[t.name] = (t.main_metric, m[t.main_metric] + MAJORITY_TOLERANCE)
    return out


class TimeLimit:
    """A step hook of :meth:`Trainer.fit` that ends the run once ``seconds`` of wall time have
    passed since its first step (the steps done so far count; e.g. a measuring run that must
    leave the rest of a time budget to other work).

    >>> Trainer(config).fit(tasks, seed=1, hooks=[TimeLimit(300)])   # doctest: +SKIP
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.stop = False

    def start(self, model, batch_size: int) -> None:
        self._start = self.clock()
        self.stop = False

    def before_step(self, model, step: int, lr: float) -> None:
        self.stop = self.clock() - self._start > self.seconds
