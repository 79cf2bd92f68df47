"""Trained multi-task models kept in a folder and used again: ``save_pretrained``,
``from_pretrained`` and ``predict``, shared by every kind of model taskmix trains.

A saved folder holds:

- ``taskmix_model.json``: the model's class, the tasks (kind, label names, text fields, choices,
  description), the model settings (base model, max length, pooling) and the training settings
  (adaptation, IP and LoRA settings, prompts), and how the weights were kept;
- ``tokenizer/``: the tokenizer;
- the weights that are not the base model's: ``encoder/`` (a Hugging Face model folder) when
  every weight trained, ``trainable.safetensors`` when only some did (BitFit), ``adapter/`` (peft's
  own format) for LoRA and (IA)³, ``ip.safetensors`` for an Inspirational Pointer; the task heads
  in ``heads.safetensors``. The base model is recorded by name (``minilm`` is the bundled copy).

Everything is read as data (json, safetensors): loading runs no code from the folder.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from taskmix.config import ModelConfig, TrainConfig
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import ModelError
from taskmix.models.backbone import Backbone, quiet_transformers

CONFIG_FILE = "taskmix_model.json"
FORMAT = 1
#: the split name under which inputs to predict are given to a model's tasks for a moment
PREDICT = "predict"


def task_meta(task: Task) -> dict[str, Any]:
    """What a model needs to know of a task to predict it (no examples)."""
    return {
        "name": task.name,
        "kind": task.kind,
        "label_names": task.label_names,
        "text_fields": list(task.text_fields),
        "n_choices": task.n_choices,
        "verbalizer": task.verbalizer,
        "description": task.description,
    }


def task_from_meta(meta: dict[str, Any]) -> Task:
    return Task(splits={}, **meta)


def read_config(folder: str | Path) -> dict[str, Any]:
    """The saved model's ``taskmix_model.json``, checked."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelError(
            f"{folder} is not a saved taskmix model (no {CONFIG_FILE})"
            if folder.is_dir()
            else f"no saved model at {folder}",
            hint="save one with model.save_pretrained(folder), or train with `taskmix train "
            "--keep best`; `taskmix runs` shows where kept models are",
        )
    meta = json.loads(path.read_text())
    if meta.get("format", 0) > FORMAT:
        raise ModelError(
            f"{folder} was saved by a newer taskmix (format {meta['format']}, this one reads "
            f"{FORMAT})",
            hint="upgrade taskmix: pip install -U taskmix",
        )
    return meta


def weights_kind(module: nn.Module) -> str:
    """How the weights of a trained base model are kept: ``adapter`` (peft), ``all`` (every
    weight trained) or ``trainable`` (only some, e.g. BitFit's biases)."""
    if hasattr(module, "peft_config"):
        return "adapter"
    return "all" if all(p.requires_grad for p in module.parameters()) else "trainable"


def save_base(module: nn.Module, folder: Path, name: str) -> str:
    """Keep what training changed of a base model ``module`` in ``folder``; returns how."""
    from safetensors.torch import save_file

    how = weights_kind(module)
    if how == "adapter":
        module.save_pretrained(str(folder / "adapter"))
    elif how == "all":
        module.save_pretrained(str(folder / name))
    else:
        state = {n: p.detach().cpu().contiguous() for n, p in module.named_parameters()}
        trained = {n: t for n, t in state.items() if module.get_parameter(n).requires_grad}
        save_file(trained, str(folder / "trainable.safetensors"))
    return how


def load_base(module: nn.Module, folder: Path, how: str, device: torch.device) -> nn.Module:
    """A base model with what :func:`save_base` kept put back (``all``: loaded from the folder
    already, nothing to do); frozen, for inference."""
    from safetensors.torch import load_file

    if how == "adapter":
        from peft import PeftModel

        with warnings.catch_warnings():  # peft calls a transformers API deprecated in 5.x
            warnings.simplefilter("ignore", FutureWarning)
            module = PeftModel.from_pretrained(module, str(folder / "adapter"))
    elif how == "trainable":
        state = load_file(str(folder / "trainable.safetensors"))
        unknown = [k for k in state if k not in dict(module.named_parameters())]
        if unknown:
            raise ModelError(
                f"the weights in {folder} do not fit the base model (e.g. {unknown[0]})",
                hint="load it with the base model it was trained from",
            )
        module.load_state_dict(state, strict=False)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(device)


