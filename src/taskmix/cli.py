"""The `taskmix` command line: one thin function per command; the work is in the library.

Errors caused by input are printed as one readable message and exit with code 2 (``--debug``
shows the traceback).
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import typing
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from taskmix import __version__
from taskmix.config import COMMAND_LINE
from taskmix.errors import ConfigError, Interrupted, Stopped, TaskmixError
from taskmix.files import atomic_file, inside

app = typer.Typer(
    name="taskmix", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Which of my NLP tasks should I train together, and will it help? taskmix trains single-task "
         "(STL) and multi-task (MTL) models on your tasks and compares them with confidence intervals.",
    context_settings={"help_option_names": ["-h", "--help"]})
# Tables are wide: when output goes to a file or pipe, do not wrap them at 80 columns. Messages are
# never hard-wrapped (soft_wrap): a line piped into a log stays one line, whatever COLUMNS says.
console = Console(soft_wrap=True) if sys.stdout.isatty() else Console(width=200, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)
_state = {"debug": False}

SuiteArg = Annotated[str, typer.Argument(help="suite YAML file, or 'demo' for the built-in synthetic suite")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="folder of the run store and run artifacts")]
ModelOpt = Annotated[str | None, typer.Option(help="model: minilm, a Hugging Face name or a folder [default: the suite's]")]
MaxLenOpt = Annotated[int | None, typer.Option(help="maximum tokens per input")]
ModeOpt = Annotated[str | None, typer.Option(help="PVI model family: probe (linear on frozen features, seconds) | "
                                                   "finetune (the paper's fine-tuned encoder, slow on a CPU)")]
MethodOpt = Annotated[str | None, typer.Option(help="grouping method: pvi | textemb | surrogate | all | random")]
AlphaOpt = Annotated[float | None, typer.Option(help="significance level of the PVI tests [default: 0.01]")]
CriterionOpt = Annotated[str | None, typer.Option(help="pvalue (similar when p >= alpha) | effect (similar when "
                                                       "the effect size is small)")]
ExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", help="where the runs are carried out: local (this process, one after another) | process (a pool "
                       "of worker processes, one per GPU if any) | ray (a Ray cluster) [default: local]")]
WorkersOpt = Annotated[int | None, typer.Option(help="process: pool size; ray without --address: CPUs of the local "
                                                     "cluster [default: every CPU]")]
AddressOpt = Annotated[str | None, typer.Option(help="ray: the cluster to join ('auto' for the one `ray start` "
                                                     "runs here); implies --executor ray")]
PVIPathOpt = Annotated[Path | None, typer.Option("--pvi", help="reuse a PVI table written by `taskmix pvi` "
                                                               "(a pvi.csv or its folder)")]

LLMOpt = Annotated[str | None, typer.Option("--llm", help="a local causal or seq2seq model (folder or Hugging Face "
                                                           "name); with --endpoint, the model name sent to it")]
EndpointOpt = Annotated[str | None, typer.Option(help="an OpenAI-compatible API instead of a local model, e.g. "
                                                      "http://127.0.0.1:8000/v1")]
ApiOpt = Annotated[str | None, typer.Option(help="--endpoint: completions (default) | chat")]
KeyEnvOpt = Annotated[str | None, typer.Option(help="--endpoint: environment variable holding the API key "
                                                    "[default: OPENAI_API_KEY]")]


def _llm(llm: str | None, endpoint: str | None, api: str | None, api_key_env: str | None, **more):
    from taskmix.config import LLMConfig, validate

    if llm is None and endpoint is None:
        raise ConfigError("no LLM given", hint="give --llm MODEL (a local folder or Hugging Face name) or --endpoint URL")
    return validate(LLMConfig, _options(model=llm, endpoint=endpoint, api=api, api_key_env=api_key_env, **more),
                    source=COMMAND_LINE, flags={"model": "--llm"})


def _version(value: bool) -> None:
    if value:
        console.print(f"taskmix {__version__}")
        raise typer.Exit()


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False) -> None:
    _state["debug"] = debug
    detail = verbose or debug
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat("%(levelname)s %(name)s: %(message)s" if detail else "%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if detail else logging.WARNING, handlers=[handler])


class _LogFormat(logging.Formatter):
    """Log lines as a person reads them: 'warning: …', like the 'error: …' of an error."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "levelname": record.levelname.lower()})
        return super().format(record)


def _print_frame(frame, title: str | None = None) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    for _, row in frame.iterrows():
        table.add_row(*[Text(_cell(v)) for v in row])  # Text: a '[' in a name is not markup
    console.print(table)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def _seeds(text: str) -> list[int]:
    """``--seeds 1,2,3``: distinct integers, at least one."""
    from taskmix.config import distinct_seeds

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give integers separated by commas, e.g. 1,2,3") from None
    if not seeds:
        raise ConfigError(f"--seeds {text!r}: give at least one seed, e.g. 1,2,3")
    try:
        return distinct_seeds(seeds)
    except ValueError as e:
        raise ConfigError(f"--seeds {text!r}: {e}") from None


def _options(**values) -> dict:
    """The options the user gave (not None), for overriding a config."""
    return {k: v for k, v in values.items() if v is not None}


def _model(suite, model: str | None, max_length: int | None, device: str | None = None, base=None):
    """The model config: the suite's model unless one is named; flags override a config file's."""
    from taskmix.config import ModelConfig, validate

    data = (base or ModelConfig()).model_dump()
    if model is None and (base is None or "name" not in base.model_fields_set):
        data["name"] = suite.model
    data.update(_options(name=model, max_length=max_length, device=device))
    return validate(ModelConfig, data, source=COMMAND_LINE, flags={"name": "--model"})


def _execution(executor: str | None, workers: int | None, address: str | None, base=None):
    """The execution config: a config file's, overridden by the flags given."""
    from taskmix.config import ExecutionConfig, validate

    data = (base or ExecutionConfig()).model_dump()
    if address is not None and executor is None:
        executor = "ray"
    data.update(_options(executor=executor, workers=workers, address=address))
    return validate(ExecutionConfig, data, source=COMMAND_LINE)


