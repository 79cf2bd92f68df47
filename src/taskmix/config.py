"""Configuration objects shared by the CLI and the Python API.

Each pydantic model here is the single source of defaults and validation for one thing: a
suite (:class:`SuiteConfig`), a backbone (:class:`ModelConfig`) and a training run
(:class:`TrainConfig`). The CLI only maps its flags onto these models.

YAML is read with ``yaml.safe_load`` semantics; validation errors name the file and the line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from taskmix.errors import ConfigError

TaskKind = Literal["classification", "multiple_choice", "regression", "generation"]
DataFormat = Literal["jsonl", "csv", "tsv", "parquet", "hf_disk", "hf_hub"]
SplitName = Literal["train", "dev", "test"]

_SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# names of suites and tasks: they name files in the output folder
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


def distinct_seeds(seeds: list[int]) -> list[int]:
    """``seeds``, refusing a seed given twice: each seed trains one model, and a repeated one would
    count that model twice in every statistic."""
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(
            f"seed {', '.join(map(str, twice))} given more than once; give distinct seeds, e.g. "
            "1,2,3"
        )
    return seeds


Seeds = Annotated[list[int], AfterValidator(distinct_seeds)]
PositiveInt = Annotated[int, Field(gt=0)]


def _split_size(v: float) -> float:
    if 0 < v < 0.5 or v >= 1 and float(v).is_integer():
        return v
    raise ValueError(
        "give a fraction between 0 and 0.5 (e.g. 0.15) or a number of examples (e.g. 200)"
    )


# the size of a split made from train: a fraction of train's rows, or a count of examples
SplitSize = Annotated[float, AfterValidator(_split_size)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def identity(self) -> dict:
        """The settings that make a run what it is, as JSON: the dump without the fields marked
        ``identity: False`` (where results are reported to, not what they are), so that turning
        a tracker on does not make finished runs new ones."""
        data = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            if (field.json_schema_extra or {}).get("identity", True) is False:
                data.pop(name, None)
            elif name in data and isinstance(getattr(self, name), _Strict):
                data[name] = getattr(self, name).identity()
        return data


class HFSplit(_Strict):
    """A split stored as a Hugging Face data set (``hf_disk`` folder or ``hf_hub`` name)."""

    path: str = Field(description="load_from_disk folder, or a hub data set name")
    name: str | None = Field(None, description="hub configuration name, e.g. 'rte' for glue")
    split: str | None = Field(None, description="split inside a DatasetDict, e.g. 'validation'")


class TaskConfig(_Strict):
    """One task (labelled data set) of a suite; keys are those of the suite file."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: TaskKind = "classification"
    format: DataFormat | None = Field(None, description="inferred from the file suffix if absent")
    splits: dict[SplitName, str | HFSplit]
    text: str | list[str] = Field(description="one field, or two for text pairs")
    label: str
    choices: list[str] | None = Field(None, description="multiple choice: one field per choice")
    labels: dict[str, str] | list[str] | None = Field(
        None, description="map from raw label values to names, or the list of label names"
    )
    verbalizer: dict[str, str] | None = Field(
        None,
        description="classification, for generative models: the text of each label (default: its "
        "name)",
    )
    description: str | None = None
    header: bool = Field(True, description="csv/tsv: whether the first row names the columns")
    columns: list[str] | None = Field(
        None, description="csv/tsv: column names for headerless files"
    )
    limit: PositiveInt | dict[SplitName, PositiveInt] | None = Field(
        None,
        description="use the first N rows: N (of train), or per split, e.g. {train: 800, dev: 200}",
    )
    sample: PositiveInt | dict[SplitName, PositiveInt] | None = Field(
        None,
        description="use a seeded sample of N rows: N (of train), or per split, e.g. {train: 800, "
        "test: 500}",
    )
    dev_size: SplitSize | None = Field(
        None,
        description="dev made from train: a fraction, or a number of "
        "examples [default: the suite's]",
    )
    test_size: SplitSize | None = Field(
        None,
        description="test made from train: a fraction, or a number of "
        "examples [default: the suite's]",
    )

    @property
    def text_fields(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)

    @field_validator("text")
    @classmethod
    def _one_or_two(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not 1 <= len(v) <= 2:
            raise ValueError("give one text field, or two for text pairs")
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys_as_str(cls, v: Any) -> Any:
        # YAML turns `0:`/`true:` keys into int/bool; labels are matched as strings.
        if isinstance(v, dict):
            return {_raw_key(k): str(val) for k, val in v.items()}
        return v

    @model_validator(mode="after")
    def _check(self) -> TaskConfig:
        if "train" not in self.splits:
            raise ValueError(
                "splits needs a 'train' entry (dev and test are made from it if absent)"
            )
        if self.kind == "multiple_choice" and not self.choices:
            raise ValueError("a multiple_choice task needs 'choices': the field of each choice")
        if self.kind == "multiple_choice" and self.choices and len(self.choices) < 2:
            raise ValueError("'choices' needs at least two fields")
        if self.kind != "multiple_choice" and self.choices:
            raise ValueError("'choices' is only for kind: multiple_choice")
        if self.kind in ("regression", "generation") and self.labels:
            raise ValueError(f"a {self.kind} task has no 'labels' map")
        if self.verbalizer and self.kind != "classification":
            raise ValueError("'verbalizer' is only for classification tasks")
        both = set(self.caps("limit")) & set(self.caps("sample"))
        if both:
            raise ValueError(f"give 'limit' or 'sample' for {', '.join(sorted(both))}, not both")
        if self.columns and self.header:
            # Column names given means the file has none, unless the user said otherwise.
            object.__setattr__(self, "header", False)
        return self

    def caps(self, key: Literal["limit", "sample"]) -> dict[str, int]:
        """``limit`` or ``sample`` per split: a plain number caps train."""
        value = getattr(self, key)
        return {} if value is None else {"train": value} if isinstance(value, int) else dict(value)

    def resolved_format(self, path: str) -> str:
        if self.format:
            return self.format
        suffix = Path(path).suffix.lower()
        if suffix in _SUFFIX_FORMATS:
            return _SUFFIX_FORMATS[suffix]
        raise ConfigError(
            f"task {self.name!r}: cannot tell the format of {path!r} from its suffix",
            hint="add 'format:' with one of jsonl, csv, tsv, parquet, hf_disk, hf_hub",
        )


def _raw_key(k: Any) -> str:
    if isinstance(k, bool):
        return str(k).lower()
    return str(k)


class ModelConfig(_Strict):
    """The backbone encoder and how it runs."""

    name: str = Field("minilm", description="'minilm' (bundled), a Hugging Face name, or a path")
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int = Field(128, ge=8, le=4096)
    device: str = Field("auto", description="auto (cuda if present, else cpu), cpu, cuda, cuda:1")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="auto: bf16 autocast where the hardware runs it fast, else fp16 autocast with "
        "a gradient scaler on a GPU (T4, V100), else fp32",
    )
    trust_remote_code: bool = False
    inference_batch_size: int = Field(64, gt=0)


