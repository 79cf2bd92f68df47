"""Hard parameter sharing: one shared encoder, one head per task.

A batch may mix tasks. Each example carries a label for its own task only and ``-100`` for
every other task; each task's loss is the mean over the examples that carry its label, so a
task's loss in a mixed batch equals its single-task loss on the same examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from taskmix.config import ModelConfig
from taskmix.data.task import Task
from taskmix.models.backbone import Backbone
from taskmix.models.heads import make_head
from taskmix.models.saving import (
    Pretrained,
    load_base,
    load_saved_base,
    load_state,
    prediction_frame,
    save_base,
    save_state,
)

IGNORE = -100.0


def make_batch(
    backbone: Backbone, tasks: Sequence[Task], items: Sequence[tuple[int, str, int]]
) -> dict:
    """Collate ``(task index, split, example index)`` items into one mixed batch.

    Returns the tokenised sequences (one per example, or one per choice), the index of each
    example's first sequence, and the label matrix [B, n_tasks] filled with -100 except for
    each example's own task.
    """
    sequences: list[tuple[str, ...]] = []
    seq_task: list[int] = []
    first: list[int] = []
    labels = torch.full((len(items), len(tasks)), IGNORE, dtype=torch.float32)
    parts = []  # consecutive items of one (task, split), collated from the token cache together
    for row, (k, split, i) in enumerate(items):
        data = tasks[k].splits[split]
        seqs = data.sequences(i)
        sequences.extend(seqs)
        seq_task.extend([k] * len(seqs))
        labels[row, k] = float(data.labels[i])
        if parts and parts[-1][0] is data:
            parts[-1][1].append(i)
        else:
            parts.append((data, [i]))
    pieces = [backbone.collate(data, idx) for data, idx in parts]
    batch = _stack([p for p, _ in pieces], backbone)
    offset = 0
    for inputs, firsts in pieces:
        first.extend(offset + f for f in firsts)
        offset += len(inputs["input_ids"])
    batch_meta = {
        "first_seq": torch.tensor(first, device=backbone.device),
        "labels": labels.to(backbone.device),
    }
    # the raw sequences and each one's task, for models that read more than the tokens (IP)
    return {"inputs": batch, **batch_meta, "sequences": sequences, "seq_task": seq_task}


def _stack(pieces: list[dict[str, torch.Tensor]], backbone: Backbone) -> dict[str, torch.Tensor]:
    """Padded input pieces stacked into one batch, padded to the widest."""
    if len(pieces) == 1:
        return pieces[0]
    width = max(p["input_ids"].shape[1] for p in pieces)
    pad = {
        "input_ids": backbone.tokenizer.pad_token_id or 0,
        "attention_mask": 0,
        "token_type_ids": 0,
    }
    left = getattr(backbone.tokenizer, "padding_side", "right") == "left"
    out = {}
    for key in pieces[0]:
        rows = []
        for p in pieces:
            t = p[key]
            extra = width - t.shape[1]
            if extra:
                t = torch.nn.functional.pad(t, (extra, 0) if left else (0, extra), value=pad[key])
            rows.append(t)
        out[key] = torch.cat(rows)
    return out


class HardSharingModel(Pretrained, nn.Module):
    """A shared encoder with a head per task (classification, multiple choice, regression).

    >>> model = HardSharingModel(backbone, [suite["rte"], suite["copa"]])   # doctest: +SKIP
    >>> items = [(0, "train", 3), (1, "train", 5)]
    >>> batch = make_batch(backbone, model.tasks, items)  # doctest: +SKIP
    >>> out = model(batch)  # doctest: +SKIP
    >>> out["rte"]["loss"]                                                   # doctest: +SKIP
    """

    def __init__(self, backbone: Backbone, tasks: Sequence[Task], dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.encoder = backbone.model
        self.tasks = list(tasks)
        self.heads = nn.ModuleDict(
            {t.name: make_head(t, backbone.hidden_size, dropout) for t in self.tasks}
        )
        self.heads.to(backbone.device)

    def encode(self, batch: dict) -> torch.Tensor:
        """Pooled encoder states [sequences, H] of the batch (subclasses change how)."""
        return self.backbone.forward_pooled(self.encoder, batch["inputs"])

    def forward(self, batch: dict) -> dict[str, dict[str, torch.Tensor]]:
        """Per task present in the batch: outputs, labels, rows (batch positions) and loss."""
        pooled = self.encode(batch)
        labels = batch["labels"]
        first = batch["first_seq"]
        out = {}
        for k, task in enumerate(self.tasks):
            rows = torch.nonzero(labels[:, k] != IGNORE, as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            head = self.heads[task.name]
            if task.kind == "multiple_choice":
                seq = (
                    first[rows].unsqueeze(1) + torch.arange(head.n_choices, device=first.device)
                ).flatten()
            else:
                seq = first[rows]
            outputs = head(pooled[seq])
            y = labels[rows, k]
            out[task.name] = {
                "outputs": outputs,
                "labels": y,
                "rows": rows,
                "loss": head.loss(outputs, y),
            }
        return out

    @torch.inference_mode()
    def outputs(
        self,
        split: str,
        tasks: Sequence[str] | None = None,
        rows: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Raw head outputs of every task (or of those named in ``tasks``) on ``split``
        (float32): class logits [n, classes], choice scores [n, choices] or regression values [n];
        ``rows``: only these examples of a task (in that order). Length-sorted batches."""
        was_training = self.training
        self.eval()
        backbone = self.backbone
        result = {}
        try:
            for k, task in enumerate(self.tasks):
                if tasks is not None and task.name not in tasks:
                    continue
                data = task.splits[split]
                chosen = (rows or {}).get(task.name)
                chosen = np.arange(len(data)) if chosen is None else np.asarray(chosen)
                shape = {
                    "regression": (len(chosen),),
                    "classification": (len(chosen), task.num_labels),
                    "multiple_choice": (len(chosen), task.n_choices or 2),
                }[task.kind]
                out = np.zeros(shape, np.float32)
                lengths = backbone.lengths(data)[chosen] * (task.n_choices or 1)
                for idx in backbone.inference_batches(lengths):
                    items = [(k, split, int(i)) for i in chosen[idx]]
                    with backbone.autocast():
                        o = self(make_batch(backbone, self.tasks, items))[task.name]["outputs"]
                    out[idx] = o.float().cpu().numpy()
                result[task.name] = out
        finally:
            self.train(was_training)
        return result

    def predict(
        self,
        texts: Sequence[str | Sequence[str]],
        task: str | None = None,
        choices: Sequence[Sequence[str]] | None = None,
    ):
        """Predict ``texts`` (strings, or (text, text) pairs for a pair task; a multiple-choice
        task also takes ``choices``, one list per text) for ``task`` (may be left out when the
        model has one): a DataFrame with ``prediction`` — the label name, the choice index or the
        score — and each label's (choice's) probability. Batched, sorted by length, on the
        model's device.

        >>> model = HardSharingModel.from_pretrained("runs/ab12/model")  # doctest: +SKIP
        >>> model.predict(["No fever today."], task="negation_site_a")  # doctest: +SKIP
          prediction  prob_affirmed  prob_negated
        0    negated       0.031266      0.968734
        """
        k = self.task_index(task)
        with self.inputs(k, texts, choices) as split:
            outputs = self.outputs(split, [self.tasks[k].name])[self.tasks[k].name]
        return prediction_frame(self.tasks[k], outputs)

    def write_artifacts(self, folder: Path, weights: bool = False) -> None:
        """What a finished run keeps in its folder besides metrics and predictions: the model in
        ``model/``, if asked (see :meth:`save_pretrained`)."""
        if weights:
            self.save_pretrained(folder / "model")

    def _save_weights(self, folder: Path) -> dict:
        how = save_base(self.encoder, folder, "encoder")
        save_state(self, "heads.", folder / "heads.safetensors")
        return {"weights": how}

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict, model_config: ModelConfig, tasks):
        backbone = load_saved_base(folder, meta, model_config)
        backbone.model = load_base(backbone.model, folder, meta["weights"], backbone.device)
        model = cls(backbone, tasks)
        load_state(model, folder / "heads.safetensors", backbone.device)
        return model

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