def _executor(executor: str | None, workers: int | None, address: str | None):
    from taskmix.execute import make_executor
    return make_executor(_execution(executor, workers, address))


def _group_config(base=None, pvi: dict | None = None, train: dict | None = None, **flags):
    from taskmix.config import GroupConfig, validate

    data = (base or GroupConfig()).model_dump()
    data.update(_options(**flags))
    data["pvi"].update(_options(**(pvi or {})))
    data["train"].update(_options(**(train or {})))
    return validate(GroupConfig, data, source=COMMAND_LINE)


def _pvi_for(suite, config, model, out: Path, path: Path | None):
    """A saved PVI table (``--pvi``), or PVI measured now (and kept for the next command)."""
    if config.method != "pvi":
        return None
    from taskmix.relate.pvi import PVI, measure

    if path is not None:
        return PVI.load(path)
    pvi, folder = measure(suite, config.pvi, model, out, show_progress=True)
    console.print(f"PVI ({config.pvi.mode}) of {len(pvi.summary_)} tasks: [bold]{folder / 'pvi.csv'}[/]")
    return pvi


def _print_partition(groups: list[list[str]], title: str) -> None:
    together = ["+".join(g) for g in groups if len(g) > 1]
    alone = [g[0] for g in groups if len(g) == 1]
    console.print(f"[bold]{title}:[/] {'; '.join(together) or '(no group)'}"
                  + (f"   alone: {', '.join(alone)}" if alone else ""))


@app.command()
def tasks(suite: SuiteArg) -> None:
    """Validate a suite and describe each task: sizes, label distribution, lengths, made splits."""
    import pandas as pd

    from taskmix.data.task import Suite
    s = Suite.load(suite)
    _print_frame(pd.DataFrame([t.describe() for t in s]), title=f"suite {s.name}: {len(s)} tasks")


