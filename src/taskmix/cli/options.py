"""The command line's vocabulary in one place: the options every command shares (with the defaults
their config gives shown in --help), the choices (enums checked when parsed and completed by the
shell), and the one helper that maps flags onto the library's config objects, always validated."""

from __future__ import annotations

import enum
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from taskmix.cli.output import err
from taskmix.config import (
    COMMAND_LINE,
    AdviseConfig,
    ExecutionConfig,
    GroupConfig,
    LLMConfig,
    ModelConfig,
    PVIConfig,
    RunConfig,
    SearchConfig,
    SelectConfig,
    TrainConfig,
    TransferConfig,
)
from taskmix.errors import ConfigError


def config_default(model: type, field: str) -> Any:
    info = model.model_fields[field]
    value = info.default_factory() if info.default_factory is not None else info.default
    return ",".join(map(str, value)) if isinstance(value, list) else value


def with_default(text: str, model: type | None = None, field: str | None = None) -> str:
    """Help text ending with the default the config gives (flags left out keep the config's
    value)."""
    if model is None:
        return text
    default = config_default(model, field)
    return f"{text} \\[default: {'none' if default is None else default}]"


def choices(model: type, field: str) -> type[enum.Enum]:
    """The values a config field allows, as the Enum typer checks, shows in --help and completes."""
    annotation = model.model_fields[field].annotation
    values = [
        v
        for a in typing.get_args(annotation) or (annotation,)
        for v in typing.get_args(a) or (a,)
        if isinstance(v, str)
    ]
    return enum.Enum(f"{model.__name__}_{field}", {v: v for v in values}, type=str)


def value_of(choice: enum.Enum | None) -> str | None:
    return None if choice is None else choice.value


Adaptation = choices(TrainConfig, "adaptation")
Sampler = choices(TrainConfig, "sampler")
Method = choices(GroupConfig, "method")
Mode = choices(PVIConfig, "mode")
Criterion = choices(GroupConfig, "criterion")
Test = choices(GroupConfig, "test")
Partition = choices(GroupConfig, "search")
Executor = choices(ExecutionConfig, "executor")
Setting = choices(TransferConfig, "setting")
Looks = choices(AdviseConfig, "looks")
Surrogate = choices(SearchConfig, "surrogate")
Proposal = choices(SearchConfig, "proposal")
Stop = choices(SearchConfig, "stop")
TrainerKind = choices(SearchConfig, "trainer")
Measure = choices(SelectConfig, "similarity")
Api = choices(LLMConfig, "api")
PviSplit = choices(PVIConfig, "split")
Keep = enum.Enum("Keep", {v: v for v in ("best", "all")}, type=str)
Baseline = enum.Enum(
    "Baseline", {v: v for v in ("all", "random", "textemb", "most_different")}, type=str
)

SuiteArg = Annotated[
    str, typer.Argument(help="suite YAML file, or 'demo' for the built-in synthetic suite")
]
OutOpt = Annotated[
    Path, typer.Option("--out", "-o", help="folder of the run store and run artifacts")
]
TasksOpt = Annotated[
    str | None, typer.Option(help="only these tasks of the suite, comma-separated \\[default: all]")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="print the tables as one JSON object (messages go to stderr)")
]
ConfigOpt = Annotated[
    Path | None, typer.Option(help="a YAML file of the command's settings; flags override it")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="model: minilm (bundled), a Hugging Face name or a folder \\[default: the suite's]"
    ),
]
MaxLenOpt = Annotated[
    int | None,
    typer.Option(help=with_default("maximum tokens per input", ModelConfig, "max_length")),
]
DeviceOpt = Annotated[
    str | None, typer.Option(help=with_default("auto | cpu | cuda | cuda:N", ModelConfig, "device"))
]
SeedsOpt = Annotated[
    str | None, typer.Option(help="comma-separated training seeds, e.g. 1,2,3 \\[default: 1,2,3]")
]
MarginOpt = Annotated[
    float | None,
    typer.Option(
        help=with_default(
            "equivalence margin of the verdicts, a fraction of the main metric (0.01 = one "
            "point): MTL within it of STL is 'equivalent'",
            RunConfig,
            "margin",
        )
    ),
]
MaxStepsOpt = Annotated[
    int | None,
    typer.Option(
        help=with_default("step budget of a run (overrides epochs)", TrainConfig, "max_steps")
    ),
]
ExecutorOpt = Annotated[
    Executor | None,
    typer.Option(  # type: ignore[valid-type]
        help="where runs are carried out: local (this process) | process (a pool of worker "
        "processes, one per GPU "
        "if any) | ray (a Ray cluster) \\[default: local]"
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        help="process: pool size; ray without --address: CPUs of the local "
        "cluster \\[default: every CPU]"
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        help="ray: the cluster to join ('auto' for the one `ray start` runs "
        "here); implies --executor ray"
    ),
]
LLMOpt = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="a local causal or seq2seq model (folder or Hugging Face "
        "name); with --endpoint, the model name sent to it",
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        help="an OpenAI-compatible API instead of a local model, e.g. http://127.0.0.1:8000/v1"
    ),
]
ApiOpt = Annotated[
    Api | None, typer.Option(help="--endpoint: which API is called \\[default: completions]")
]  # type: ignore[valid-type]
KeyEnvOpt = Annotated[
    str | None,
    typer.Option(
        help=with_default(
            "--endpoint: environment variable holding the API key", LLMConfig, "api_key_env"
        )
    ),
]