class PromptConfig(_Strict):
    """How a task is written for a generative model: instruction, input and response cue, and the
    marker that ends each response. ``{description}`` is the task's description (with the label
    texts of a classification task), ``{input}`` the example's text fields."""

    instruction: str = Field(
        "### Instruction:\n{description}\n\n", description="first part of every prompt"
    )
    input: str = Field("### Input:\n{input}\n\n", description="an example's input")
    response: str = Field("### Response:\n", description="the cue after which the model answers")
    end: str = Field(
        "\n\n", description="the marker ending a response (a blank line); generation stops there"
    )
    chat_template: bool = Field(
        True,
        description="a model with a chat template (an instruction-tuned model) reads instruction "
        "and input as a user message in its template; false: the plain prompt",
    )

    @field_validator("instruction", "input")
    @classmethod
    def _has_placeholder(cls, v: str, info) -> str:
        needed = {"instruction": "{description}", "input": "{input}"}[info.field_name]
        if needed not in v:
            raise ValueError(f"the {info.field_name} part needs '{needed}'")
        return v


class GenerationConfig(_Strict):
    """How a generative model (causal or seq2seq language model) reads and answers tasks."""

    prompt: PromptConfig = Field(default_factory=PromptConfig)
    architecture: Literal["auto", "causal", "seq2seq"] = Field(
        "auto",
        description="auto: seq2seq for encoder-decoder models (T5), else causal (GPT-2, "
        "Llama-like)",
    )
    max_new_tokens: int = Field(32, gt=0, description="longest answer written")
    batch_size: int = Field(16, gt=0, description="prompts answered at once")
    eval_examples: int | None = Field(
        200,
        gt=0,
        description="dev examples answered at each checkpoint (the first "
        "N; all when unset); test is always answered in full",
    )


