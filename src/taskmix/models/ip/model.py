"""The Inspirational Pointer's models: the frozen form module reading each input with its task's
description, the pointer (:mod:`taskmix.models.ip.layer`) and the layers it modifies, on an
encoder with task heads (:class:`IPModel`) or a language model (:class:`GenerativeIPModel`)."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from taskmix.config import GenerationConfig, ModelConfig, TrainConfig
from taskmix.data.prompt import describe
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.backbone import Backbone, pool
from taskmix.models.generative import GenerativeModel, LanguageModel
from taskmix.models.hps import HardSharingModel, make_batch
from taskmix.models.ip.layer import InspirationalPointer, find_layers, intervene
from taskmix.models.saving import load_saved_base

log = logging.getLogger(__name__)

# Input room a description always leaves in the form module's window (tokens).
MIN_INPUT_TOKENS = 16


class _Pointer:
    """What an Inspirational Pointer adds to a frozen model (a mixin of an ``nn.Module`` with
    ``tasks``): the frozen form module and its task descriptions, the pointer ``ip`` and the
    ``layers`` it modifies, and saving and loading of its weights."""

    def _setup_pointer(
        self,
        model: nn.Module,
        d2: int,
        part: str,
        form: Backbone,
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        self.use_descriptions = config.ip.descriptions
        self.form = form
        for p in form.model.parameters():
            p.requires_grad_(False)
        self.layers = find_layers(model, part)
        n1 = int(form.model.config.num_hidden_layers) + 1  # + the embeddings
        self.ip = InspirationalPointer(
            form.hidden_size, d2, n1, len(self.layers), config.ip.embedding_size, config.ip.combine
        ).to(device)
        self.descriptions = {t.name: self._fit_description(t) for t in self.tasks}
        self._form_tokens: dict[tuple[int, tuple[str, ...]], dict] = {}  # see form_inputs

    # ------------------------------------------------------------ descriptions and form inputs
    def _fit_description(self, task: Task) -> str:
        """The description, cut to leave MIN_INPUT_TOKENS of the form module's window for the
        input."""
        if not self.use_descriptions:
            return ""
        text = describe(task)
        tok = self.form.tokenizer
        limit = (
            self.form.config.max_length
            - tok.num_special_tokens_to_add(pair=True)
            - MIN_INPUT_TOKENS
        )
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) > limit:
            warnings.warn(
                f"the description of {task.name} has {len(ids)} tokens, more than the "
                f"{limit} the form module's window ({self.form.config.max_length}) leaves beside "
                "the input; "
                "it is cut to fit, and inputs are truncated first",
                stacklevel=3,
            )
            text = tok.decode(ids[: max(limit, 1)])
        return text

    def form_inputs(
        self, sequences: Sequence[tuple[str, ...]], task_of: Sequence[int]
    ) -> dict[str, torch.Tensor]:
        """description + input per sequence, tokenised for the form module; when too long, the
        input side is truncated and the description kept. Each (task, input) is tokenised once
        and kept (training meets an example again every epoch); a batch is padded from those."""
        cache = self._form_tokens
        keys = [(int(k), tuple(s)) for s, k in zip(sequences, task_of, strict=True)]
        new = list(dict.fromkeys(key for key in keys if key not in cache))
        if new:
            inputs = [" ".join(s) for _, s in new]
            kw = {"max_length": self.form.config.max_length}
            if self.use_descriptions:
                described = [self.descriptions[self.tasks[k].name] for k, _ in new]
                enc = self.form.tokenizer(described, inputs, truncation="only_second", **kw)
            else:
                enc = self.form.tokenizer(inputs, truncation=True, **kw)
            for i, key in enumerate(new):
                cache[key] = {name: values[i] for name, values in enc.items()}
        enc = self.form.tokenizer.pad(
            [cache[key] for key in keys], padding="longest", return_tensors="pt"
        )
        return {k: v.to(self.form.device) for k, v in enc.items()}

    # ------------------------------------------------------------ forward
    def form_states(self, form_batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The frozen form module's mean-pooled hidden states of every layer: [n1, B, d1]; in eval
        mode (no dropout), so an input's task embedding does not vary from pass to pass."""
        was_training = self.form.model.training
        self.form.model.eval()
        try:
            with torch.no_grad():
                out = self.form.model(**form_batch, output_hidden_states=True)
        finally:
            self.form.model.train(was_training)
        mask = form_batch["attention_mask"]
        return torch.stack([pool(h, mask, "mean") for h in out.hidden_states]).detach()

    def pointer_vectors(
        self, sequences: Sequence[tuple[str, ...]], task_of: Sequence[int]
    ) -> torch.Tensor:
        """I [n2, B, d2] for inputs ``sequences`` of tasks ``task_of``."""
        return self.ip.vectors(
            self.ip.task_embedding(self.form_states(self.form_inputs(sequences, task_of)))
        )

    def ip_parameters(self) -> int:
        """Trainable parameters outside the task heads (T, w, L, C)."""
        return sum(p.numel() for p in self.ip.parameters())

    # ------------------------------------------------------------ saving
    def save_ip(self, folder: str | Path) -> Path:
        """``ip.safetensors`` (IP and heads) and ``ip.json`` (sizes, descriptions) in ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if k.startswith(("ip.", "heads."))
        }
        save_file(state, str(folder / "ip.safetensors"))
        meta = {
            "ip": self.ip.config(),
            "descriptions": self.descriptions,
            "tasks": [t.name for t in self.tasks],
            "use_descriptions": self.use_descriptions,
        }
        (folder / "ip.json").write_text(json.dumps(meta, indent=2))
        return folder

    def load_ip(self, folder: str | Path, strict: bool = True) -> IPModel:
        """Load weights written by :meth:`save_ip` (safetensors: no code runs on load). With
        ``strict=False`` heads of tasks this model lacks are skipped (few-shot transfer)."""
        from safetensors.torch import load_file

        path = Path(folder) / "ip.safetensors"
        if not path.exists():
            raise ModelError(
                f"no IP weights at {path}", hint="save them first with save_ip(folder)"
            )
        meta = json.loads((Path(folder) / "ip.json").read_text())
        if meta["ip"] != self.ip.config():
            raise ModelError(
                f"the IP weights in {folder} have sizes {meta['ip']}, "
                f"this model {self.ip.config()}",
                hint="load them into a model with the same backbone and ip_* settings",
            )
        state = load_file(str(path), device=str(self.backbone.device))
        own = self.state_dict()
        if not strict:
            state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        missing = [k for k in own if k.startswith("ip.") and k not in state]
        unknown = [k for k in state if k not in own]
        if missing or (strict and unknown):
            raise ModelError(
                f"the IP weights in {folder} do not fit this model "
                f"(missing {missing[:3]}, unexpected {unknown[:3]})",
                hint="pass strict=False to skip the heads of other tasks",
            )
        self.load_state_dict(state, strict=False)
        if strict:  # the descriptions the pointer was trained with
            self.descriptions.update(meta.get("descriptions", {}))
        return self


class IPModel(_Pointer, HardSharingModel):
    """The frozen backbone with task heads, its layers modified by an :class:`InspirationalPointer`.

    >>> config = TrainConfig(adaptation="ip")
    >>> model = IPModel(backbone, [suite["rte"], suite["cb"]], config)  # doctest: +SKIP
    >>> model.ip_parameters(), model.ip.formula()  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: Backbone,
        tasks: Sequence[Task],
        config: TrainConfig | None = None,
        form: Backbone | None = None,
        dropout: float = 0.1,
    ):
        super().__init__(backbone, tasks, dropout)
        config = config or TrainConfig(adaptation="ip")
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self._setup_pointer(
            self.encoder,
            backbone.hidden_size,
            config.ip.layers,
            form or backbone,
            config,
            backbone.device,
        )

    def task_embeddings(self, batch: dict) -> torch.Tensor:
        """τ [B, t] of every sequence of a HardSharingModel batch (sample-level task embeddings)."""
        return self.ip.task_embedding(
            self.form_states(self.form_inputs(batch["sequences"], batch["seq_task"]))
        )

    def encode(self, batch: dict) -> torch.Tensor:
        with intervene(self.layers, self.pointer_vectors(batch["sequences"], batch["seq_task"])):
            return self.backbone.forward_pooled(self.encoder, batch["inputs"])

    def write_artifacts(self, folder: Path, weights: bool = False) -> None:
        """The similarity of the tasks' mean embeddings (several tasks) and, if asked, the model
        in ``model/`` (only IP's own weights and the heads; see :meth:`save_pretrained`)."""
        if len(self.tasks) > 1:
            embedding_similarity(mean_task_embeddings(self)).to_csv(folder / "task_embeddings.csv")
        if weights:
            self.save_pretrained(folder / "model")

    def _save_weights(self, folder: Path) -> dict:
        self.save_ip(folder)
        return {"weights": "ip"}

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict, model_config: ModelConfig, tasks):
        train = TrainConfig(**meta["train"])
        backbone = load_saved_base(folder, meta, model_config)
        form = None
        if train.ip.form_model:
            form = Backbone.from_config(
                model_config.model_copy(update={"name": train.ip.form_model})
            )
        return cls(backbone, tasks, train, form=form).load_ip(folder)


