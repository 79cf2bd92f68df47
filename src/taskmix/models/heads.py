"""Task heads: one small module per task on top of the pooled encoder output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from taskmix.data.task import Task


class Head(nn.Module):
    """Maps pooled states to outputs and computes the task's loss (mean over its examples)."""

    def __init__(self, hidden: int, out: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, out)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(pooled)).float()

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ClassificationHead(Head):
    def loss(self, outputs, labels):
        return F.cross_entropy(outputs, labels.long())

    def predict(self, outputs):
        return outputs.argmax(-1)


class RegressionHead(Head):
    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__(hidden, 1, dropout)

    def forward(self, pooled):
        return super().forward(pooled).squeeze(-1)

    def loss(self, outputs, labels):
        return F.mse_loss(outputs, labels.float())

    def predict(self, outputs):
        return outputs


class MultipleChoiceHead(Head):
    """Scores every (context, choice) sequence with one linear unit; softmax over the choices."""

    def __init__(self, hidden: int, n_choices: int, dropout: float = 0.1):
        super().__init__(hidden, 1, dropout)
        self.n_choices = n_choices

    def forward(self, pooled):  # pooled: [b * choices, H] → [b, choices]
        return super().forward(pooled).view(-1, self.n_choices)

    def loss(self, outputs, labels):
        return F.cross_entropy(outputs, labels.long())

    def predict(self, outputs):
        return outputs.argmax(-1)


def make_head(task: Task, hidden: int, dropout: float = 0.1) -> Head:
    task.require_encoder_kind("an encoder with task heads")
    if task.kind == "classification":
        return ClassificationHead(hidden, task.num_labels, dropout)
    if task.kind == "regression":
        return RegressionHead(hidden, dropout)
    return MultipleChoiceHead(hidden, task.n_choices or 2, dropout)