class LLMConfig(_Strict):
    """A large language model used by prompting (few-shot baselines, LLM similarity): a local
    Hugging Face model, or an OpenAI-compatible HTTP endpoint."""

    model: str | None = Field(
        None,
        description="a local folder or Hugging Face name; with an endpoint, the model "
        "name sent to it",
    )
    endpoint: str | None = Field(
        None, description="base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1"
    )
    api: Literal["completions", "chat"] = Field(
        "completions", description="endpoint: which API is called"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="endpoint: environment variable holding the key"
    )
    timeout: float = Field(60.0, gt=0, description="endpoint: seconds to wait for one reply")
    retries: int = Field(
        3, ge=0, description="endpoint: retries of a request that failed or timed out"
    )
    architecture: Literal["auto", "causal", "seq2seq"] = "auto"
    max_length: int = Field(
        1024, ge=8, description="local model: longest prompt in tokens (its start is cut)"
    )
    device: str = Field(
        "auto", description="local model: auto (cuda if present, else cpu), cpu, cuda, cuda:1"
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto",
        description="local model: the dtype its weights are loaded in; auto = bf16 where fast, "
        "else fp16 on a GPU, else fp32",
    )


class SuiteConfig(_Strict):
    """A suite file: a name, a default model, and its tasks."""

    name: str = Field(
        "suite",
        pattern=NAME_PATTERN,
        description="letters, digits, '_', '.', '-': it names files in the output folder",
    )
    model: str = "minilm"
    suite: Literal["demo"] | None = Field(None, description="'demo': the built-in synthetic suite")
    tasks: list[TaskConfig] = Field(default_factory=list)
    seed: int = Field(13, description="seed of the splits made from train")
    dev_size: SplitSize = Field(
        0.15,
        description="dev made from train (when a task has no dev file): a fraction "
        "below 0.5, or a number of examples",
    )
    test_size: SplitSize = Field(
        0.15,
        description="test made from train (when a task has no test file): a "
        "fraction below 0.5, or a number of examples",
    )

    @model_validator(mode="after")
    def _check(self) -> SuiteConfig:
        if self.suite is None and not self.tasks:
            raise ValueError("a suite needs 'tasks' (or 'suite: demo' for the built-in demo)")
        seen: set[str] = set()
        for t in self.tasks:
            if t.name in seen:
                raise ValueError(f"task name {t.name!r} is used twice; task names must be unique")
            seen.add(t.name)
        return self


