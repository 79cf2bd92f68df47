"""Adaptations: which parameters train (full, BitFit, LoRA, (IA)3, IP) and how they are chosen."""

from __future__ import annotations

import torch

from conftest import tiny_bert
from taskmix.config import LoRAConfig, TrainConfig
from taskmix.models.adapt import BitFit, LoRA, make_adaptation


def test_adaptations_choose_the_trainable_parameters():
    model = tiny_bert()
    BitFit().apply(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith("bias") for n in trainable)
    lora = LoRA(LoRAConfig(r=2)).apply(tiny_bert())
    names = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    again = LoRA(LoRAConfig(r=2)).apply(lora)  # the second stage keeps training the same adapters
    assert again is lora
    x = {
        "input_ids": torch.tensor([[101, 2023, 102]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.long),
    }
    assert again(**x).last_hidden_state.shape == (1, 3, 32)
    assert make_adaptation(TrainConfig()).name == "full"
    assert make_adaptation(TrainConfig(adaptation="lora")).name == "lora"
