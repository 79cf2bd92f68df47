"""Configs: defaults, validation messages naming the line or the flag, and the stable form runs are
identified by (stores made by taskmix 0.1 stay valid)."""

from __future__ import annotations

import pytest

from taskmix.config import (
    COMMAND_LINE,
    IPConfig,
    LoRAConfig,
    RunConfig,
    SuiteConfig,
    TrainConfig,
    config_hash,
    validate,
)
from taskmix.errors import ConfigError

# the keys of TrainConfig as taskmix 0.1 wrote them into every run's config (hashed into its id)
KEYS_0_1 = {
    "epochs",
    "max_steps",
    "steps_per_task",
    "batch_size",
    "grad_accum",
    "lr",
    "head_lr",
    "weight_decay",
    "warmup_ratio",
    "max_grad_norm",
    "sampler",
    "temperature",
    "loss_weighting",
    "eval_every",
    "patience",
    "min_steps",
    "freeze_embeddings",
    "save_model",
    "adaptation",
    "task_weights",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "ip_embedding_size",
    "ip_descriptions",
    "ip_combine",
    "ip_layers",
    "ip_form_model",
}


def test_lora_and_ip_settings_have_their_own_configs_and_are_written_flat():
    t = TrainConfig(lora=LoRAConfig(r=4), ip=IPConfig(embedding_size=16, descriptions=False))
    dump = t.model_dump(mode="json")
    # the form run ids are computed from: 0.1's keys, and what has been added since when it differs
    # from what 0.1 did (batches in random order, all of dev at every evaluation, patience from
    # the first evaluation); where results are reported (trackers) is not part of it
    assert set(t.identity()) == KEYS_0_1 | {"batching", "eval_examples", "patience_from"}
    assert set(dump) == set(t.identity()) | {"report_to", "tracking_dir"}
    as_before = t.model_copy(
        update={"batching": "random", "eval_examples": None, "patience_from": "start"}
    )
    assert set(as_before.identity()) == KEYS_0_1
    assert (
        dump["lora_r"] == 4 and dump["ip_embedding_size"] == 16 and dump["ip_descriptions"] is False
    )
    assert TrainConfig.model_validate(dump) == t  # read back from the flat form
    assert (
        TrainConfig(lora_r=4, ip_embedding_size=16, ip_descriptions=False) == t
    )  # the old spelling
    assert TrainConfig(ip={"combine": "concat"}).ip.combine == "concat"
    # one run id for the same settings, however they were spelled
    assert config_hash(TrainConfig(lora_r=4)) == config_hash(TrainConfig(lora={"r": 4}))


def test_errors_name_the_line_of_a_file_or_the_flag():
    text = "train:\n  max_steps: -1\n"
    with pytest.raises(
        ConfigError, match=r"run.yaml: line 2: train.max_steps: Input should be greater than 0"
    ):
        validate(RunConfig, {"train": {"max_steps": -1}}, source="run.yaml", text=text)
    with pytest.raises(ConfigError) as e:
        validate(RunConfig, {"train": {"max_steps": -1}}, source=COMMAND_LINE)
    assert e.value.message == "--max-steps: Input should be greater than 0"
    with pytest.raises(ConfigError) as e:
        validate(
            RunConfig, {"model": {"name": 3}}, source=COMMAND_LINE, flags={"model.name": "--model"}
        )
    assert e.value.message.startswith("--model: ")


def test_seeds_and_split_sizes():
    with pytest.raises(ConfigError, match="seed 1 given more than once"):
        validate(RunConfig, {"seeds": [1, 1, 2]}, source="x")
    assert SuiteConfig(suite="demo", dev_size=200).dev_size == 200
    for bad in (0.5, 0, 12.5):
        with pytest.raises(Exception, match="fraction between 0 and 0.5"):
            SuiteConfig(suite="demo", dev_size=bad)