class TrainConfig(_Strict):
    """How one single-task or multi-task model is trained."""

    epochs: float = Field(
        30.0,
        gt=0,
        description="most passes over the training data (if no max_steps): a cap high enough "
        "that early stopping (patience), not the cap, ends a run — so that STL and MTL models "
        "are compared converged (10 epochs of a 100-example task are 32 steps: too few)",
    )
    max_steps: int | None = Field(None, gt=0, description="step budget; overrides epochs")
    steps_per_task: bool = Field(
        False, description="multiply max_steps by the number of tasks in the run"
    )
    batch_size: int = Field(32, gt=0)
    grad_accum: int = Field(1, gt=0)
    lr: float = Field(5e-5, gt=0)
    head_lr: float | None = Field(None, gt=0, description="learning rate of the task heads")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    sampler: Literal["proportional", "temperature", "equal"] = "proportional"
    temperature: float = Field(2.0, gt=0, description="for sampler: temperature")
    loss_weighting: Literal["examples", "uniform"] = "examples"
    eval_every: int | None = Field(
        None,
        gt=0,
        description="evaluate every N steps (default: twice an epoch in a run budgeted in "
        "epochs, 4 times in one budgeted in max_steps; fewer in a short run where scoring dev "
        "would cost more than about 15% of training)",
    )
    eval_examples: int | None = Field(
        512,
        gt=0,
        description="most dev examples per task scored at each evaluation during training (a "
        "seeded sample, no larger than the examples trained between two evaluations, at least "
        "64; none: all of dev), so that evaluating stays a small part of a run; the last "
        "evaluation and the checkpoint kept are scored on all of dev",
    )
    batching: Literal["length", "random"] = Field(
        "length",
        description="length: each task's examples are drawn in runs of similar length (Hugging "
        "Face's length grouping, within a task), so little of a batch is padding; random: in a "
        "random order (taskmix 0.1). The task of every example is drawn by the sampler either way",
    )
    patience: int | None = Field(
        3,
        gt=0,
        description="stop after N evaluations without improvement (runs budgeted in epochs "
        "evaluate twice an epoch)",
    )
    patience_from: Literal["learned", "start"] = Field(
        "learned",
        description="learned: an evaluation counts against patience only when every task's dev "
        "score is above its majority-class level (a model on the plateau of always answering "
        "the most frequent label is not stopped there, so a small task's STL baseline is not "
        "cut short); start: every evaluation counts (taskmix 0.1)",
    )
    min_steps: int = Field(0, ge=0, description="never stop early before this step")
    freeze_embeddings: bool = Field(
        False, description="keep the word-embedding matrix fixed (about 1/3 faster steps on MiniLM)"
    )
    save_model: bool = Field(
        False, description="keep the best model in the run's model/ folder (for taskmix predict)"
    )
    report_to: list[Literal["mlflow", "tensorboard", "wandb"]] = Field(
        default_factory=list,
        description="experiment trackers each run logs its settings, losses and metrics to "
        "(installed separately: pip install 'taskmix[mlflow]' or 'taskmix[tensorboard]')",
        json_schema_extra={"identity": False},
    )
    tracking_dir: str | None = Field(
        None,
        description="where the trackers write (mlflow: a file store; tensorboard: event files) "
        "[default: the run store's tracking/ folder, or MLFLOW_TRACKING_URI]",
        json_schema_extra={"identity": False},
    )
    adaptation: Literal["full", "bitfit", "lora", "ia3", "ip"] = Field(
        "full",
        description="what trains: the whole encoder (full), only its biases (bitfit), LoRA or "
        "(IA)3 "
        "adapters (peft), or an Inspirational Pointer on the frozen encoder (ip)",
    )
    task_weights: dict[str, float] | None = Field(
        None,
        description="loss weight w_t per task (tasks not named weigh 1), on top of the examples' "
        "share",
    )
    lora: LoRAConfig = Field(
        default_factory=lambda: LoRAConfig(), description="adaptation lora: the adapters"
    )
    ip: IPConfig = Field(
        default_factory=lambda: IPConfig(), description="adaptation ip: the Inspirational Pointer"
    )

    # Written flat (lora_r, ip_embedding_size, …) as taskmix 0.1 wrote them, and settings added
    # since only when they differ from what 0.1 did: a run's id is the hash of its config, so a run
    # made before is found again when (and only when) it was trained the same way.
    _FLAT: ClassVar[dict[str, tuple[str, str]]] = {
        "lora_r": ("lora", "r"),
        "lora_alpha": ("lora", "alpha"),
        "lora_target_modules": ("lora", "target_modules"),
        "ip_embedding_size": ("ip", "embedding_size"),
        "ip_descriptions": ("ip", "descriptions"),
        "ip_combine": ("ip", "combine"),
        "ip_layers": ("ip", "layers"),
        "ip_form_model": ("ip", "form_model"),
    }
    _SINCE_0_1: ClassVar[dict[str, Any]] = {
        "eval_examples": None,
        "batching": "random",
        "patience_from": "start",
    }

    @model_validator(mode="before")
    @classmethod
    def _read_flat(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(k in cls._FLAT for k in data):
            return data
        data = dict(data)
        nested: dict[str, dict] = {
            "lora": dict(data.get("lora") or {}),
            "ip": dict(data.get("ip") or {}),
        }
        for key, (group, field) in cls._FLAT.items():
            if key in data:
                nested[group][field] = data.pop(key)
        return {**data, **{g: v for g, v in nested.items() if v}}

    @model_serializer(mode="wrap")
    def _write_flat(self, handler) -> dict:
        data = handler(self)
        groups = {g: data.pop(g, {}) or {} for g in ("lora", "ip")}
        for key, (group, field) in self._FLAT.items():
            data[key] = groups[group].get(field)
        for name, as_before in self._SINCE_0_1.items():
            if getattr(self, name) == as_before:
                data.pop(name, None)
        return data


class LoRAConfig(_Strict):
    """LoRA adapters (through peft): their rank, scaling and the layers they adapt."""

    r: int = Field(8, gt=0, description="rank of the adapters")
    alpha: int = Field(16, gt=0, description="scaling of the adapters")
    target_modules: list[str] | None = Field(
        None, description="names of the layers to adapt (default: the attention query and value)"
    )


class IPConfig(_Strict):
    """The Inspirational Pointer: task embedding size, descriptions, how C combines its inputs,
    which layers it modifies, and its form module."""

    embedding_size: int = Field(200, gt=0, description="size t of the task embedding (paper: 200)")
    descriptions: bool = Field(
        True,
        description="prepend each task's description to the form module's input "
        "(false: the ablation without descriptions)",
    )
    combine: Literal["sum", "concat"] = Field(
        "sum",
        description="how task and layer embeddings enter C: sum (the paper's parameter count) or "
        "concat",
    )
    layers: Literal["encoder", "decoder"] = Field(
        "encoder", description="which stack's layers are modified"
    )
    form_model: str | None = Field(
        None, description="a separate frozen encoder as form module (default: the backbone itself)"
    )


class PVIConfig(_Strict):
    """How pointwise V-usable information (PVI) is measured: the model family V and the data."""

    mode: Literal["probe", "finetune"] = Field(
        "probe",
        description="probe: logistic regression on frozen features (seconds); "
        "finetune: the paper's fine-tuned encoder (slow on a CPU)",
    )
    split: SplitName = Field(
        "train",
        description="train: out-of-fold PVI of every training instance by k-fold cross-fitting; "
        "dev/test: PVI of that split from models trained on all of train",
    )
    folds: int = Field(5, ge=2, le=50, description="folds of the cross-fitting (split: train)")
    seed: int = Field(13, description="seed of the folds and of fine-tuning")
    probe_c: float | None = Field(
        None,
        gt=0,
        description="probe: inverse L2 strength of the logistic regression (default: chosen from "
        "0.001, 0.01, 0.1, 1 by log-loss on a quarter of each training fold)",
    )
    bins: int | None = Field(
        None,
        ge=2,
        description="regression tasks: cut the labels into N quantile bins (else they are refused)",
    )
    finetune: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=10, batch_size=32, lr=2e-5, patience=None),
        description="finetune: how g and g' are trained (paper: 10 epochs, batch 32, lr 2e-5)",
    )


