"""How the encoder is adapted to a task: full fine-tuning, BitFit or LoRA (through ``peft``).

Small strategy objects, chosen by name from ``TrainConfig.adaptation``: ``apply(model)`` sets
which parameters train and returns the module to train (LoRA wraps the encoder in a
``peft`` model). Applying a strategy to an encoder that already carries it (the second stage of
a sequential transfer) continues training the same parameters.
"""

from __future__ import annotations

from torch import nn

from taskmix.config import TrainConfig
from taskmix.errors import ModelError


class Adaptation:
    """Which encoder parameters train."""

    name = "base"

    def apply(self, model: nn.Module) -> nn.Module:
        raise NotImplementedError


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


class LoRA(Adaptation):
    """Low-rank adapters on the attention projections (Hu et al. 2022), through ``peft``."""

    name = "lora"

    def __init__(self, r: int = 8, alpha: int = 16, dropout: float = 0.1, target_modules: list[str] | None = None):
        self.r, self.alpha, self.dropout, self.target_modules = r, alpha, dropout, target_modules

    def apply(self, model):
        try:
            from peft import LoraConfig, PeftModel, get_peft_model
        except ImportError:
            raise ModelError("LoRA needs the peft package", hint="pip install peft") from None
        if isinstance(model, PeftModel):  # already adapted: keep training the same adapters
            for n, p in model.named_parameters():
                p.requires_grad_("lora_" in n)
            return model
        config = LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                            target_modules=self.target_modules or _attention_projections(model))
        return get_peft_model(model, config)


def _attention_projections(model: nn.Module) -> list[str]:
    """Names of the query/value projections of common encoders (BERT-like, DistilBERT, T5, DeBERTa)."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for pair in (("query", "value"), ("q_lin", "v_lin"), ("q", "v"), ("query_proj", "value_proj"), ("q_proj", "v_proj")):
        if set(pair) <= names:
            return list(pair)
    raise ModelError("cannot tell which layers of this encoder are its attention projections",
                     hint="set lora_target_modules in the training config, e.g. ['query', 'value']")


def make_adaptation(config: TrainConfig) -> Adaptation:
    if config.adaptation == "bitfit":
        return BitFit()
    if config.adaptation == "lora":
        return LoRA(config.lora_r, config.lora_alpha, target_modules=config.lora_target_modules)
    return FullFinetune()