def save_state(module: nn.Module, prefix: str, path: Path) -> None:
    """The weights of ``module`` whose names start with ``prefix``, as safetensors."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().cpu().contiguous()
        for k, v in module.state_dict().items()
        if k.startswith(prefix)
    }
    save_file(state, str(path))


def load_state(module: nn.Module, path: Path, device: torch.device) -> None:
    """Weights written by :func:`save_state`; every one must fit."""
    from safetensors.torch import load_file

    state = load_file(str(path), device=str(device))
    own = module.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise ModelError(
            f"the weights in {path} do not fit this model (e.g. {bad[0]})",
            hint="the folder was saved from a different model; save it again",
        )
    module.load_state_dict(state, strict=False)


class Pretrained:
    """``save_pretrained`` / ``from_pretrained`` / ``predict`` for a model of several tasks (a
    mixin of an ``nn.Module`` with ``tasks`` and ``backbone``). Subclasses say how their weights
    are kept (:meth:`_save_weights`) and how they are rebuilt (:meth:`_from_saved`)."""

    tasks: list[Task]
    train_config: TrainConfig | None = None  # set by the trainer that built the model

    # ------------------------------------------------------------ saving
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model to ``folder`` (created): config, tokenizer and the weights that are not
        the base model's. Load it with ``from_pretrained(folder)`` or ``taskmix.load_model``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        backbone = self.backbone
        train = self.train_config or TrainConfig()
        meta = {
            "format": FORMAT,
            "class": type(self).__name__,
            "tasks": [task_meta(t) for t in self.tasks],
            "model": backbone.config.model_dump(mode="json"),
            "base_model": _base_name(backbone.config.name),
            "train": train.model_dump(mode="json"),
        }
        with quiet_transformers():
            meta.update(self._save_weights(folder))
            backbone.tokenizer.save_pretrained(str(folder / "tokenizer"))
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    def _save_weights(self, folder: Path) -> dict[str, Any]:
        """Write the weights; returns what the config records of them."""
        raise NotImplementedError

    # ------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | None = None):
        """The model saved in ``folder`` (see :meth:`save_pretrained`), in eval mode, on
        ``device`` (default: as saved, ``auto``: a GPU if there is one)."""
        meta = read_config(folder)
        if meta["class"] != cls.__name__:
            raise ModelError(
                f"{folder} holds a {meta['class']}, not a {cls.__name__}",
                hint="load it with taskmix.load_model(folder), which picks the class",
            )
        model_config = ModelConfig(**{**meta["model"], **({"device": device} if device else {})})
        tasks = [task_from_meta(t) for t in meta["tasks"]]
        model = cls._from_saved(Path(folder), meta, model_config, tasks)
        model.train_config = TrainConfig(**meta["train"])
        return model.eval()

    @classmethod
    def _from_saved(
        cls, folder: Path, meta: dict, model_config: ModelConfig, tasks: list[Task]
    ) -> Pretrained:
        raise NotImplementedError

    # ------------------------------------------------------------ predicting
    def task_index(self, task: str | None) -> int:
        """The index of task ``task`` (may be left out when the model has one task)."""
        names = [t.name for t in self.tasks]
        if task is None:
            if len(names) == 1:
                return 0
            raise ModelError(
                f"this model predicts {len(names)} tasks; say which",
                hint=f"name one of: {', '.join(names)}",
            )
        if task not in names:
            raise ModelError(
                f"this model has no task {task!r}", hint=f"its tasks: {', '.join(names)}"
            )
        return names.index(task)

    @contextlib.contextmanager
    def inputs(
        self,
        k: int,
        texts: Sequence[str | Sequence[str]],
        choices: Sequence[Sequence[str]] | None = None,
    ) -> Iterator[str]:
        """Inputs to predict given to task ``k`` for a moment, as its split :data:`PREDICT`."""
        task = self.tasks[k]
        rows = [_as_tuple(t, task, i) for i, t in enumerate(texts)]
        if not rows:
            raise ModelError("nothing to predict: no texts given")
        if task.kind == "multiple_choice":
            if choices is None or len(choices) != len(rows):
                raise ModelError(
                    f"task {task.name!r} is multiple choice: give choices=[[...], ...], one list "
                    "per text"
                )
            bad = [i for i, c in enumerate(choices) if len(c) != (task.n_choices or 2)]
            if bad:
                raise ModelError(
                    f"text {bad[0]}: {len(choices[bad[0]])} choices, the task has "
                    f"{task.n_choices or 2}"
                )
            choices = [list(map(str, c)) for c in choices]
        dtype = np.float32 if task.kind == "regression" else np.int64
        split = TaskSplit(
            texts=rows,
            labels=np.zeros(len(rows), dtype=object if task.kind == "generation" else dtype),
            ids=[str(i) for i in range(len(rows))],
            choices=choices if task.kind == "multiple_choice" else None,
        )
        task.splits[PREDICT] = split
        try:
            yield PREDICT
        finally:
            del task.splits[PREDICT]
            self.backbone.token_cache.discard(self.backbone, split)


def prediction_frame(task: Task, outputs: np.ndarray):
    """Predictions as a person reads them, from a task head's raw ``outputs``: ``prediction``
    (the label name, the choice index, the score) and, for classification and multiple choice,
    the probability of each label (``prob_<label>``) or choice (``prob_<i>``)."""
    import pandas as pd

    if task.kind == "regression":
        return pd.DataFrame({"prediction": outputs.astype(np.float64)})
    z = outputs.astype(np.float64)
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    best = probs.argmax(1)
    names = task.label_names if task.kind == "classification" else None
    names = names or [str(i) for i in range(probs.shape[1])]
    frame = pd.DataFrame({"prediction": [names[i] for i in best]})
    if task.kind == "multiple_choice":
        frame["prediction"] = best
    for j, name in enumerate(names):
        frame[f"prob_{name}"] = probs[:, j]
    return frame


def _as_tuple(text: str | Sequence[str], task: Task, i: int) -> tuple[str, ...]:
    """One input as the tuple of its text fields, checked against the task."""
    fields = (text,) if isinstance(text, str) else tuple(text)
    want = 1 if task.kind == "multiple_choice" and len(fields) == 1 else len(task.text_fields)
    if len(fields) != want or not all(isinstance(f, str) for f in fields):
        shown = " and ".join(task.text_fields)
        raise ModelError(
            f"input {i} of task {task.name!r} is {text!r}; the task reads {shown}",
            hint="give a string per input, or a (text, text) pair for a pair task",
        )
    return fields


def base_config(folder: Path, meta: dict, model_config: ModelConfig) -> ModelConfig:
    """The model settings to load a saved model's base from: its own folder's copy when every
    weight trained (``encoder/`` or ``lm/``), else the recorded base model."""
    for sub in ("encoder", "lm"):
        if meta.get("weights") == "all" and (folder / sub).is_dir():
            return model_config.model_copy(update={"name": str(folder / sub)})
    return model_config.model_copy(update={"name": meta["base_model"]})


def load_saved_base(folder: Path, meta: dict, model_config: ModelConfig, load=None, **kw):
    """The base model of a saved model (see :func:`base_config`) with the saved tokenizer, its
    settings those saved (``load``: how, default an encoder's ``Backbone.from_config``)."""
    load = load or Backbone.from_config
    base = load(base_config(folder, meta, model_config), tokenizer=str(folder / "tokenizer"), **kw)
    base.config = model_config
    return base


def _base_name(name: str) -> str:
    """The base model as a name another machine can load: a local folder as an absolute path."""
    path = Path(name)
    return str(path.resolve()) if path.exists() else name
