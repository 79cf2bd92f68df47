"""How the encoder is adapted to a task: full fine-tuning, BitFit, LoRA or (IA)³ (through
``peft``), or an Inspirational Pointer on the frozen encoder.

Small strategy objects, chosen by name from ``TrainConfig.adaptation``: ``apply(model)`` sets
which parameters train and returns the module to train (LoRA and (IA)³ wrap the encoder in a
``peft`` model); ``build(backbone, tasks)`` makes the model with its task heads. Applying a
strategy to an encoder that already carries it (the second stage of a sequential transfer)
continues training the same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from taskmix.config import LoRAConfig, TrainConfig
from taskmix.data.task import Task
from taskmix.errors import ModelError
from taskmix.models.backbone import Backbone
from taskmix.models.hps import HardSharingModel


class Adaptation:
    """Which encoder parameters train, and the model built around the encoder."""

    name = "base"

    def apply(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError

    def build(self, backbone: Backbone, tasks: Sequence[Task]) -> HardSharingModel:
        return HardSharingModel(backbone, tasks)


class FullFinetune(Adaptation):
    """Every parameter trains."""

    name = "full"

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(True)
        return model


class BitFit(Adaptation):
    """Only the bias terms train (Ben Zaken et al. 2022); the task heads always train."""

    name = "bitfit"

    def apply(self, model):
        for n, p in model.named_parameters():
            p.requires_grad_(n.endswith("bias"))
        return model


class PeftAdaptation(Adaptation):
    """Adapters added by ``peft``; its parameters whose names contain ``marker`` train."""

    marker = ""

    def peft_config(self, model: nn.Module):
        raise NotImplementedError

    def apply(self, model):
        try:
            from peft import PeftModel, get_peft_model
        except ImportError:
            raise ModelError(
                f"{self.name} needs the peft package", hint="pip install peft"
            ) from None
        if isinstance(model, PeftModel):  # already adapted: keep training the same adapters
            for n, p in model.named_parameters():
                p.requires_grad_(self.marker in n)
            return model
        return get_peft_model(model, self.peft_config(model))


class LoRA(PeftAdaptation):
    """Low-rank adapters on the attention projections (Hu et al. 2022), through ``peft``."""

    name, marker = "lora", "lora_"

    def __init__(self, config: LoRAConfig | None = None, dropout: float = 0.1):
        self.config, self.dropout = config or LoRAConfig(), dropout

    def peft_config(self, model):
        from peft import LoraConfig

        c = self.config
        targets = c.target_modules or _linear_names(model, QUERY_VALUE)
        conv1d = any(
            type(m).__name__ == "Conv1D"
            for n, m in model.named_modules()
            if n.endswith(tuple(targets))
        )
        return LoraConfig(
            r=c.r,
            lora_alpha=c.alpha,
            lora_dropout=self.dropout,
            target_modules=targets,
            fan_in_fan_out=conv1d,
        )


class IA3(PeftAdaptation):
    """(IA)³ (Liu et al. 2022): learned vectors rescaling the attention keys and values and the
    input of the feed-forward output layer, through ``peft``."""

    name, marker = "ia3", "ia3_"

    def peft_config(self, model):
        from peft import IA3Config

        ff = _linear_names(model, FEEDFORWARD_OUT, full=True)
        return IA3Config(
            target_modules=_linear_names(model, KEY_VALUE, full=True) + ff, feedforward_modules=ff
        )


class InspirationalPointerAdaptation(Adaptation):
    """The encoder stays frozen; an Inspirational Pointer modifies its layers
    (``taskmix.models.ip``)."""

    name = "ip"

    def __init__(self, config: TrainConfig):
        self.config = config
        self._form: Backbone | None = None

    def apply(self, model):
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def build(self, backbone, tasks):
        from taskmix.models.ip import IPModel

        if (
            self.config.ip.form_model and self._form is None
        ):  # a separate frozen encoder, loaded once
            self._form = Backbone.from_config(
                backbone.config.model_copy(update={"name": self.config.ip.form_model})
            )
        return IPModel(backbone, tasks, self.config, form=self._form)

    def form_for(self, lm) -> Backbone:
        """The form module of a language model's pointer (see
        :func:`taskmix.models.ip.model.form_module`); a separate encoder is loaded once for every
        run."""
        from taskmix.models.ip.model import form_module

        form = form_module(lm, self.config, self._form)
        if self.config.ip.form_model or not lm.is_seq2seq:  # not the run's own encoder
            self._form = form
        return form


# Projection names of common encoders (BERT-like, DistilBERT, T5, DeBERTa, Llama-like), in pairs.
QUERY_VALUE = (
    ("query", "value"),
    ("q_lin", "v_lin"),
    ("q", "v"),
    ("query_proj", "value_proj"),
    ("q_proj", "v_proj"),
    ("c_attn",),
)  # GPT-2: query, key and value in one projection
KEY_VALUE = (
    ("key", "value"),
    ("k_lin", "v_lin"),
    ("k", "v"),
    ("key_proj", "value_proj"),
    ("k_proj", "v_proj"),
)
FEEDFORWARD_OUT = (("output.dense",), ("lin2",), ("wo",), ("fc2",), ("down_proj",))


def _linear_names(model: nn.Module, candidates, full: bool = False) -> list[str]:
    """The first set of ``candidates`` naming linear layers of ``model``: the short names (peft
    matches them as suffixes), or with ``full`` every matching module's full name (attention
    output layers excluded, so that BERT's ``output.dense`` means the feed-forward one)."""
    # GPT-2's projections are transformers' Conv1D (a linear layer with its weight transposed)
    linear = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"
    ]
    for names in candidates:
        hits = [
            n
            for n in linear
            if any(n == s or n.endswith("." + s) for s in names) and ".attention.output" not in n
        ]
        if all(any(h.endswith(s) for h in hits) for s in names):
            return hits if full else list(names)
    raise ModelError(
        "cannot tell which layers of this encoder to adapt",
        hint="set lora.target_modules in the training config, e.g. ['query', 'value']",
    )


def make_adaptation(config: TrainConfig) -> Adaptation:
    if config.adaptation == "bitfit":
        return BitFit()
    if config.adaptation == "lora":
        return LoRA(config.lora)
    if config.adaptation == "ia3":
        return IA3()
    if config.adaptation == "ip":
        return InspirationalPointerAdaptation(config)
    return FullFinetune()