def configure(
    model: type,
    base: Any = None,
    values: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
):
    """``base`` (a config, or None for the defaults) with the flags given (``values``: dotted key
    paths such as ``"train.max_steps"``; None means not given) applied, validated; an error names
    the flag."""
    from taskmix.config import validate

    data = (base if base is not None else model()).model_dump()
    for path, value in (values or {}).items():
        if value is None:
            continue
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value.value if isinstance(value, enum.Enum) else value
    return validate(model, data, source=COMMAND_LINE, flags=flags)


def config_file(model: type, path: Path | None, default: Any = None):
    """The config in a ``--config`` YAML file, or ``default`` (None: the model's defaults)."""
    from taskmix.config import load_model_yaml

    return load_model_yaml(model, path) if path else default


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 1,2,3``: distinct integers, at least one (None when the flag is not given)."""
    from taskmix.config import distinct_seeds

    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r}: give integers separated by commas, e.g. 1,2,3"
        ) from None
    if not seeds:
        raise ConfigError(f"--seeds {text!r}: give at least one seed, e.g. 1,2,3")
    try:
        return distinct_seeds(seeds)
    except ValueError as e:
        raise ConfigError(f"--seeds {text!r}: {e}") from None


def parse_ints(text: str | None, flag: str) -> list[int] | None:
    try:
        return None if text is None else [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give whole numbers separated by commas") from None


def parse_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def load_suite(spec: str, tasks: str | None = None):
    """The suite (checked), restricted to ``--tasks`` when given."""
    from taskmix.data.suite import Suite

    suite = Suite.load(spec)
    names = parse_names(tasks)
    return suite.subset(names) if names else suite


def model_config(
    suite, model: str | None, max_length: int | None, device: str | None = None, base: Any = None
):
    """The model config: the suite's model unless one is named; flags override a config file's."""
    data = {"name": model, "max_length": max_length, "device": device}
    if model is None and (base is None or "name" not in base.model_fields_set):
        data["name"] = suite.model
    return configure(ModelConfig, base, data, flags={"name": "--model"})


def executor_from(executor, workers: int | None, address: str | None, base: Any = None):
    from taskmix.execute import make_executor

    if address is not None and executor is None:
        executor = "ray"
    return make_executor(
        configure(
            ExecutionConfig, base, {"executor": executor, "workers": workers, "address": address}
        )
    )


def llm_config(
    llm: str | None, endpoint: str | None, api, api_key_env: str | None, **more
) -> LLMConfig:
    if llm is None and endpoint is None:
        raise ConfigError(
            "no LLM given",
            hint="give --llm MODEL (a local folder or Hugging Face name) or --endpoint URL",
        )
    return configure(
        LLMConfig,
        None,
        {"model": llm, "endpoint": endpoint, "api": api, "api_key_env": api_key_env, **more},
        flags={"model": "--llm"},
    )


def renamed(old: str, new: str) -> None:
    """An old spelling still works; say what replaced it."""
    err.print(f"[yellow]note:[/] {old} is now {new}")


def alias(old_value, value, old: str, new: str):
    """The value of a flag given under its new name, or else under its old one (said so)."""
    if old_value is None:
        return value
    renamed(old, new)
    return value if value is not None else old_value