class GroupConfig(_Strict):
    """How tasks are grouped: the method, its statistics and the search over partitions."""

    method: Literal["pvi", "textemb", "surrogate", "all", "random"] = "pvi"
    alpha: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="significance level of the tests (default: 0.05 for tost, 0.01 for pvalue "
        "as in the paper)",
    )
    test: Literal["welch", "student"] = Field(
        "welch", description="two-sample t-test (the paper: student)"
    )
    criterion: Literal["tost", "pvalue", "effect"] = Field(
        "tost",
        description="tost: similar when an equivalence test (two one-sided tests) shows the "
        "PVI means within the margin, after multiplicity correction; pvalue (the paper): "
        "similar when p >= alpha; effect: similar when the observed effect size is small",
    )
    max_effect: float = Field(
        0.2,
        gt=0,
        description="tost: the equivalence margin in Cohen's d; effect: largest Cohen's d of a "
        "similar group (groups of 3+: the same bound as eta^2 = d^2 / (d^2 + 4))",
    )
    margin_bits: float | None = Field(
        None, gt=0, description="tost: the equivalence margin in bits instead of Cohen's d"
    )
    correction: Literal["holm", "bh", "none"] = Field(
        "holm",
        description="multiplicity correction across the candidate groups' tests: holm "
        "(family-wise error), bh (Benjamini-Hochberg, false discovery rate) or none",
    )
    subsample: int | Literal["min"] | None = Field(
        None,
        description="test equal-size seeded subsamples of each task's PVI: N instances, or 'min' "
        "(the "
        "smallest task's size); p-values shrink as data sets grow",
    )
    max_size: int = Field(3, ge=2, le=8, description="largest group considered")
    search: Literal["auto", "greedy", "exhaustive"] = Field(
        "auto", description="how the partition is chosen (auto: exhaustive up to 12 tasks)"
    )
    min_similarity: float | None = Field(
        None, description="textemb: least mean cosine of a group (default: that of the median pair)"
    )
    sizes: list[int] | None = Field(
        None, description="random / textemb: sizes of the groups to form"
    )
    seed: int = Field(
        13,
        description="seed of random groups and subsamples (and surrogate: of the subsets "
        "and their training)",
    )
    pvi: PVIConfig = Field(default_factory=PVIConfig)

    @property
    def level(self) -> float:
        """The significance level in force: ``alpha``, else the criterion's default."""
        return self.alpha if self.alpha is not None else 0.05 if self.criterion == "tost" else 0.01

    subsets: int | None = Field(
        None,
        gt=0,
        description="surrogate: random task subsets trained together (default: 3 per task)",
    )
    subset_size: int | None = Field(
        None, ge=2, description="surrogate: tasks per subset (default: half the suite)"
    )
    ridge: float = Field(1.0, gt=0, description="surrogate: strength of the ridge regression")
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(max_steps=150, sampler="equal", patience=None),
        description="surrogate: training of each subset (equal sampling, fixed step budget)",
    )


