"""Training a generative model (causal or seq2seq language model) on one task or a mixture.

The loop is :class:`~taskmix.train.trainer.Trainer`'s — task sampler (``sampler: equal`` draws
the data sets equally, as Zhan & Zhang did), a fixed step budget (``max_steps``), a checkpoint
every ``eval_every`` steps kept when the dev score is the best so far, AdamW with warm-up, bf16
autocast — with three hooks replaced: the model built (the language model, fully trained, with
LoRA / (IA)³ adapters through ``peft``, or with an Inspirational Pointer), the loss (teacher
forcing: the mean token loss of the answers, whatever their task) and the evaluation (greedy
answers scored by exact match, see :func:`~taskmix.data.metrics.answer_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch

from taskmix.config import GenerationConfig, ModelConfig, TrainConfig
from taskmix.data.metrics import answer_metrics
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.backbone import BackboneFactory
from taskmix.models.generative import GenerativeModel, LanguageModel
from taskmix.train.trainer import Trainer


def language_model_factory(
    model: ModelConfig | None = None,
    generation: GenerationConfig | None = None,
    template: LanguageModel | None = None,
) -> BackboneFactory:
    """Fresh copies of a language model for every run, loaded from disk once."""
    generation = generation or GenerationConfig()
    return BackboneFactory(
        model or ModelConfig(),
        template=template,
        loader=partial(LanguageModel.from_config, architecture=generation.architecture),
    )


class GenerativeTrainer(Trainer):
    """Train a language model to answer the prompts of ``tasks`` and score its answers.

    >>> config = TrainConfig(max_steps=200, sampler="equal")
    >>> trainer = GenerativeTrainer(config, ModelConfig(name="gpt2"))  # doctest: +SKIP
    >>> tasks = [suite["negation_site_b"], suite["negation_site_a"]]  # doctest: +SKIP
    >>> trainer.fit(tasks, seed=1).test  # doctest: +SKIP
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        model: BackboneFactory | ModelConfig | None = None,
        generation: GenerationConfig | None = None,
    ):
        self.generation = generation or GenerationConfig()
        factory = (
            model
            if isinstance(model, BackboneFactory)
            else language_model_factory(model, self.generation)
        )
        super().__init__(config, factory)

    def build(self, tasks: Sequence[Task], init=None) -> GenerativeModel:
        if init is not None:
            raise ModelError(
                "a generative run cannot start from another run's model",
                hint="start it from a fine-tuned checkpoint given as --model instead",
            )
        lm = self.adapted_backbone()
        if self.config.adaptation == "ip":
            from taskmix.models.ip import GenerativeIPModel

            model = GenerativeIPModel(
                lm, tasks, self.config, self.adaptation.form_for(lm), self.generation
            )
        else:
            model = GenerativeModel(lm, tasks, self.generation)
        model.train_config = self.config  # what save_pretrained records
        return model

    def loss(self, model: GenerativeModel, items: list[tuple[int, str, int]]) -> torch.Tensor:
        return model(items)

    def train_lengths(self, model: GenerativeModel, task: Task) -> np.ndarray:
        """Each training example's length in tokens, roughly (4 characters a token): the prompt's
        length follows its input's."""
        return np.array([sum(len(t) for t in x) for x in task.splits["train"].texts]) // 4

    def dev_rows(self, tasks: Sequence[Task], n: int | None, seed: int) -> dict[str, np.ndarray]:
        """None: dev is answered as ``generation.eval_examples`` says, the same at every
        evaluation."""
        return {}

    def evaluate(
        self,
        model: GenerativeModel,
        split: str,
        return_predictions: bool = False,
        tasks: Sequence[str] | None = None,
        rows: dict[str, np.ndarray] | None = None,
    ):
        """Answer ``split`` (dev: its first ``generation.eval_examples``, whatever ``rows``) of
        every task of ``model`` (or of those named in ``tasks``) and score the answers."""
        metrics, preds = {}, {}
        for k, task in enumerate(model.tasks):
            if tasks is not None and task.name not in tasks:
                continue
            data = task.splits[split]
            n = len(data)
            if split == "dev" and self.generation.eval_examples:
                n = min(n, self.generation.eval_examples)
            answers = model.answers(k, split, range(n))
            gold = data.labels[:n]
            metrics[task.name] = answer_metrics(task, answers, gold)
            preds[task.name] = task.readable_predictions(split, answers, n)
        return (metrics, preds) if return_predictions else metrics


def mean_loss(
    model: GenerativeModel, items: Sequence[tuple[int, str, int]], batch_size: int = 16
) -> float:
    """The mean teacher-forced loss of ``items`` (no gradient), e.g. to see a run learn."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return float(
                np.mean(
                    [
                        model(list(items[i : i + batch_size])).item()
                        for i in range(0, len(items), batch_size)
                    ]
                )
            )
    finally:
        model.train(was_training)