@app.command()
def pvi(
    suite: SuiteArg,
    mode: ModeOpt = None,
    split: Annotated[str, typer.Option(help="train: out-of-fold PVI of every training instance (k-fold "
                                            "cross-fitting) | dev | test: PVI of that split")] = "train",
    folds: Annotated[int, typer.Option(help="folds of the cross-fitting")] = 5,
    bins: Annotated[int | None, typer.Option(help="cut regression labels into N quantile bins")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated tasks [default: all]")] = None,
    epochs: Annotated[float | None, typer.Option(help="finetune: epochs [default: 10]")] = None,
    lr: Annotated[float | None, typer.Option(help="finetune: learning rate [default: 2e-5]")] = None,
    batch_size: Annotated[int | None, typer.Option(help="finetune: batch size [default: 32]")] = None,
    seed: Annotated[int, typer.Option(help="seed of the folds and of fine-tuning")] = 13,
    model: ModelOpt = None, max_length: MaxLenOpt = None,
    out: OutOpt = Path("runs"),
    force: Annotated[bool, typer.Option(help="measure again even if this PVI was measured before")] = False,
) -> None:
    """Measure pointwise V-usable information (PVI) of every instance, and each task's V-information.

    PVI(x → y) = −log2 g∅(y) + log2 g′(y|x): how many bits the input gives a model about its label,
    measured on instances the models did not train on. Writes OUT/pvi/<id>/pvi.csv (per instance)
    and summary.csv (per task); the same command later reuses them. Example:

        taskmix pvi suite.yaml --mode probe
    """
    from taskmix.config import PVIConfig, validate
    from taskmix.data.task import Suite
    from taskmix.relate.pvi import measure

    s = Suite.load(suite)
    finetune = {**PVIConfig().finetune.model_dump(), **_options(epochs=epochs, batch_size=batch_size, lr=lr)}
    config = validate(PVIConfig, _options(mode=mode, split=split, folds=folds, bins=bins, seed=seed,
                                          finetune=finetune), source=COMMAND_LINE)
    names = [t.strip() for t in tasks.split(",")] if tasks else None
    for n in names or []:
        s[n]  # a clear error for an unknown task
    result, folder = measure(s, config, _model(s, model, max_length), out, names, show_progress=True, force=force)
    _print_frame(result.summary_, title=f"{s.name}: V-information (mean PVI, bits) per task, {config.mode} mode")
    console.print(f"per-instance PVI: [bold]{folder / 'pvi.csv'}[/]  (columns: task, id, label, pvi, "
                  "h_y = −log2 g∅(y), h_y_x = −log2 g′(y|x), correct, fold)")


@app.command()
def group(
    suite: SuiteArg,
    method: MethodOpt = "pvi",
    mode: ModeOpt = None, alpha: AlphaOpt = None, criterion: CriterionOpt = None,
    test: Annotated[str | None, typer.Option(help="welch (default) | student (as in the paper)")] = None,
    max_effect: Annotated[float | None, typer.Option(help="effect criterion: largest Cohen's d of a similar "
                                                          "group [default: 0.2]")] = None,
    subsample: Annotated[str | None, typer.Option(help="test equal-size seeded subsamples of the PVI values: "
                                                       "N, or 'min' (the smallest task's size)")] = None,
    max_size: Annotated[int | None, typer.Option(help="largest group considered [default: 3]")] = None,
    search: Annotated[str | None, typer.Option(help="auto | greedy | exhaustive")] = None,
    sizes: Annotated[str | None, typer.Option(help="random/textemb: group sizes, e.g. 2,2,3")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of random groups and subsamples")] = None,
    subsets: Annotated[int | None, typer.Option(help="surrogate: random task subsets trained together "
                                                     "[default: 3 per task]")] = None,
    subset_size: Annotated[int | None, typer.Option(help="surrogate: tasks per subset [default: half]")] = None,
    max_steps: Annotated[int | None, typer.Option(help="surrogate: training steps per subset [default: 150]")] = None,
    top: Annotated[int, typer.Option(help="rows of the candidate table to print (all are saved)")] = 20,
    pvi_path: PVIPathOpt = None,
    model: ModelOpt = None, max_length: MaxLenOpt = None,
    out: OutOpt = Path("runs"),
    executor: ExecutorOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
) -> None:
    """Recommend which tasks to train together, with the evidence for every candidate group.

    pvi: tasks whose PVI distributions do not differ significantly (t-test for pairs, ANOVA for
    larger groups) are grouped; the most different pairs are listed as a negative control.
    textemb: tasks with the most similar mean input embeddings. surrogate: trains random subsets of
    tasks together (runs in the run store), fits a ridge regression per task on which others were
    present, and groups tasks whose effects on each other are positive. all / random: baselines.
    Writes OUT/groups/<suite>-<method>.csv. Example:

        taskmix group suite.yaml --method pvi --alpha 0.01
    """
    from taskmix.data.task import Suite
    from taskmix.group.groupers import PVIGrouper, make_grouper, rank_candidates

    s = Suite.load(suite)
    sub = None if subsample is None else subsample if subsample == "min" else _int(subsample, "--subsample")
    config = _group_config(method=method, alpha=alpha, criterion=criterion, test=test, max_effect=max_effect,
                           subsample=sub, max_size=max_size, search=search, seed=seed,
                           sizes=[_int(x, "--sizes") for x in sizes.split(",")] if sizes else None,
                           subsets=subsets, subset_size=subset_size, pvi={"mode": mode},
                           train={"max_steps": max_steps} if max_steps else None)
    mc = _model(s, model, max_length)
    grouper = make_grouper(config, model=mc, out=out, show_progress=True,
                           executor=_executor(executor, workers, address))
    if isinstance(grouper, PVIGrouper):
        grouper.fit(s, pvi=_pvi_for(s, config, mc, out, pvi_path))
        _print_frame(grouper.pvi_.summary_, title="V-information (mean PVI, bits) per task")
    else:
        grouper.fit(s)
    frame = grouper.to_frame()
    from taskmix.config import config_hash

    # one file per grouping configuration: another criterion or test does not overwrite this one
    path = inside(out, "groups", f"{s.name}-{config.method}-{config_hash(config)[:8]}.csv")
    with atomic_file(path) as f:
        frame.to_csv(f, index=False)
    _print_frame(rank_candidates(frame).head(top), title=f"candidate groups ({min(top, len(frame))} of {len(frame)}; all in {path})")
    console.print(grouper.describe())
    _print_partition(grouper.groups_, "recommended")
    if config.method == "surrogate":
        from taskmix.report.plots import relevance_heatmap

        shown = grouper.relevance_.round(4).astype(object).where(grouper.relevance_.notna(), "-")
        shown.insert(0, "task", shown.index)
        _print_frame(shown, title="symmetrised surrogate relevance (θ + θᵀ)/2: > 0, the two help each other")
        console.print(f"heatmap: {relevance_heatmap(grouper.relevance_, path.with_suffix('.png'))}")
    if isinstance(grouper, PVIGrouper):
        _print_partition(grouper.different_, "most different (negative control)")
    console.print(f"train and compare them: taskmix train {suite} --groups auto --method {config.method}")


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give a whole number") from None


@app.command()
def train(
    suite: SuiteArg,
    groups: Annotated[str, typer.Option(help='tasks trained together: "a,b;c,d" (; between groups), "all" '
                                             '(one group), or "auto": the groups --method recommends, and its '
                                             "baselines")] = "all",
    method: Annotated[str | None, typer.Option(
        help="training method: full | bitfit | lora | ia3 | ip (Inspirational Pointer), or with --groups auto the "
             "grouping method: pvi | textemb | surrogate")] = None,
    mode: ModeOpt = None, alpha: AlphaOpt = None, criterion: CriterionOpt = None,
    baselines: Annotated[str, typer.Option(help="with --groups auto: baseline groupings trained too "
                                                "(all, random, textemb, different)")] = "all,random,textemb,different",
    pvi_path: PVIPathOpt = None,
    seeds: Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 1,2,3 [default: 1,2,3]")] = None,
    config: Annotated[Path | None, typer.Option(help="run config YAML (keys: model, train, seeds, out)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="folder of the run store [default: runs]")] = None,
    model: Annotated[str | None, typer.Option(help="model: minilm, a Hugging Face name or a folder")] = None,
    epochs: Annotated[float | None, typer.Option(help="passes over the training data")] = None,
    max_steps: Annotated[int | None, typer.Option(help="step budget (overrides epochs)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="training batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    sampler: Annotated[str | None, typer.Option(help="proportional | temperature | equal")] = None,
    max_length: Annotated[int | None, typer.Option(help="maximum tokens per input")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N")] = None,
    stl: Annotated[bool, typer.Option(help="also train a single-task model per task")] = True,
    adaptation: Annotated[str | None, typer.Option(help="what trains: full | bitfit | lora | ia3 | ip "
                                                        "(what --method ip sets)")] = None,
    descriptions: Annotated[bool | None, typer.Option(help="ip: give the form module each task's description "
                                                           "[default: yes]")] = None,
    executor: ExecutorOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
) -> None:
    """Train STL models for every task named and an MTL model per group, over seeds; print the comparison.

    Runs that already finished (same data, model, settings and seed) are skipped, so the same
    command resumes an interrupted grid. Examples:

        taskmix train suite.yaml --groups "rte,cb;mrpc,stsb" --seeds 1,2,3
        taskmix train suite.yaml --groups auto --method pvi     # PVI groups vs all, random, ...
        taskmix train suite.yaml --method ip --max-steps 600    # Inspirational Pointer, backbone frozen
    """
    from taskmix.config import RunConfig, TrainConfig, load_model_yaml, validate
    from taskmix.data.task import Suite, parse_groups
    from taskmix.train.experiment import MultiTaskTrainer

    run = load_model_yaml(RunConfig, config) if config else RunConfig()
    data = run.model_dump()
    if method in typing.get_args(TrainConfig.model_fields["adaptation"].annotation):  # a training method
        if adaptation not in (None, method):
            raise ConfigError(f"--method {method} and --adaptation {adaptation} disagree", hint="give one of them")
        method, adaptation = None, method
    data["train"].update(_options(epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr, sampler=sampler,
                                  adaptation=adaptation, ip_descriptions=descriptions))
    if seeds is not None:
        data["seeds"] = _seeds(seeds)
    if out is not None:
        data["out"] = str(out)
    s = Suite.load(suite)
    data["model"] = _model(s, model, max_length, device, base=run.model).model_dump()
    data["group"] = _group_config(run.group, method=method, alpha=alpha, criterion=criterion,
                                  pvi={"mode": mode}).model_dump()
    data["execution"] = _execution(executor, workers, address, base=run.execution).model_dump()
    run = validate(RunConfig, data, source=COMMAND_LINE, flags={"model.name": "--model"})
    from taskmix.execute import make_executor

    trainer = MultiTaskTrainer(run.train, run.model, seeds=run.seeds, out=run.out,
                               executor=make_executor(run.execution))
    if groups == "auto":
        from taskmix.group.groupers import training_groupings
        from taskmix.train.experiment import save_groupings

        pvi = _pvi_for(s, run.group, run.model, Path(run.out), pvi_path)
        grouper, groupings = training_groupings(s, run.group, [b.strip() for b in baselines.split(",") if b.strip()],
                                                pvi=pvi, model=run.model, out=run.out, show_progress=True,
                                                executor=trainer.executor)
        console.print(grouper.describe())
        for name, part in groupings.items():
            _print_partition(part, name)
        save_groupings(run.out, s.name, groupings, grouper.record())
        comparison = trainer.compare(s, groupings)
        group_list = groupings[run.group.method]
    else:
        group_list = [s.names] if groups == "all" else parse_groups(groups, s)
        comparison = trainer.compare(s, group_list)
    _print_frame(comparison.printable(), title=f"{s.name}: test metrics, mean ± 95% CI over {len(run.seeds)} seeds")
    if comparison.groupings:
        _print_frame(comparison.printable_groupings(),
                     title="groupings: mean MTL − STL difference in the main metric (points), ± 95% CI over seeds")
    _print_frame(comparison.strategies(group_list), title="models and trainable parameters")
    console.print(f"runs stored in [bold]{Path(run.out) / 'taskmix.db'}[/]; "
                  f"`taskmix report --out {run.out}` writes the HTML report")



def _names(text: str | None, suite) -> list[str] | None:
    """Comma-separated task names, each checked against the suite (None: all)."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        suite[n]
    return names


def _transfer_file(out: Path, suite: str, setting: str) -> Path:
    return inside(out, "transfer", f"{suite}-{setting}.csv")


@app.command()
def transfer(
    suite: SuiteArg,
    setting: Annotated[str | None, typer.Option(help="probe (frozen features + MLP head, seconds per pair) | "
                                                     "finetune | bitfit | lora [default: probe]")] = None,
    n: Annotated[int | None, typer.Option("--n", help="training examples of each target [default: 1000]")] = None,
    seeds: Annotated[str | None, typer.Option(help="comma-separated seeds [default: 1,2,3]")] = None,
    targets: Annotated[str | None, typer.Option(help="comma-separated targets [default: every task]")] = None,
    sources: Annotated[str | None, typer.Option(help="comma-separated sources [default: every task]")] = None,
    config: Annotated[Path | None, typer.Option(help="transfer config YAML (keys of TransferConfig)")] = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None, max_length: MaxLenOpt = None,
    top: Annotated[int, typer.Option(help="graph: arrows to each target from its best N sources")] = 2,
    executor: ExecutorOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
) -> None:
    """Measure pairwise transfer: for each ordered pair (s, t), train on s then on N examples of t, against
    t alone, over seeds. Writes the matrix (CSV: target, source, setting, pc, pm, score, ...), a heatmap and
    a graph under OUT/transfer/, and prints the paper's commutativity and transitivity analyses.

    Every pair and seed is one run in the run store: a stopped grid resumes where it stopped.

        taskmix transfer suite.yaml --setting probe --seeds 1,2,3
    """
    from taskmix.config import TransferConfig, load_model_yaml, validate
    from taskmix.data.task import Suite
    from taskmix.relate.transfer import PairwiseTransfer
    from taskmix.report.plots import transfer_graph, transfer_heatmap

    base = load_model_yaml(TransferConfig, config) if config else TransferConfig()
    data = base.model_dump()
    data.update(_options(setting=setting, n=n))
    if seeds is not None:
        data["seeds"] = _seeds(seeds)
    cfg = validate(TransferConfig, data, source=COMMAND_LINE)
    s = Suite.load(suite)
    pt = PairwiseTransfer(cfg, model=_model(s, model, max_length), out=out,
                          executor=_executor(executor, workers, address))
    pt.fit(s, targets=_names(targets, s), sources=_names(sources, s))
    matrix = pt.matrix_
    path = matrix.save(_transfer_file(out, s.name, cfg.setting))
    scores = matrix.scores()
    transfer_heatmap(scores, path.with_suffix(".heatmap.png"), title=f"{s.name}: transfer scores ({cfg.setting})")
    transfer_graph(scores, path.with_suffix(".graph.png"), top=top)
    shown = scores.astype(object).where(scores.notna(), "-")
    shown.insert(0, "target \\ source", shown.index)
    used = {t: min(cfg.n, len(s[t].splits["train"])) for t in scores.index}
    n = f"n = {cfg.n}" if set(used.values()) == {cfg.n} else \
        "n = " + ", ".join(f"{t} {k}" for t, k in used.items()) + " (a target's training examples, at most --n)"
    _print_frame(shown, title=f"TaskWeb scores 0.5·PC + 0.5·(0.2·PM − 0.1), {cfg.setting}, {n}, "
                              f"{len(cfg.seeds)} seeds (> 0: the source helps)")
    com = matrix.commutativity()
    if com["pairs"]:
        console.print(f"commutativity: {com['same_sign']} of {com['pairs']} pairs transfer with the same sign both ways")
    tr = matrix.transitivity()
    if tr["triples"].iloc[0]:
        console.print("transitivity: P(s→t > 0 | s→p > x and p→t > x) = " + ", ".join(
            f"{r.p_positive:.2f} at x={r.threshold:.3g} ({r.triples})" for r in tr.itertuples() if r.triples)
                      + f"; unconditional {tr['baseline'].iloc[0]:.2f}")
    console.print(f"matrix: [bold]{path}[/] (heatmap and graph beside it)")


def _target_task(target: str, suite, text: str, label: str):
    """A task of the suite (by name) or a data file whose rows are the target's examples (all of
    them are used, as train, dev and test)."""
    if target in suite:
        return suite[target]
    path = Path(target)
    if not path.exists():
        raise ConfigError(f"--target {target!r} is neither a task of {suite.name} nor a file",
                          hint=f"tasks: {', '.join(suite.names)}")
    from taskmix.config import TaskConfig
    from taskmix.data.loaders import load_task

    fields = [f.strip() for f in text.split(",") if f.strip()]
    cfg = TaskConfig(name=path.stem.replace(" ", "_") or "target", splits={"train": str(path), "dev": str(path),
                     "test": str(path)}, text=fields if len(fields) > 1 else fields[0], label=label)
    return load_task(cfg, base_dir=Path("."), check_leaks=False)


def _matrix_for(path: Path | None, out: Path, suite, setting: str | None, metric: Path | None = None):
    """The transfer matrix given, or the one `taskmix transfer` saved for the suite; None if neither."""
    from taskmix.relate.matrix import TransferMatrix

    if path is None:
        saved = sorted((out / "transfer").glob(f"{suite.name}-*.csv")) if suite is not None else []
        if setting:
            saved = [p for p in saved if p.stem == f"{suite.name}-{setting}"]
        if not saved:
            return None
        path = saved[0]
        console.print(f"transfer matrix: {path}")
    m = TransferMatrix.load(path)
    if suite is not None and not set(m.tasks) & set(suite.names):
        raise ConfigError(f"{path}: none of its tasks ({', '.join(m.tasks[:6])}) is a task of suite {suite.name!r}",
                          hint=f"the suite's tasks: {', '.join(suite.names)}; give the matrix measured on them")
    if setting is None and len(m.settings) > 1:
        raise ConfigError(f"{path} holds several settings: {', '.join(m.settings)}", hint="choose one with --setting")
    m = m.select(setting) if setting and setting in m.settings else m
    return m.with_metric(metric) if metric else m


@app.command()
def select(
    sources: Annotated[str | None, typer.Option(help="suite YAML (or 'demo') of the candidate source tasks")] = None,
    target: Annotated[str | None, typer.Option(help="the new target: a data file of its examples (~32 are "
                                                     "enough), or a task of the sources suite")] = None,
    matrix: Annotated[Path | None, typer.Option(help="transfer matrix CSV/Parquet (ours, or the published TaskWeb "
                                                     "table) [default: the one `taskmix transfer` saved]")] = None,
    setting: Annotated[str | None, typer.Option(help="setting of the matrix to use, e.g. probe or finetune/t5l")] = None,
    k: Annotated[int | None, typer.Option("--k", help="sources to select [default: 5]")] = None,
    lam: Annotated[float | None, typer.Option(help="weight of the pivot estimate against F [default: 0.7]")] = None,
    text: Annotated[str, typer.Option(help="target file: its text field(s), comma-separated")] = "text",
    label: Annotated[str, typer.Option(help="target file: its label field")] = "label",
    evaluate: Annotated[bool, typer.Option("--evaluate", help="leave-one-out NDCG and Regret@k of F and TaskShop "
                                                              "over every target of the matrix")] = False,
    similarity: Annotated[Path | None, typer.Option(help="--evaluate: F table (target, source, score) instead "
                                                         "of computing F from --sources")] = None,
    metric: Annotated[Path | None, typer.Option(help="--evaluate: absolute target metric after each transfer "
                                                     "(target, source, metric) for Regret@k")] = None,
    train: Annotated[bool, typer.Option("--train", help="prove the selection: train the target with the top-k, "
                                                        "random k, bottom-k and all sources, and alone")] = False,
    per_source: Annotated[int | None, typer.Option(help="--train: examples from each source [default: 2000]")] = None,
    seeds: Annotated[str, typer.Option(help="--train: comma-separated seeds")] = "1,2,3",
    max_steps: Annotated[int | None, typer.Option(help="--train: step budget per run")] = None,
    measure: Annotated[str | None, typer.Option(help="F: roe (sentence embeddings, default) | llm (ask --llm or "
                                                      "--endpoint whether example pairs come from similar tasks; "
                                                      "answers cached in the run store)")] = None,
    llm: LLMOpt = None, endpoint: EndpointOpt = None, api: ApiOpt = None, api_key_env: KeyEnvOpt = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None, max_length: MaxLenOpt = None,
) -> None:
    """Rank source tasks for a new target (TaskShop: pivots through the transfer matrix + Retrieval-of-Experts
    similarity F, which needs only the target's examples), or evaluate the ranking method.

        taskmix select --sources suite.yaml --target new_task.jsonl --k 5
        taskmix select --sources suite.yaml --target rte --train --seeds 1,2,3
        taskmix select --evaluate --matrix taskweb_pairwise.csv --setting finetune/t5l --similarity roe.csv
        taskmix select --sources suite.yaml --target new_task.jsonl --measure llm --endpoint http://127.0.0.1:8000/v1
    """
    from taskmix.config import SelectConfig, validate
    from taskmix.data.task import Suite
    from taskmix.relate.taskshop import (
        leave_one_out,
        load_similarity,
        rank_sources,
        train_selection,
    )

    llm_config = _llm(llm, endpoint, api, api_key_env) if measure == "llm" else None
    cfg = validate(SelectConfig, _options(k=k, lam=lam, per_source=per_source, similarity=measure, llm=llm_config),
                   source=COMMAND_LINE)
    from taskmix.train.experiment import STORE_FILE

    store = out / STORE_FILE  # the LLM's answers are cached there
    suite = Suite.load(sources) if sources else None
    if evaluate:
        m = _matrix_for(matrix, out, suite, setting, metric)
        if m is None:
            raise ConfigError("--evaluate needs a transfer matrix", hint="give --matrix, or run `taskmix transfer` first")
        if similarity is not None:
            F = load_similarity(similarity)
        elif suite is not None:
            from taskmix.relate.taskshop import make_similarity

            tasks = [suite[t] for t in m.tasks if t in suite]
            F = make_similarity(cfg, model=_model(suite, model, max_length), store=store).fit(tasks).score(tasks)
        else:
            raise ConfigError("--evaluate needs F", hint="give --similarity F.csv, or --sources suite.yaml to compute it")
        result = leave_one_out(m, F, lam=cfg.lam, k=cfg.k)
        shown = result.reset_index()
        _print_frame(shown, title=f"leave-one-out: NDCG (×100, ↑) and Regret@{cfg.k} (%, ↓) of F alone and of "
                                  f"TaskShop (λ = {cfg.lam})")
        console.print("mean: " + ", ".join(f"{c} {result[c].mean():.2f}" for c in result.columns
                                            if c.startswith(("ndcg", "regret"))))
        return
    if suite is None or target is None:
        raise ConfigError("select needs --sources and --target (or --evaluate)")
    t = _target_task(target, suite, text, label)
    m = _matrix_for(matrix, out, suite, setting)
    if m is None:
        err.print("no transfer matrix (give --matrix or run `taskmix transfer`): ranking by F alone")
    pool = [x for x in suite if x.name != t.name]
    ranking = rank_sources(t, pool, m, cfg, model=_model(suite, model, max_length), store=store)
    shown = ranking.reset_index()
    shown.insert(0, "rank", range(1, len(shown) + 1))
    _print_frame(shown, title=f"sources for {t.name}: TaskShop score (λ = {cfg.lam}) = λ·pivot + (1 − λ)·F; "
                              "higher is more promising")
    chosen = list(ranking.index[:cfg.k])
    console.print(f"[bold]selected (top {len(chosen)}{f' of {cfg.k} asked' if len(chosen) < cfg.k else ''}):[/] "
                  f"{', '.join(chosen)}")
    if train:
        from taskmix.config import TrainConfig
        from taskmix.train.experiment import MultiTaskTrainer

        if t.name not in suite:
            raise ConfigError("--train needs the target as a task of the sources suite (with train and test data)")
        trainer = MultiTaskTrainer(TrainConfig(**_options(max_steps=max_steps)), _model(suite, model, max_length),
                                   seeds=_seeds(seeds), out=out)
        _, table = train_selection(suite, t.name, list(ranking.index), cfg, trainer)
        _print_frame(table, title=f"{t.name} trained with each selection of sources: test metric and difference "
                                  "from the target alone, ± 95% CI over seeds")


@app.command()
def search(
    suite: SuiteArg,
    target: Annotated[str, typer.Option(help="the task whose score the auxiliary data sets should raise")],
    candidates: Annotated[str | None, typer.Option(help="comma-separated auxiliary data sets [default: every "
                                                        "other task]")] = None,
    surrogate: Annotated[str | None, typer.Option(help="gp (default) | bayes | linear | mlp (the paper's)")] = None,
    proposal: Annotated[str | None, typer.Option(help="ei (default) | thompson | greedy (the paper's) | random")] = None,
    stop: Annotated[str | None, typer.Option(help="budget (default) | repeat (the paper's: stop when the predicted "
                                                  "best was already trained) | ei")] = None,
    budget: Annotated[int | None, typer.Option(help="most combinations trained [default: 20]")] = None,
    initial: Annotated[int | None, typer.Option(help="size of the initial design [default: 4]")] = None,
    q: Annotated[int | None, typer.Option("--q", help="combinations proposed per round [default: 1]")] = None,
    seeds: Annotated[str | None, typer.Option(help="training seeds per combination [default: 1]")] = None,
    max_steps: Annotated[int | None, typer.Option(help="training steps of one trial [default: 150]")] = None,
    trainer: Annotated[str | None, typer.Option(help="encoder (an encoder with task heads, default) | generative (a "
                                                     "causal or seq2seq language model given by --model, trained to "
                                                     "answer the tasks written as prompts; scored by exact match)")] = None,
    config: Annotated[Path | None, typer.Option(help="search config YAML (keys of SearchConfig)")] = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None, max_length: MaxLenOpt = None,
    executor: ExecutorOpt = None, workers: WorkersOpt = None, address: AddressOpt = None,
) -> None:
    """Find the auxiliary data sets that most help TARGET without training all 2^n combinations:
    train an initial design (the target alone, all data sets, combinations covering each), fit a
    surrogate of (inclusion vector -> target dev score), train the combination it proposes, refit,
    until the budget. Prints each trial as it finishes and the best so far; writes the trials (CSV),
    a summary (JSON) and the best-so-far curve (PNG) under OUT/search/.

    Every trial is a run in the run store: a stopped search re-run with the same command carries on
    and never trains a combination twice.

        taskmix search suite.yaml --target rte --surrogate gp --budget 20
        taskmix search suite.yaml --target ner --trainer generative --model t5-base --max-steps 500
    """
    from taskmix.config import SearchConfig, load_model_yaml, validate
    from taskmix.data.task import Suite
    from taskmix.train.trials import save_search, search_combinations, search_summary

    base = load_model_yaml(SearchConfig, config) if config else SearchConfig()
    data = base.model_dump()
    data.update(_options(surrogate=surrogate, proposal=proposal, stop=stop, budget=budget, initial=initial, q=q,
                         trainer=trainer))
    if seeds is not None:
        data["seeds"] = _seeds(seeds)
    if max_steps is not None:
        data["train"]["max_steps"] = max_steps
    cfg = validate(SearchConfig, data, source=COMMAND_LINE)
    s = Suite.load(suite)
    console.print(f"[bold]combination search[/] for {target}: {cfg.surrogate} surrogate, {cfg.proposal} proposals, "
                  f"budget {cfg.budget}; score = {target}'s dev {s[target].main_metric if target in s else ''}")
    console.print(f"{'trial':>5}  {'phase':6}  {'score':>7}  {'pred.':>7}  {'best':>7}  datasets")
    shown = [0]

    def live(search) -> None:
        for row in search.rows_[shown[0]:]:
            star = " *" if row["score"] >= row["best_so_far"] else ""
            pred = "" if row["predicted"] is None else f"{row['predicted']:.4f}"
            console.print(f"{row['trial']:>5}  {row['phase']:6}  {row['score']:7.4f}  {pred:>7}  "
                          f"{row['best_so_far']:7.4f}  {row['datasets']}{star}", highlight=False)
        shown[0] = len(search.rows_)

    result, trials = search_combinations(s, target, cfg, candidates=_names(candidates, s),
                                         model=_model(s, model, max_length), out=out, callback=live,
                                         executor=_executor(executor, workers, address))
    path = save_search(result, trials, out / "search", s.name, target)
    summary = search_summary(result, trials)
    console.print(f"\nstopped: {summary['stopped']} after {summary['trials']} trials")
    console.print(f"[bold]best combination:[/] {target} + {' + '.join(summary['best']) or '(nothing: alone is best)'}"
                  f"  dev {summary['best_dev']:.4f}, test {summary['best_test']:.4f}")
    if summary["alone_test"] is not None:
        console.print(f"{target} alone: dev {summary['alone_dev']:.4f}, test {summary['alone_test']:.4f} "
                      f"(gain on test {summary['best_test'] - summary['alone_test']:+.4f})")
    console.print(f"trials: [bold]{path}[/] (summary .json and best-so-far curve .png beside it)")


@app.command()
def fewshot(
    suite: SuiteArg,
    llm: LLMOpt = None, endpoint: EndpointOpt = None, api: ApiOpt = None, api_key_env: KeyEnvOpt = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated tasks [default: every classification and "
                                                   "generation task]")] = None,
    k: Annotated[int | None, typer.Option("--k", help="demonstrations per prompt [default: the number of classes, "
                                                      "one of each; 4 for generation tasks]")] = None,
    seeds: Annotated[str, typer.Option(help="comma-separated seeds: each draws other demonstrations")] = "1,2,3",
    split: Annotated[str, typer.Option(help="split answered: test | dev")] = "test",
    limit: Annotated[int | None, typer.Option(help="answer only the first N examples of the split")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="longest answer written")] = 32,
    timeout: Annotated[float | None, typer.Option(help="--endpoint: seconds to wait for one reply [default: 60]")] = None,
    out: OutOpt = Path("runs"),
) -> None:
    """Few-shot prompting baseline: ask an LLM (a local model, or an OpenAI-compatible endpoint) to
    answer each task from k demonstrations, without training; the answers are read as labels (or
    items) and scored like the fine-tuned models. Each (task, seed) is a run in the store, so
    `taskmix compare` shows the LLM beside STL and MTL; printed here beside the STL runs found.

        taskmix fewshot suite.yaml --llm Qwen/Qwen2.5-0.5B-Instruct --seeds 1,2,3
        OPENAI_API_KEY=... taskmix fewshot suite.yaml --endpoint https://api.openai.com/v1 --llm gpt-4o-mini --api chat
    """
    from taskmix.data.task import Suite
    from taskmix.evaluate.compare import Comparison
    from taskmix.evaluate.fewshot import run_fewshot
    from taskmix.store import RunStore
    from taskmix.train.experiment import STORE_FILE

    if split not in ("test", "dev"):
        raise ConfigError(f"--split {split!r}: use test or dev")
    if k is not None and k < 0:
        raise ConfigError("--k: give 0 or more demonstrations")
    config = _llm(llm, endpoint, api, api_key_env, timeout=timeout)
    s = Suite.load(suite)
    names = _names(tasks, s) or [t.name for t in s if t.kind in ("classification", "generation")]
    if not names:
        raise ConfigError(f"suite {s.name!r} has no classification or generation task to prompt")
    records = run_fewshot(s, names, config, k=k, seeds=_seeds(seeds), split=split, limit=limit,
                          max_new_tokens=max_new_tokens, out=out)
    with RunStore(out / STORE_FILE) as store:
        stl = [r for r in store.runs(suite=s.name, status="finished", kinds=("stl",)) if r.tasks[0] in names]
    _print_frame(Comparison(records + stl, s).printable(),
                 title=f"few-shot LLM ({config.model or config.endpoint}) on {split}"
                       + (" beside the STL models in the store" if stl else "") + ", mean ± 95% CI over seeds")
    invalid = {r.tasks[0]: r.metrics["test"][r.tasks[0]].get("invalid") for r in records}
    shown = ", ".join(f"{t} {v:.0%}" for t, v in invalid.items() if v)
    if shown:
        console.print(f"answers naming no label (counted wrong): {shown}")


def _groups(text: str) -> list[list[str]]:
    return [[t.strip() for t in g.split(",") if t.strip()] for g in text.split(";") if g.strip()]


def _store_path(out: Path) -> Path:
    from taskmix.train.experiment import STORE_FILE

    db = out / STORE_FILE
    if not db.exists():
        raise ConfigError(f"no run store at {db}", hint="run `taskmix train` first, or point --out at its folder")
    return db


def _comparison(out: Path, suite: str | None, allow_empty: bool = False):
    from taskmix.evaluate.compare import Comparison
    from taskmix.store import RunStore

    db = _store_path(out)
    with RunStore(db, readonly=True) as store:
        records = store.runs(suite=suite, status="finished", kinds=("stl", "mtl", "fewshot"))
    if not records:
        if allow_empty:
            return Comparison([]), None
        raise ConfigError(f"{db}: no finished runs" + (f" of suite {suite!r}" if suite else ""))
    suites = sorted({r.suite for r in records})
    if len(suites) > 1:
        raise ConfigError(f"{db} holds runs of several suites: {', '.join(suites)}", hint="choose one with --suite")
    from taskmix.train.experiment import load_groupings

    groupings, grouper = load_groupings(out, suites[0])
    return Comparison(records, groupings=groupings), grouper


@app.command()
def compare(out: OutOpt = Path("runs"),
            suite: Annotated[str | None, typer.Option(help="suite name, if the store holds several")] = None,
            groups: Annotated[str | None, typer.Option(help='grouping to count models for: "a,b;c"')] = None) -> None:
    """Print the STL vs MTL table of the finished runs in a run store."""
    comp, _ = _comparison(out, suite)
    _print_frame(comp.printable(), title="test metrics, mean ± 95% CI over seeds")
    if comp.groupings:
        _print_frame(comp.printable_groupings(),
                     title="groupings: mean MTL − STL difference in the main metric (points), ± 95% CI over seeds")
    _print_frame(comp.settings(), title="training settings")
    if groups:
        _print_frame(comp.strategies(_groups(groups)), title="models and trainable parameters")


@app.command()
def runs(out: OutOpt = Path("runs"),
         status: Annotated[str | None, typer.Option(help="pending | queued | running | finished | failed | "
                                                         "interrupted (held by a process that is gone)")] = None
         ) -> None:
    """List the runs in a run store: setting, seed, status, test metrics, time."""
    from taskmix.evaluate.compare import runs_table
    from taskmix.store import SHOWN_STATUSES, RunStore

    if status is not None and status not in SHOWN_STATUSES:
        raise ConfigError(f"--status {status!r}: choose from {', '.join(SHOWN_STATUSES)}")
    db = _store_path(out)
    with RunStore(db, readonly=True) as store:
        table = runs_table(store.runs())
    if status is not None:
        table = table[table.status == status]
    _print_frame(table, title=f"{len(table)} runs in {db}")


@app.command()
def report(out: OutOpt = Path("runs"),
           suite: Annotated[str | None, typer.Option(help="suite name, if the store holds several")] = None,
           groups: Annotated[str | None, typer.Option(help='grouping to count models for: "a,b;c"')] = None,
           to: Annotated[Path | None, typer.Option(help="folder to write the report to (e.g. when OUT is "
                                                       "read-only) [default: OUT/report]")] = None) -> None:
    """Write the HTML report (plots, tables, CSV/JSON) of a run store to OUT/report/index.html:
    STL vs MTL, how the groups were chosen, and the combination searches run into OUT."""
    from taskmix.group.groupers import grouper_from_record
    from taskmix.report.html import load_searches, load_transfers, write_report

    searches = load_searches(out, suite)
    comp, record = _comparison(out, suite, allow_empty=bool(searches))
    grouper = grouper_from_record(record)
    name = comp.suite_name or searches[0]["suite"]
    path = write_report(comp, to or out / "report", groups=_groups(groups) if groups else None, grouper=grouper,
                        searches=searches, transfers=load_transfers(out, name),
                        title=None if comp.records else f"taskmix report — {name}")
    console.print(f"report written to [bold]{path}[/]")


@app.command()
def demo(out: OutOpt = Path("runs/demo"),
         seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "1,2",
         model: Annotated[str, typer.Option(help="model name or folder")] = "minilm") -> None:
    """Run the whole pipeline on the synthetic clinical-style suite: PVI → groups → STL vs MTL for the
    PVI groups, all tasks together and random groups → HTML report."""
    from taskmix.demo import demo_config, run_demo

    config = demo_config(_seeds(seeds), str(out), model)
    comparison, path, grouper = run_demo(config)
    _print_frame(grouper.pvi_.summary_, title="V-information (mean PVI, bits) per task")
    console.print(grouper.describe())
    for name, part in comparison.groupings.items():
        _print_partition(part, name)
    _print_frame(comparison.printable(), title="demo: test metrics, mean ± 95% CI over seeds")
    _print_frame(comparison.printable_groupings(),
                 title="groupings: mean MTL − STL difference in the main metric (points), ± 95% CI over seeds")
    console.print(f"\nreport: [bold]{path}[/]  (open it in a browser; tables as CSV/JSON beside it)")


def _interruptible(command):
    """A command whose Ctrl-C (or SIGTERM) ends as :class:`Interrupted`: typer would turn a
    KeyboardInterrupt into a silent exit code; this one says what was kept."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as e:
            raise Interrupted(getattr(e, "message", "") or "nothing half-written is kept",
                              hint="run the same command again to carry on; finished runs are not run again",
                              exit_code=128 + (getattr(e, "signal", None) or signal.SIGINT)) from None
    return run


for _info in app.registered_commands:
    _info.callback = _interruptible(_info.callback)


def _on_sigterm(signum, frame) -> None:
    raise Stopped(signal=signum)


def _click_error(e: BaseException, name: str) -> bool:
    """Whether ``e`` is click's exception ``name``, from click itself or the copy typer bundles."""
    return any(c.__name__ == name for c in type(e).__mro__)


def _fail(message: str, hint: str | None, code: int, label: str = "error") -> None:
    err.print(f"[bold red]{label}:[/] {escape(message)}")
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}")
    sys.exit(code)


def main() -> None:
    """Entry point: run the app. Input errors and command-line mistakes become one message and
    exit code 2; Ctrl-C says what was kept and exits 130 (SIGTERM: 143)."""
    if hasattr(signal, "SIGTERM"):
        try:
            signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (e.g. called from a test runner's thread)
            pass
    try:
        code = app(standalone_mode=False)
    except TaskmixError as e:
        if _state["debug"]:
            raise
        label = "error" if not isinstance(e, Interrupted) else \
            "terminated (SIGTERM)" if e.exit_code == 128 + signal.SIGTERM else "interrupted"
        _fail(e.message, e.hint, e.exit_code, label)
    except Exception as e:  # click's (or typer's copy of click's) exceptions, and the file system's
        if _state["debug"]:
            raise
        if _click_error(e, "NoArgsIsHelpError"):  # `taskmix` alone, or a command group without one
            console.print(e.format_message(), markup=False, highlight=False)
            sys.exit(0)
        if _click_error(e, "ClickException"):  # a usage error: unknown option or command, bad value
            ctx = getattr(e, "ctx", None)
            command = ctx.command_path if ctx is not None else "taskmix"
            _fail(e.format_message().strip(),
                  f"`{command} --help` lists {'the commands' if command == 'taskmix' else 'its options'}", 2)
        if _click_error(e, "Abort"):
            _fail("interrupted", None, 130, "interrupted")
        if _click_error(e, "Exit"):
            sys.exit(e.exit_code)
        if isinstance(e, OSError):  # the file system refused something a check did not foresee
            where = f"{e.filename}: " if e.filename else ""
            _fail(f"{where}{e.strerror or e}", "run again with --debug to see where it happened", 2)
        raise
    if isinstance(code, int) and code:  # typer's way of reporting an interrupt outside a command
        if code == 130:
            _fail("interrupted", None, 130, "interrupted")
        sys.exit(code)


if __name__ == "__main__":
    main()