class TransferConfig(_Strict):
    """How pairwise transfer s → t is measured (Kim et al. 2023): train on s, then on n examples of
    t, against training on the same n examples of t alone, over seeds."""

    setting: Literal["probe", "finetune", "bitfit", "lora"] = Field(
        "probe",
        description="probe: frozen features and a small MLP head whose hidden layer transfers "
        "(seconds, CPU); finetune / bitfit / lora: the encoder adapted that way",
    )
    n: int = Field(
        1000,
        gt=0,
        description="training examples of the target (a seeded sample, the same for "
        "the transfer and the target-only run)",
    )
    seeds: Seeds = Field(
        default_factory=lambda: [1, 2, 3], min_length=1, description="training seeds (the paper: 8)"
    )
    sample_seed: int = Field(13, description="seed of the target sample")
    split: Literal["test", "dev"] = Field(
        "test",
        description="the target split that is scored: test (TaskWeb), or dev (advise: the "
        "test split then stays unseen until the checks)",
    )
    source: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=1, patience=None),
        description="training on the source (finetune / bitfit / lora)",
    )
    target: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=3),
        description="training on the target's n examples (finetune / bitfit / lora)",
    )
    probe_hidden: int = Field(
        256, gt=0, description="probe: width of the hidden layer that transfers"
    )
    probe_steps: int = Field(300, gt=0, description="probe: Adam steps on each task")
    probe_lr: float = Field(1e-3, gt=0, description="probe: learning rate")
    probe_batch: int = Field(64, gt=0, description="probe: batch size")


class SelectConfig(_Strict):
    """How sources are chosen for a target (TaskShop) and how the choice is proved by training."""

    similarity: Literal["roe", "llm"] = Field(
        "roe",
        description="F, the similarity needing only target examples: roe (Retrieval-of-Experts, "
        "sentence "
        "embeddings) or llm (an LLM asked whether example pairs come from similar tasks)",
    )
    llm: LLMConfig | None = Field(None, description="llm: the model asked")
    llm_pairs: int = Field(
        5, gt=0, description="llm: (source, target) example pairs asked about per task pair"
    )
    lam: float = Field(
        0.7, ge=0, le=1, description="weight of the pivot estimate against F (the paper: 0.7)"
    )
    k: int = Field(5, gt=0, description="how many sources to select")
    n_source_examples: int = Field(100, gt=0, description="roe: source examples embedded")
    n_target_examples: int = Field(32, gt=0, description="roe: target examples embedded")
    per_source: int = Field(
        2000, gt=0, description="training examples taken from each selected source"
    )
    seed: int = Field(13, description="seed of the example samples and of the random selection")


class SearchConfig(_Strict):
    """How the auxiliary data sets of a target are chosen by combination search (Zhan & Zhang):
    train some combinations, fit a surrogate on (inclusion vector -> target score), train the
    combination it proposes, refit, until the budget or a stop rule ends the search."""

    surrogate: Literal["mlp", "linear", "bayes", "gp"] = Field(
        "gp",
        description="mlp: the paper's two-layer network; linear: ridge (data-set effects); bayes: "
        "Bayesian "
        "regression with pairwise terms; gp: Gaussian process, Hamming kernel",
    )
    proposal: Literal["greedy", "thompson", "ei", "random"] = Field(
        "ei",
        description="greedy: best prediction (the paper); thompson: best of a posterior draw; "
        "ei: largest expected improvement (thompson and ei need bayes or gp); "
        "random: untried combinations at random (the baseline)",
    )
    stop: Literal["repeat", "budget", "ei"] = Field(
        "budget",
        description="repeat: stop when the predicted best was already trained (the paper); "
        "budget: only the budget; ei: stop when the expected improvement is below the noise",
    )
    budget: int = Field(
        20, gt=0, description="most combinations trained, the initial design included"
    )
    initial: int = Field(
        4,
        ge=1,
        description="initial design: the target alone, all data sets, then "
        "combinations that together cover every data set",
    )
    q: int = Field(1, gt=0, description="combinations proposed per round (trained side by side)")
    seeds: Seeds = Field(
        default_factory=lambda: [1],
        min_length=1,
        description="training seeds per combination (its score is their mean)",
    )
    seed: int = Field(
        13, description="seed of the initial design, the surrogates and the proposals"
    )
    noise: float = Field(
        0.0,
        ge=0,
        description="stop ei: least expected improvement worth a trial (the "
        "spread between seeds when larger)",
    )
    enumerate_up_to: int = Field(
        16, ge=1, le=22, description="score every combination up to this many auxiliary data sets"
    )
    local_search: bool = Field(
        True, description="above enumerate_up_to, propose by local search instead"
    )
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(max_steps=150, sampler="equal", patience=None),
        description="training of one trial: equal sampling, fixed step budget whatever the number "
        "of data sets",
    )
    trainer: Literal["encoder", "generative"] = Field(
        "encoder",
        description="encoder: an encoder with task heads; generative: a causal or seq2seq language "
        "model "
        "instruction-tuned on the tasks written as prompts (Zhan & Zhang), scored by exact match",
    )
    generation: GenerationConfig = Field(
        default_factory=GenerationConfig,
        description="trainer generative: prompts, answers and decoding",
    )