class GenerativeIPModel(_Pointer, GenerativeModel):
    """A frozen language model whose decoder layers an :class:`InspirationalPointer` modifies:
    a seq2seq model's decoder (its own encoder reads description + input as the form module), or
    every layer of a decoder-only model (an auxiliary frozen encoder is the form module; see
    ``InspirationalPointerAdaptation.form_for``). ``ip.layers: encoder`` set explicitly modifies
    a seq2seq model's encoder instead."""

    def __init__(
        self,
        lm: LanguageModel,
        tasks: Sequence[Task],
        config: TrainConfig,
        form: Backbone,
        generation: GenerationConfig | None = None,
    ):
        super().__init__(lm, tasks, generation)
        for p in lm.model.parameters():
            p.requires_grad_(False)
        part = config.ip.layers if "layers" in config.ip.model_fields_set else "decoder"
        self._setup_pointer(lm.model, lm.hidden_size, part, form, config, lm.device)

    def context(self, items):
        sequences = [self.tasks[k].splits[split].texts[i] for k, split, i in items]
        return intervene(self.layers, self.pointer_vectors(sequences, [k for k, _, _ in items]))

    def _save_weights(self, folder: Path) -> dict:
        self.save_ip(folder)
        return {"weights": "ip", "generation": self.config.model_dump(mode="json")}

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict, model_config: ModelConfig, tasks):
        train = TrainConfig(**meta["train"])
        lm, generation = cls.saved_lm(folder, meta, model_config)
        return cls(lm, tasks, train, form_module(lm, train), generation).load_ip(folder)