class AdviseConfig(_Strict):
    """How `taskmix advise` forms its recommendation and spends its budget checking it."""

    signals: list[Literal["textemb", "pvi", "transfer", "tag", "gradient_cosine"]] = Field(
        default_factory=lambda: ["textemb", "pvi", "transfer", "tag", "gradient_cosine"],
        description="the affinity signals combined: textemb and pvi from one encoder pass; "
        "transfer: probe transfer between every ordered pair (frozen features, seconds a pair); "
        "tag and gradient_cosine from one multi-task run of all tasks",
    )
    transfer: TransferConfig = Field(
        default_factory=lambda: TransferConfig(setting="probe", n=32, split="dev"),
        description="the transfer signal: how pairwise transfer is measured (probe: a small "
        "MLP whose hidden layer carries over from the source to n examples of the target), "
        "scored on the target's dev split",
    )
    weights: dict[str, float] | Literal["fitted", "equal"] = Field(
        "fitted",
        description="how the signals are combined: fitted (the model fitted on measured pair "
        "gains with the signals measured, taskmix.group.affinity.fitted_advisor; it predicts a "
        "gain in points), equal (the mean of the standardised signals) or a weight per signal",
    )
    max_size: int = Field(3, ge=2, le=8, description="largest group recommended")
    budget_runs: int | None = Field(
        36,
        ge=0,
        description="training runs spent checking the recommendation (STL and MTL, every seed; "
        "runs already in the store count too, so a rerun decides the same); 0: none",
    )
    budget_minutes: float | None = Field(
        None,
        gt=0,
        description="wall time of the whole advice: a check starts only if it is predicted to "
        "end within it (its runs at the mean duration of those trained so far)",
    )
    min_seeds: int = Field(2, ge=2, description="seeds each recommended group is first checked on")
    max_seeds: int = Field(
        6,
        ge=2,
        le=100,
        description="most seeds a group is checked on before it is left inconclusive",
    )
    looks: Literal["spend", "each"] = Field(
        "spend",
        description="a verdict is looked at again after every seed a group gets; spend: α = 0.05 "
        "is spent over the looks from min_seeds to max_seeds seeds (by default 1.0% at 2 seeds "
        "… 1.9% at 6), so a group with no true difference ends helps or hurts at most 5% of "
        "the time however many seeds it gets; each: every look at α = 0.05 (more verdicts, but "
        "≈14% of such groups called helps or hurts at 2 to 6 seeds)",
    )
    tag_steps: int | None = Field(
        300,
        gt=0,
        description="steps of the multi-task run that measures TAG and gradient cosine (none: "
        "the whole training budget; capped by default so that the budget goes to the checks)",
    )
    tag_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="under a time budget (budget_minutes): the multi-task run that measures TAG "
        "and gradient cosine stops after this share of it, so that the rest goes to the checks",
    )
    tag_per_task: int = Field(4, gt=0, description="examples per task of each lookahead")
    transfer_share: float = Field(
        0.15,
        gt=0,
        le=1,
        description="under a time budget (budget_minutes): the transfer signal's probe runs are "
        "measured seed by seed while each further seed is predicted to end within this share of "
        "it; if not even one seed is, transfer is left out (the fitted advisor is refitted "
        "without it)",
    )


class ExecutionConfig(_Strict):
    """Where the runs of a many-run command are carried out (never part of a run's identity: the
    same run gives the same numbers whichever executor carries it out)."""

    executor: Literal["local", "process", "ray"] = Field(
        "local",
        description="local: in this process, one run after another; process: a pool of worker "
        "processes on this machine (one per GPU when there are GPUs); ray: a Ray cluster",
    )
    workers: int | None = Field(
        None,
        gt=0,
        description="process: pool size; ray without an address: CPUs of "
        "the local cluster [default: every CPU]",
    )
    address: str | None = Field(
        None,
        description="ray: cluster to join ('auto', 'host:port' or 'ray://…'); "
        "none starts a local cluster",
    )
    cpus_per_run: float = Field(1, gt=0, description="ray: CPUs each run asks for")
    gpus_per_run: float | None = Field(
        None,
        ge=0,
        description="ray: GPUs each run asks for [default: 1 when the cluster has GPUs, else 0]",
    )
    threads: int | None = Field(
        None,
        gt=0,
        description="torch threads per run [default: local: the CPUs other processes leave "
        "free, chosen before each run; process / ray: 1]. Results are bit-identical across "
        "executors for the same thread count",
    )
    max_retries: int = Field(
        2, ge=0, description="process / ray: retries of a run whose worker died"
    )
    devices: str = Field(
        "auto",
        pattern=r"^(auto|cpu|\d+(,\d+)*)$",
        description="process: auto (one worker per visible GPU, else CPU workers), cpu, or GPU "
        "ids such as 0,1 (one worker each)",
    )