def form_module(lm: LanguageModel, config: TrainConfig, loaded: Backbone | None = None) -> Backbone:
    """The form module of a language model's pointer: ``ip.form_model`` if set; else a seq2seq
    model's own encoder (part of ``lm``), or the bundled MiniLM beside a decoder-only model.
    ``loaded``: that separate encoder, if it was loaded before."""
    if lm.is_seq2seq and not config.ip.form_model:
        return Backbone(
            lm.model.get_encoder(), lm.tokenizer, name=f"{lm.name} encoder", config=lm.config
        )
    if loaded is not None:
        return loaded
    return Backbone.from_config(
        lm.config.model_copy(
            update={
                "name": config.ip.form_model or "minilm",
                "max_length": min(lm.config.max_length, 512),
            }
        )
    )


# ----------------------------------------------------------------------------- analysis
@torch.no_grad()
def mean_task_embeddings(
    model: IPModel, split: str = "test", n: int = 200, seed: int = 0, batch_size: int = 32
) -> dict[str, np.ndarray]:
    """The mean task embedding τ of each task over ``n`` seeded examples of ``split`` (the
    training split where a task lacks it)."""
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    means = {}
    try:
        for k, task in enumerate(model.tasks):
            use = split if split in task.splits else "train"
            size = len(task.splits[use])
            idx = rng.choice(size, min(n, size), replace=False)
            parts = []
            for i in range(0, len(idx), batch_size):
                batch = make_batch(
                    model.backbone, model.tasks, [(k, use, int(j)) for j in idx[i : i + batch_size]]
                )
                with model.backbone.autocast():
                    parts.append(model.task_embeddings(batch).float().cpu())
            means[task.name] = torch.cat(parts).mean(0).numpy()
    finally:
        model.train(was_training)
    return means


def embedding_similarity(means: dict[str, np.ndarray]) -> pd.DataFrame:
    """Cosine similarity between mean task embeddings (tasks × tasks; the paper's Figure 4)."""
    names = list(means)
    M = np.stack([means[t] for t in names])
    M = M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
    return pd.DataFrame(M @ M.T, index=names, columns=names)