class RunConfig(_Strict):
    """Everything `taskmix train` needs besides the suite: model, training, seeds, output folder."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    group: GroupConfig = Field(
        default_factory=GroupConfig, description="how `--groups auto` groups the tasks"
    )
    seeds: Seeds = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    margin: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="equivalence margin of the verdicts, a fraction of the main metric (0.01 = "
        "one point): MTL within ± margin of STL by two one-sided tests is 'equivalent'",
    )
    out: str = "runs"
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    advise: AdviseConfig = Field(
        default_factory=AdviseConfig, description="how `taskmix advise` recommends and checks"
    )


def config_hash(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (pydantic models are dumped first)."""

    def norm(p: Any) -> Any:
        if isinstance(p, _Strict):
            return p.identity()
        return p.model_dump(mode="json") if isinstance(p, BaseModel) else p

    blob = json.dumps([norm(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- YAML in and out


def _line_index(text: str) -> dict[tuple, int]:
    """Map each key path of a YAML document to the line (1-based) where it stands."""
    index: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        index.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = (*path, k.value)
                index[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index
    if root is not None:
        walk(root, ())
    return index


def read_yaml(path: str | Path) -> tuple[Any, str]:
    """Read a YAML file safely; return (data, text). Errors name the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(
            f"{p}: file not found",
            hint="check the path (relative paths are from the current folder)",
        )
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text ({e.reason} at byte {e.start})", hint="save the file as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            f"{p}:{where}: unreadable YAML: {problem}",
            hint="check indentation and quoting near that line",
        ) from None
    return data, text


COMMAND_LINE = "command line"  # the source of values given as flags


def validate(
    model: type[BaseModel],
    data: Any,
    *,
    source: str,
    text: str | None = None,
    flags: dict[str, str] | None = None,
) -> Any:
    """Validate ``data`` into ``model``; a failure becomes one ConfigError listing every problem.

    Problems name the file and line of ``text`` when given; for ``source="command line"`` they
    name the flag: ``flags`` maps a key path (``"model.name"``) to its flag (``"--model"``), and
    any other key ``a.b_c`` is the flag ``--b-c``."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys to values, found {type(data).__name__}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as e:
        lines = _line_index(text) if text else {}
        found: dict[
            str, list[str]
        ] = {}  # the place of each problem: its messages (one per union member)
        for err in e.errors():
            raw = tuple(err["loc"])
            # pydantic adds the union member name ('str', 'HFSplit') to locations: drop those (an
            # unknown key itself is the user's, whatever its spelling).
            keep = raw[-1:] if err["type"] == "extra_forbidden" else ()
            loc = tuple(x for x in raw[: len(raw) - len(keep)] if not _type_name(x))
            loc += keep
            line = _nearest_line(lines, loc)
            where = f" line {line}:" if line else ""
            key = ".".join(str(x) for x in loc) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(_allowed_keys(model, loc[:-1]))
                msg = f"unknown key {loc[-1]!r} (allowed: {allowed})"
            if source == COMMAND_LINE:
                named = [x for x in loc if isinstance(x, str)]
                place = (flags or {}).get(key) or (
                    "--" + named[-1].replace("_", "-") if named else key
                )
            else:
                place = f"{source}:{where} {key}"
            if msg not in found.setdefault(place, []):
                found[place].append(msg)
        problems = [f"{place}: {'; or '.join(msgs)}" for place, msgs in found.items()]
        if source == COMMAND_LINE and len(problems) == 1:
            raise ConfigError(
                problems[0], hint="see the command's --help for its options"
            ) from None
        raise ConfigError(
            f"invalid {'options' if source == COMMAND_LINE else 'configuration'}\n  "
            + "\n  ".join(problems)
        ) from None


def _type_name(part: Any) -> bool:
    """Whether a part of a pydantic error location names a union member ('str', 'HFSplit',
    'dict[...]') rather than a key of the user's."""
    return isinstance(part, str) and (
        part[:1].isupper()
        or part in ("str", "int", "float", "bool")
        or part.startswith(("list[", "dict[", "function-"))
    )


def _nearest_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(cur, "model_fields", {}).get(part)
        if field is None:
            break
        ann = field.annotation
        inner = [
            a
            for a in getattr(ann, "__args__", (ann,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not inner:
            break
        cur = inner[0]
    return sorted(getattr(cur, "model_fields", {}))


def load_model_yaml(model: type[BaseModel], path: str | Path) -> Any:
    data, text = read_yaml(path)
    return validate(model, data, source=str(path), text=text)
