"""The commands: each parses its flags into config objects (:mod:`taskmix.cli.options`), calls one
library function and prints what it returns (:mod:`taskmix.cli.output`)."""

from __future__ import annotations

import json
import logging
import os
import typing
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from taskmix import __version__
from taskmix.cli.options import (
    Adaptation,
    AddressOpt,
    ApiOpt,
    ConfigOpt,
    Criterion,
    DeviceOpt,
    EndpointOpt,
    ExecutorOpt,
    JsonOpt,
    Keep,
    KeyEnvOpt,
    LLMOpt,
    Looks,
    MarginOpt,
    MaxLenOpt,
    MaxStepsOpt,
    Measure,
    Method,
    Mode,
    ModelOpt,
    OutOpt,
    Partition,
    Proposal,
    PviSplit,
    Sampler,
    SeedsOpt,
    Setting,
    Stop,
    SuiteArg,
    Surrogate,
    TasksOpt,
    Test,
    TrainerKind,
    WorkersOpt,
    alias,
    config_file,
    configure,
    executor_from,
    llm_config,
    load_suite,
    model_config,
    parse_ints,
    parse_names,
    parse_seeds,
    renamed,
    value_of,
    with_default,
)
from taskmix.cli.output import Output, console, show_partition
from taskmix.config import (
    AdviseConfig,
    GroupConfig,
    LLMConfig,
    PVIConfig,
    RunConfig,
    SearchConfig,
    SelectConfig,
    TrainConfig,
    TransferConfig,
)
from taskmix.errors import ConfigError

app = typer.Typer(
    name="taskmix",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    help="Which of my NLP tasks should I train together, and will it help? taskmix trains "
    "single-task "
    "(STL) and multi-task (MTL) models on your tasks and compares them with confidence intervals.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"taskmix {__version__}")
        raise typer.Exit()


class _LogFormat(logging.Formatter):
    """Log lines as a person reads them: 'warning: …', like the 'error: …' of an error."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "levelname": record.levelname.lower()})
        return super().format(record)


@app.callback()
def _main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    _state["debug"] = debug
    detail = verbose or debug
    handler = logging.StreamHandler()
    handler.setFormatter(
        _LogFormat(
            "%(levelname)s %(name)s: %(message)s" if detail else "%(levelname)s: %(message)s"
        )
    )
    logging.basicConfig(level=logging.INFO if detail else logging.WARNING, handlers=[handler])
    if ctx.invoked_subcommand in _COMPUTING:  # before torch is imported, so that torch sees them
        from taskmix.execute import choose_threads, quiet_waiting

        quiet_waiting()
        os.environ.setdefault("OMP_NUM_THREADS", str(choose_threads()))


#: the commands that run models (the others only read files and the run store)
_COMPUTING = {"pvi", "group", "train", "advise", "transfer", "select", "search", "fewshot", "demo"}


@app.command()
def tasks(suite: SuiteArg, json_: JsonOpt = False) -> None:
    """Validate a suite and describe each task: sizes, label distribution, lengths, made splits,
    examples also found in train."""
    import pandas as pd

    s, out = load_suite(suite), Output(json_)
    out.table(
        "tasks", pd.DataFrame([t.describe() for t in s]), title=f"suite {s.name}: {len(s)} tasks"
    )
    out.done()


@app.command()
def pvi(
    suite: SuiteArg,
    mode: Annotated[
        Mode | None,
        typer.Option(
            help=with_default(
                "probe: linear on frozen features (seconds) | finetune: "  # type: ignore[valid-type]
                "the paper's fine-tuned encoder",
                PVIConfig,
                "mode",
            )
        ),
    ] = None,
    split: Annotated[
        PviSplit | None,
        typer.Option(
            help=with_default(
                "train: out-of-fold PVI of every training instance | "  # type: ignore[valid-type]
                "dev | test: PVI of that split",
                PVIConfig,
                "split",
            )
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(help=with_default("folds of the cross-fitting", PVIConfig, "folds")),
    ] = None,
    bins: Annotated[
        int | None, typer.Option(help="cut regression labels into N quantile bins")
    ] = None,
    tasks: TasksOpt = None,
    epochs: Annotated[float | None, typer.Option(help="finetune: epochs \\[default: 10]")] = None,
    lr: Annotated[
        float | None, typer.Option(help="finetune: learning rate \\[default: 2e-5]")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="finetune: batch size \\[default: 32]")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help=with_default("seed of the folds and of fine-tuning", PVIConfig, "seed")),
    ] = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    out: OutOpt = Path("runs"),
    force: Annotated[
        bool, typer.Option(help="measure again even if this PVI was measured before")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Measure pointwise V-usable information (PVI) of every instance, and each task's
    V-information.

    PVI(x → y) = −log2 g∅(y) + log2 g′(y|x): how many bits the input gives a model about its label,
    measured on instances the models did not train on. Writes OUT/pvi/<id>/pvi.csv (per instance)
    and summary.csv (per task); the same command later reuses them.

    Example:

        taskmix pvi suite.yaml --mode probe
    """
    from taskmix.relate.pvi import measure

    s, o = load_suite(suite, tasks), Output(json_)
    # fmt: off
    cfg = configure(PVIConfig, config_file(PVIConfig, config), {
        "mode": mode, "split": split, "folds": folds, "bins": bins, "seed": seed,
        "finetune.epochs": epochs, "finetune.lr": lr, "finetune.batch_size": batch_size})
    # fmt: on
    result, folder = measure(
        s, cfg, model_config(s, model, max_length, device), out, show_progress=True, force=force
    )
    o.table(
        "summary",
        result.summary_,
        title=f"{s.name}: V-information (mean PVI, bits) per task, {cfg.mode} mode",
    )
    o.value("pvi_csv", str(folder / "pvi.csv"))
    o.say(
        f"per-instance PVI: [bold]{escape(str(folder / 'pvi.csv'))}[/]  (columns: task, id, label, "
        "pvi, "
        "h_y = −log2 g∅(y), h_y_x = −log2 g′(y|x), correct, fold)"
    )
    o.done()


@app.command()
def group(
    suite: SuiteArg,
    method: Annotated[
        Method, typer.Option(help="how tasks are grouped: pvi | textemb | surrogate | all | random")  # type: ignore[valid-type]
    ] = Method.pvi,  # type: ignore[attr-defined]
    mode: Annotated[
        Mode | None, typer.Option(help="pvi: PVI model family \\[default: probe]")
    ] = None,  # type: ignore[valid-type]
    alpha: Annotated[
        float | None,
        typer.Option(
            help="significance level of the PVI tests \\[default: 0.05 for tost, 0.01 for pvalue]"
        ),
    ] = None,
    criterion: Annotated[
        Criterion | None,
        typer.Option(
            help=with_default(
                "tost (similar when an equivalence test shows PVI means within "  # type: ignore[valid-type]
                "--max-effect) | pvalue (the paper: similar when p >= alpha) | effect (similar "
                "when the observed effect is small)",
                GroupConfig,
                "criterion",
            )
        ),
    ] = None,
    test: Annotated[
        Test | None,
        typer.Option(
            help=with_default(
                "welch | student (as in the paper)",
                GroupConfig,  # type: ignore[valid-type]
                "test",
            )
        ),
    ] = None,
    max_effect: Annotated[
        float | None,
        typer.Option(
            help=with_default(
                "tost: equivalence margin in Cohen's d; effect: largest d of a similar group",
                GroupConfig,
                "max_effect",
            )
        ),
    ] = None,
    subsample: Annotated[
        str | None,
        typer.Option(
            help="test equal-size seeded subsamples of the PVI values: "
            "N, or 'min' (the smallest task's size)"
        ),
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option(help=with_default("largest group considered", GroupConfig, "max_size")),
    ] = None,
    search: Annotated[
        Partition | None,
        typer.Option(
            help=with_default(
                "how the partition is chosen",
                GroupConfig,  # type: ignore[valid-type]
                "search",
            )
        ),
    ] = None,
    sizes: Annotated[
        str | None, typer.Option(help="random/textemb: group sizes, e.g. 2,2,3")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=with_default("seed of random groups, subsets and subsamples", GroupConfig, "seed")
        ),
    ] = None,
    subsets: Annotated[
        int | None,
        typer.Option(
            help="surrogate: random task subsets trained together \\[default: 3 per task]"
        ),
    ] = None,
    subset_size: Annotated[
        int | None, typer.Option(help="surrogate: tasks per subset \\[default: half]")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="surrogate: training steps per subset \\[default: 150]")
    ] = None,
    top: Annotated[
        int, typer.Option(help="rows of the candidate table to print (all are saved)")
    ] = 20,
    pvi_path: Annotated[
        Path | None,
        typer.Option(
            "--pvi", help="reuse a PVI table written by `taskmix pvi` (a pvi.csv or its folder)"
        ),
    ] = None,
    tasks: TasksOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    out: OutOpt = Path("runs"),
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Recommend which tasks to train together, with the evidence for every candidate group.

    pvi: tasks whose PVI distributions do not differ significantly (t-test for pairs, ANOVA for
    larger groups) are grouped; the most different pairs are listed as a negative control.
    textemb: tasks with the most similar mean input embeddings. surrogate: trains random subsets of
    tasks together (runs in the run store), fits a ridge regression per task on which others were
    present, and groups tasks whose effects on each other are positive. all / random: baselines.
    Writes OUT/groups/<suite>-<method>-<settings hash>.csv.

    Example:

        taskmix group suite.yaml --method pvi --alpha 0.01
    """
    from taskmix.experiment.groupers import fit_grouper, save_grouper
    from taskmix.relate.pvi import PVI

    s, o = load_suite(suite, tasks), Output(json_)
    # fmt: off
    sub = subsample if subsample in (None, "min") else parse_ints(subsample, "--subsample")[0]
    cfg = configure(GroupConfig, config_file(GroupConfig, config), {
        "method": method, "alpha": alpha, "criterion": criterion, "test": test,
        "max_effect": max_effect, "subsample": sub, "max_size": max_size, "search": search,
        "sizes": parse_ints(sizes, "--sizes"), "seed": seed, "subsets": subsets,
        "subset_size": subset_size, "pvi.mode": mode, "train.max_steps": max_steps})
    # fmt: on
    grouper = fit_grouper(
        s,
        cfg,
        pvi=PVI.load(pvi_path) if pvi_path else None,
        model=model_config(s, model, max_length, device),
        out=out,
        executor=executor_from(executor, workers, address),
        show_progress=True,
    )
    _show_grouper(o, grouper, save_grouper(grouper, out, s.name), top, suite)


def _show_grouper(o: Output, grouper, path: Path, top: int, suite: str) -> None:
    from taskmix.group.groupers import PVIGrouper, rank_candidates

    if isinstance(grouper, PVIGrouper):
        o.table(
            "pvi_summary", grouper.pvi_.summary_, title="V-information (mean PVI, bits) per task"
        )
    frame = rank_candidates(grouper.to_frame())
    shown = f"{min(top, len(frame))} of {len(frame)}; all in {path}"
    o.table("candidates", frame.head(top), title=f"candidate groups ({shown})")
    o.say(grouper.describe(), markup=False)
    show_partition(o, "recommended", grouper.groups_, "recommended")
    if grouper.config_.method == "surrogate":
        from taskmix.report.plots import relevance_heatmap

        r = grouper.relevance_
        title = "symmetrised surrogate relevance (θ + θᵀ)/2: > 0, the two help each other"
        o.table(
            "relevance",
            r.round(4).astype(object).where(r.notna(), "-").reset_index(names="task"),
            title=title,
        )
        o.say(f"heatmap: {relevance_heatmap(r, path.with_suffix('.png'))}", markup=False)
    if isinstance(grouper, PVIGrouper):
        show_partition(o, "most_different", grouper.different_, "most_different (negative control)")
    method = grouper.config_.method
    o.say(
        f"train and compare them: taskmix train {suite} --groups auto --method {method}",
        markup=False,
    )
    o.done()


@app.command()
def train(
    suite: SuiteArg,
    groups: Annotated[
        str,
        typer.Option(
            help='tasks trained together: "a,b;c,d" (; between groups), "all" (one '
            'group), or "auto": the groups --method recommends, and baselines'
        ),
    ] = "all",
    adaptation: Annotated[
        Adaptation | None,
        typer.Option(
            help=with_default(
                "what trains: full | bitfit | lora | ia3 | ip "  # type: ignore[valid-type]
                "(Inspirational Pointer)",
                TrainConfig,
                "adaptation",
            )
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="with --groups auto: the grouping method (pvi | textemb | "
            "surrogate) \\[default: pvi]"
        ),
    ] = None,
    baselines: Annotated[
        str,
        typer.Option(
            help="with --groups auto: baseline groupings trained too (all, random, "
            "textemb, most_different)"
        ),
    ] = "all,random,textemb,most_different",
    mode: Annotated[
        Mode | None, typer.Option(help="pvi: PVI model family \\[default: probe]")
    ] = None,  # type: ignore[valid-type]
    alpha: Annotated[
        float | None,
        typer.Option(help="pvi: significance level \\[default: 0.05 for tost, 0.01 for pvalue]"),
    ] = None,
    criterion: Annotated[
        Criterion | None, typer.Option(help="pvi: tost | pvalue | effect \\[default: tost]")
    ] = None,  # type: ignore[valid-type]
    pvi_path: Annotated[
        Path | None, typer.Option("--pvi", help="reuse a PVI table (a pvi.csv or its folder)")
    ] = None,
    seeds: SeedsOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="run config YAML (keys: model, train, group, seeds, out, "
            "execution); flags override it"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder of the run store \\[default: runs]")
    ] = None,
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    epochs: Annotated[
        float | None,
        typer.Option(help=with_default("passes over the training data", TrainConfig, "epochs")),
    ] = None,
    max_steps: MaxStepsOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help=with_default("training batch size", TrainConfig, "batch_size")),
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help=with_default("learning rate", TrainConfig, "lr"))
    ] = None,
    sampler: Annotated[
        Sampler | None,
        typer.Option(
            help=with_default(
                "how tasks are drawn into batches",
                TrainConfig,  # type: ignore[valid-type]
                "sampler",
            )
        ),
    ] = None,
    stl: Annotated[bool, typer.Option(help="also train a single-task model per task")] = True,
    report_to: Annotated[
        str | None,
        typer.Option(
            help="experiment trackers every run reports to: mlflow, tensorboard, wandb "
            "(comma-separated; each an optional install) \\[default: none]"
        ),
    ] = None,
    keep: Annotated[
        Keep | None,
        typer.Option(
            help="save the trained models (in each run's model/ folder, for `taskmix predict`): "
            "best = those of the best grouping (the others are deleted), all = every one "
            "\\[default: none]"
        ),
    ] = None,
    margin: MarginOpt = None,
    descriptions: Annotated[
        bool | None,
        typer.Option(help="ip: give the form module each task's description \\[default: yes]"),
    ] = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train STL models for every task named and an MTL model per group, over seeds; print the
    comparison.

    Runs that already finished (same data, model, settings and seed) are skipped, so the same
    command resumes an interrupted grid.

    Examples:

        taskmix train suite.yaml --groups "rte,cb;mrpc,stsb" --seeds 1,2,3
        taskmix train suite.yaml --groups auto --method pvi     # PVI groups vs all, random, ...
        taskmix train suite.yaml --adaptation ip --max-steps 600   # Inspirational Pointer
    """
    from taskmix.data.suite import parse_groups
    from taskmix.evaluate.proof import MultiTaskTrainer, prove_grouping
    from taskmix.relate.pvi import PVI

    method, adaptation = _method_or_adaptation(method, adaptation)
    s, o = load_suite(suite, tasks), Output(json_)
    base = config_file(RunConfig, config, RunConfig())
    # fmt: off
    mc = model_config(s, model, max_length, device, base=base.model)
    run = configure(RunConfig, base, {
        "train.epochs": epochs, "train.max_steps": max_steps, "train.batch_size": batch_size,
        "train.lr": lr, "train.sampler": sampler, "train.adaptation": adaptation,
        "train.ip_descriptions": descriptions, "seeds": parse_seeds(seeds),
        "train.save_model": True if keep else None, "train.report_to": parse_names(report_to),
        "margin": margin, "out": None if out is None else str(out), "group.method": method,
        "group.alpha": alpha, "group.criterion": criterion, "group.pvi.mode": mode,
        "model": mc.model_dump()})
    # fmt: on
    run_executor = executor_from(executor, workers, address, base=run.execution)
    if groups == "auto":
        names = [_baseline(b) for b in baselines.split(",") if b.strip()]
        grouper, groupings, comparison = prove_grouping(
            s, run, names, pvi=PVI.load(pvi_path) if pvi_path else None, executor=run_executor
        )
        o.say(grouper.describe(), markup=False)
        for name, part in groupings.items():
            show_partition(o, f"grouping_{name}", part, name)
        group_list = groupings[run.group.method]
    else:
        group_list = [s.names] if groups == "all" else parse_groups(groups, s)
        trainer = MultiTaskTrainer(
            run.train, run.model, seeds=run.seeds, out=run.out, executor=run_executor
        )
        comparison = trainer.compare(
            s, {"all" if groups == "all" else "given": group_list}, run.margin
        )
    _show_training(o, comparison, group_list, run, keep)


@app.command()
def advise(
    suite: SuiteArg,
    budget: Annotated[
        str | None,
        typer.Option(
            help="what checking the recommendation may spend: training runs (e.g. 36) or wall "
            "time of the whole command (30m, 2h: a check starts only if it is predicted to end "
            "in time); 0: no checking \\[default: 36 runs]"
        ),
    ] = None,
    signals: Annotated[
        str | None,
        typer.Option(
            help="affinity signals combined, comma-separated: textemb, pvi, transfer (probe; "
            "under a time budget, the seeds that fit 15% of it: advise.transfer_share), tag, "
            "gradient_cosine \\[default: all five]"
        ),
    ] = None,
    max_size: Annotated[int | None, typer.Option(help="largest group \\[default: 3]")] = None,
    tag_steps: Annotated[
        int | None,
        typer.Option(
            help="steps of the multi-task run that measures TAG affinity and gradient cosine; "
            "under a time budget it also stops after a quarter of it (advise.tag_share) "
            "\\[default: 300; the whole training budget: advise.tag_steps: null in a config]"
        ),
    ] = None,
    looks: Annotated[
        Looks | None,
        typer.Option(
            help=with_default(
                "a verdict is judged again after every seed a group gets: spend (α = 0.05 "
                "spent over the looks, so at most 5% of groups with no true difference are "
                "called helps or hurts) | each (α = 0.05 at every look: more verdicts, ≈14% "
                "such errors)",
                AdviseConfig,
                "looks",
            )
        ),
    ] = None,
    margin: MarginOpt = None,
    seeds: SeedsOpt = None,
    config: ConfigOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder of the run store \\[default: runs]")
    ] = None,
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    epochs: Annotated[
        float | None,
        typer.Option(
            help=with_default("most passes over the training data", TrainConfig, "epochs")
        ),
    ] = None,
    max_steps: MaxStepsOpt = None,
    tasks: TasksOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Recommend which tasks to train together, and check it by training within a budget.

    The cheap signals (TextEmb, PVI, probe transfer, and TAG lookahead affinity and gradient
    cosine from one multi-task run of all tasks) are standardised and combined by the fitted
    advisor into one predicted gain per pair (points; fitted on measured pair gains of 8 real
    tasks); the partition that maximises it (TAG's objective) is proposed; the budget then
    trains the proposed groups and their tasks' STL models, then the signals' other candidates
    one by one, the least certain prediction first — after each, a verdict a few more seeds
    could settle gets them first, and a group shown to help is grown by the task the signals
    put with it most, checked next — only where a verdict could change the recommendation,
    until none could or the budget is spent. Every training is a run in the store (rerun the
    command to resume).

    Examples:

        taskmix advise demo --budget 36
        taskmix advise suite.yaml --budget 30m --seeds 1,2
    """
    from taskmix.evaluate.advise import Advisor

    s, o = load_suite(suite, tasks), Output(json_)
    base = config_file(RunConfig, config, RunConfig())
    runs, minutes = _budget(budget)
    # fmt: off
    mc = model_config(s, model, max_length, None, base=base.model)
    run = configure(RunConfig, base, {
        "train.epochs": epochs, "train.max_steps": max_steps, "seeds": parse_seeds(seeds),
        "margin": margin, "out": None if out is None else str(out), "model": mc.model_dump(),
        "advise.signals": parse_names(signals), "advise.max_size": max_size,
        "advise.tag_steps": tag_steps, "advise.budget_runs": runs,
        "advise.budget_minutes": minutes, "advise.looks": value_of(looks)})
    # fmt: on
    advisor = Advisor(run, executor=executor_from(executor, workers, address, base=run.execution))
    advice = advisor.advise(s)
    o.table(
        "signals",
        advice.pairs(),
        title="pair affinity of each signal, above its neutral value (higher: better together)",
    )
    for a in [*advice.signals, advice.combined]:
        o.say(f"  {a.name}: {a.description}", markup=False)
    if advice.comparison is not None:
        _comparison_tables(o, advice.comparison, "the checks: test metrics, mean ± 95% CI")
    c = advisor.config
    limits = [f"{c.budget_runs} runs"] if c.budget_runs != UNLIMITED_RUNS else []
    limits += [f"{c.budget_minutes:g} min"] if c.budget_minutes else []
    o.table(
        "advice",
        _printable_advice(advice.groups),
        title=f"recommended groups (budget: {', '.join(limits) or 'none'}; used {advice.runs} "
        f"runs, {advice.seconds / 60:.1f} min)",
    )
    for note in advice.notes:
        o.say(note, markup=False)
    show_partition(o, "proposed", advice.proposed, "predicted by the signals")
    show_partition(o, "recommended", advice.recommended, "recommended after the checks")
    path = advice.save(Path(run.out) / "advice" / s.name)
    o.say(f"advice saved to [bold]{escape(str(path))}[/]; runs in {escape(run.out)}/taskmix.db")
    o.done()


UNLIMITED_RUNS = 10**9


def _budget(text: str | None) -> tuple[int | None, float | None]:
    """``--budget 24`` (runs) or ``30m`` / ``2h`` (wall time, runs then unlimited)."""
    if text is None:
        return None, None
    t = text.strip().lower()
    try:
        if t.endswith(("m", "h")):  # a time budget: as many runs as fit in it
            return UNLIMITED_RUNS, float(t[:-1]) * (60 if t.endswith("h") else 1)
        return int(t), None
    except ValueError:
        raise ConfigError(
            f"--budget {text!r} is neither a number of runs nor a time",
            hint="e.g. --budget 24 (runs) or --budget 30m / 2h",
        ) from None


def _printable_advice(groups) -> list[dict]:
    def pts(m, h):
        if m != m:  # NaN
            return "-"
        return f"{m * 100:+.2f}" + ("" if h != h else f" ± {h * 100:.2f}")

    return [
        {
            "group": r.group,
            "proposed": "yes" if r.proposed else ("grown" if r.grown_from else ""),
            "signals for": r.signals_for,
            "predicted": f"{r.predicted:+.2f}",
            "seeds": r.seeds,
            "measured Δ (points)": pts(r.delta, r.delta_ci),
            "verdict": r.verdict,
            "expected": f"{r.expected:+.2f}",
            "advice": r.advice,
            "recommended": "yes" if r.recommended else "",
        }
        for r in groups.itertuples()
    ]


def _method_or_adaptation(method: str | None, adaptation):
    """``train --method ip`` (the old spelling) means ``--adaptation ip``."""
    if method not in typing.get_args(TrainConfig.model_fields["adaptation"].annotation):
        return method, adaptation
    if adaptation not in (None, method):
        raise ConfigError(
            f"--method {method} and --adaptation {adaptation.value} disagree",
            hint="give one of them",
        )
    renamed(f"--method {method}", f"--adaptation {method}")
    return None, method


def _show_training(o: Output, comparison, group_list, run: RunConfig, keep=None) -> None:
    from taskmix.evaluate.compare import keep_models

    title = f"{comparison.suite_name}: test metrics, mean ± 95% CI over {len(run.seeds)} seeds"
    _comparison_tables(o, comparison, title)
    o.table(
        "strategies", comparison.strategies(group_list), title="models and trainable parameters"
    )
    if keep:
        kept = keep_models(comparison, keep.value)
        o.table(
            "models",
            kept,
            title="models kept (use one with `taskmix predict MODEL INPUT --task TASK`)",
            columns=["grouping", "setting", "seed", "model"],
        )
    store = escape(str(Path(run.out) / "taskmix.db"))
    report = f"`taskmix report --out {escape(run.out)}`"
    o.say(f"runs stored in [bold]{store}[/]; {report} writes the HTML report")
    o.done()


def _baseline(name: str) -> str:
    name = name.strip()
    if name == "different":
        renamed("--baselines different", "most_different")
        return "most_different"
    return name


def _comparison_tables(o: Output, comparison, title: str) -> None:
    looks = comparison.sequential  # seeds added until settled: α spent over the looks
    spent = " (Δ vs STL: ± at the level of its verdict's look, as the note says)" if looks else ""
    o.table("comparison", comparison.printable(), title=title + spent)
    if comparison.groupings:
        o.table(
            "groupings",
            comparison.printable_groupings(),
            title="groupings: mean MTL − STL difference in the main metric (points), ± "
            + (
                "CI over seeds (grouped tasks: at the level of the verdict's look; all: 95%)"
                if looks
                else "95% CI over seeds"
            ),
        )


@app.command()
def transfer(
    suite: SuiteArg,
    setting: Annotated[
        Setting | None,
        typer.Option(
            help=with_default(
                "probe (frozen features + MLP head, seconds per pair) "  # type: ignore[valid-type]
                "| finetune | bitfit | lora",
                TransferConfig,
                "setting",
            )
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help=with_default("training examples of each target", TransferConfig, "n")
        ),
    ] = None,
    seeds: SeedsOpt = None,
    tasks: TasksOpt = None,
    targets: Annotated[
        str | None, typer.Option(help="only these tasks as targets \\[default: every task]")
    ] = None,
    sources: Annotated[
        str | None, typer.Option(help="only these tasks as sources \\[default: every task]")
    ] = None,
    config: ConfigOpt = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    top: Annotated[
        int, typer.Option(help="graph: arrows to each target from its best N sources")
    ] = 2,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Measure pairwise transfer: for each ordered pair (s, t), train on s then on N examples of t,
    against t alone, over seeds.

    Writes the matrix (CSV: target, source, setting, pc, pm, score, ...), a heatmap and a graph
    under OUT/transfer/, and prints the paper's commutativity and transitivity analyses.

    Every pair and seed is one run in the run store: a stopped grid resumes where it stopped.

    Example:

        taskmix transfer suite.yaml --setting probe --seeds 1,2,3
    """
    from taskmix.experiment.transfer import PairwiseTransfer
    from taskmix.relate.matrix import matrix_path
    from taskmix.report.plots import transfer_graph, transfer_heatmap

    s, o = load_suite(suite, tasks), Output(json_)
    # fmt: off
    cfg = configure(TransferConfig, config_file(TransferConfig, config), {
        "setting": setting, "n": n, "seeds": parse_seeds(seeds)})
    # fmt: on
    pt = PairwiseTransfer(
        cfg,
        targets=parse_names(targets),
        sources=parse_names(sources),
        model=model_config(s, model, max_length, device),
        out=out,
        executor=executor_from(executor, workers, address),
        show_progress=True,
    ).fit(s)
    path = pt.matrix_.save(matrix_path(out, s.name, cfg.setting))
    scores = pt.matrix_.scores()
    transfer_heatmap(
        scores, path.with_suffix(".heatmap.png"), title=f"{s.name}: transfer scores ({cfg.setting})"
    )
    transfer_graph(scores, path.with_suffix(".graph.png"), top=top)
    _show_transfer(o, pt, cfg, path)


def _show_transfer(o: Output, pt, cfg: TransferConfig, path: Path) -> None:
    scores = pt.matrix_.scores()
    n_text = f"n = {cfg.n}"
    if set(pt.sizes_.values()) != {cfg.n}:  # some target has fewer training examples than --n
        used = ", ".join(f"{t} {k}" for t, k in pt.sizes_.items())
        n_text = f"n = {used} (a target's training examples, at most --n)"
    shown = scores.astype(object).where(scores.notna(), "-").reset_index(names="target \\ source")
    o.table(
        "scores",
        shown,
        title=f"TaskWeb scores 0.5·PC + 0.5·(0.2·PM − 0.1), {cfg.setting}, {n_text}, "
        f"{len(cfg.seeds)} seeds, scored on {cfg.split} (> 0: the source helps)",
    )
    for line in pt.matrix_.analyses():
        o.say(line, markup=False)
    o.value("matrix", str(path))
    o.say(f"matrix: [bold]{escape(str(path))}[/] (heatmap and graph beside it)")
    o.done()


@app.command()
def select(
    suite: Annotated[
        str | None, typer.Argument(help="suite YAML (or 'demo') of the candidate source tasks")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="the new target: a data file of its examples (~32 are enough), "
            "or a task of the suite"
        ),
    ] = None,
    top: Annotated[
        int | None, typer.Option(help=with_default("how many sources to select", SelectConfig, "k"))
    ] = None,
    matrix: Annotated[
        Path | None,
        typer.Option(
            help="transfer matrix CSV/Parquet (ours, or the published TaskWeb "
            "table) \\[default: the one `taskmix transfer` saved]"
        ),
    ] = None,
    setting: Annotated[
        str | None, typer.Option(help="setting of the matrix to use, e.g. probe or finetune/t5l")
    ] = None,
    lam: Annotated[
        float | None,
        typer.Option(
            help=with_default("weight of the pivot estimate against F", SelectConfig, "lam")
        ),
    ] = None,
    text: Annotated[
        str, typer.Option(help="target file: its text field(s), comma-separated")
    ] = "text",
    label: Annotated[str, typer.Option(help="target file: its label field")] = "label",
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="leave-one-out NDCG and Regret@k of F and TaskShop "
            "over every target of the matrix",
        ),
    ] = False,
    similarity: Annotated[
        Path | None,
        typer.Option(
            help="--evaluate: F table (target, source, score) instead of computing F from the suite"
        ),
    ] = None,
    metric: Annotated[
        Path | None,
        typer.Option(
            help="--evaluate: absolute target metric after each transfer "
            "(target, source, metric) for Regret@k"
        ),
    ] = None,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="prove the selection: train the target with the top "
            "sources, random ones, the bottom ones and all, and alone",
        ),
    ] = False,
    per_source: Annotated[
        int | None,
        typer.Option(
            help=with_default("--train: examples from each source", SelectConfig, "per_source")
        ),
    ] = None,
    seeds: SeedsOpt = None,
    max_steps: MaxStepsOpt = None,
    measure: Annotated[
        Measure | None,
        typer.Option(
            help=with_default(
                "F: roe (sentence embeddings) | llm (ask --llm or "  # type: ignore[valid-type]
                "--endpoint whether example pairs come from similar "
                "tasks; answers cached in the run store)",
                SelectConfig,
                "similarity",
            )
        ),
    ] = None,
    llm: LLMOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    api_key_env: KeyEnvOpt = None,
    config: ConfigOpt = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    sources: Annotated[
        str | None, typer.Option(hidden=True, help="old spelling of the SUITE argument")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", hidden=True, help="old spelling of --top")] = None,
    json_: JsonOpt = False,
) -> None:
    """Rank source tasks for a new target, prove the ranking by training, or evaluate it.

    TaskShop: pivots through the transfer matrix + Retrieval-of-Experts similarity F, which needs
    only the target's examples.

    Examples:

        taskmix select suite.yaml --target new_task.jsonl --top 5
        taskmix select suite.yaml --target rte --train --seeds 1,2,3
        taskmix select --evaluate --matrix taskweb.csv --setting finetune/t5l --similarity roe.csv
        taskmix select suite.yaml --target new_task.jsonl --measure llm --endpoint http://127.0.0.1:8000/v1
    """
    from taskmix.evaluate.selection import evaluate_ranking, rank_for_target, train_selection

    suite = alias(sources, suite, "--sources SUITE", "the first argument: taskmix select SUITE")
    top = alias(k, top, "--k", "--top")
    o = Output(json_)
    s = load_suite(suite) if suite else None
    asked = llm_config(llm, endpoint, api, api_key_env) if value_of(measure) == "llm" else None
    values = {"k": top, "lam": lam, "per_source": per_source, "similarity": measure}
    cfg = configure(SelectConfig, config_file(SelectConfig, config), values)
    cfg = cfg.model_copy(update={"llm": asked}) if asked else cfg
    mc = model_config(s, model, max_length, device) if s is not None else None
    if evaluate:
        kw = {"matrix": matrix, "setting": setting, "metric": metric, "similarity": similarity}
        return _show_leave_one_out(o, evaluate_ranking(cfg, s, model=mc, out=out, **kw), cfg)
    if s is None or target is None:
        raise ConfigError(
            "select needs a suite and --target (or --evaluate)",
            hint="taskmix select suite.yaml --target examples.jsonl",
        )
    t, ranking, found = rank_for_target(
        s, target, cfg, matrix=matrix, setting=setting, text=text, label=label, model=mc, out=out
    )
    _show_ranking(o, t.name, ranking, cfg, found)
    if train:
        values = {"train.max_steps": max_steps, "seeds": parse_seeds(seeds), "out": str(out)}
        ex = executor_from(executor, workers, address)
        run = configure(RunConfig, None, values)
        _, table = train_selection(s, t.name, list(ranking.index), cfg, run, model=mc, executor=ex)
        title = f"{t.name} trained with each selection of sources: test metric and difference from "
        o.table("trained", table, title=title + "the target alone, ± 95% CI over seeds")
    o.done()


def _show_leave_one_out(o: Output, result, cfg: SelectConfig) -> None:
    o.table(
        "leave_one_out",
        result.reset_index(),
        title=f"leave-one-out: NDCG (×100, ↑) and "
        f"Regret@{cfg.k} (%, ↓) of F alone and of TaskShop (λ = {cfg.lam})",
    )
    means = [
        f"{c} {result[c].mean():.2f}" for c in result.columns if c.startswith(("ndcg", "regret"))
    ]
    o.say("mean: " + ", ".join(means), markup=False)
    o.done()


def _show_ranking(o: Output, target: str, ranking, cfg: SelectConfig, found: bool) -> None:
    if not found:
        o.say(
            "no transfer matrix (give --matrix or run `taskmix transfer`): ranking by F alone",
            markup=False,
        )
    shown = ranking.reset_index()
    shown.insert(0, "rank", range(1, len(shown) + 1))
    o.table(
        "ranking",
        shown,
        title=f"sources for {target}: TaskShop score (λ = {cfg.lam}) = "
        "λ·pivot + (1 − λ)·F; higher is more promising",
    )
    chosen = list(ranking.index[: cfg.k])
    o.value("selected", chosen)
    asked = f" of {cfg.k} asked" if len(chosen) < cfg.k else ""
    o.say(f"[bold]selected (top {len(chosen)}{asked}):[/] {escape(', '.join(chosen))}")


@app.command()
def search(
    suite: SuiteArg,
    target: Annotated[
        str, typer.Option(help="the task whose score the auxiliary data sets should raise")
    ],
    tasks: Annotated[
        str | None,
        typer.Option(
            help="the auxiliary data sets considered, comma-separated \\[default: every other task]"
        ),
    ] = None,
    surrogate: Annotated[
        Surrogate | None,
        typer.Option(
            help=with_default(
                "gp | bayes | linear | mlp (the paper's)",  # type: ignore[valid-type]
                SearchConfig,
                "surrogate",
            )
        ),
    ] = None,
    proposal: Annotated[
        Proposal | None,
        typer.Option(
            help=with_default(
                "ei | thompson | greedy (the paper's) | random",  # type: ignore[valid-type]
                SearchConfig,
                "proposal",
            )
        ),
    ] = None,
    stop: Annotated[
        Stop | None,
        typer.Option(
            help=with_default(
                "budget | repeat (the paper's: stop when the predicted best "  # type: ignore[valid-type]
                "was already trained) | ei",
                SearchConfig,
                "stop",
            )
        ),
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option(help=with_default("most combinations trained", SearchConfig, "budget")),
    ] = None,
    initial: Annotated[
        int | None,
        typer.Option(help=with_default("size of the initial design", SearchConfig, "initial")),
    ] = None,
    q: Annotated[
        int | None,
        typer.Option(
            "--q", help=with_default("combinations proposed per round", SearchConfig, "q")
        ),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="training seeds per combination \\[default: 1]")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="training steps of one trial \\[default: 150]")
    ] = None,
    trainer: Annotated[
        TrainerKind | None,
        typer.Option(
            help=with_default(
                "encoder (an encoder with task heads) | generative "  # type: ignore[valid-type]
                "(a causal or seq2seq language model given by --model, "
                "trained to answer the tasks written as prompts)",
                SearchConfig,
                "trainer",
            )
        ),
    ] = None,
    config: ConfigOpt = None,
    out: OutOpt = Path("runs"),
    model: ModelOpt = None,
    max_length: MaxLenOpt = None,
    device: DeviceOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    allowed: Annotated[
        Path | None,
        typer.Option(
            help="train only the combinations listed in this file, one a line (a+b+c; a blank "
            "line or '-' is the target alone), e.g. the rows of a table of past results"
        ),
    ] = None,
    candidates: Annotated[
        str | None, typer.Option(hidden=True, help="old spelling of --tasks")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Find the auxiliary data sets that most help TARGET without training all 2^n combinations.

    Trains an initial design (the target alone, all data sets, combinations covering each), fits a
    surrogate of (inclusion vector -> target dev score), trains the combination it proposes, refits,
    until the budget. Prints each trial as it finishes and the best so far; writes the trials (CSV),
    a summary (JSON) and the best-so-far curve (PNG) under OUT/search/.

    Every trial is a run in the run store: a stopped search re-run with the same command carries on
    and never trains a combination twice.

    Examples:

        taskmix search suite.yaml --target rte --surrogate gp --budget 20
        taskmix search suite.yaml --target ner --trainer generative --model t5-base --max-steps 500
    """
    from taskmix.experiment.trials import save_search, search_combinations, search_summary
    from taskmix.report.plots import search_curve

    tasks = alias(candidates, tasks, "--candidates", "--tasks")
    s, o = load_suite(suite), Output(json_)
    # fmt: off
    cfg = configure(SearchConfig, config_file(SearchConfig, config), {
        "surrogate": surrogate, "proposal": proposal, "stop": stop, "budget": budget,
        "initial": initial, "q": q, "trainer": trainer, "seeds": parse_seeds(seeds),
        "train.max_steps": max_steps})
    # fmt: on
    o.say(
        f"[bold]combination search[/] for {escape(target)}: {cfg.surrogate} surrogate, "
        f"{cfg.proposal} proposals, budget {cfg.budget}; "
        f"score = {escape(target)}'s dev {s[target].main_metric}"
    )
    o.say(
        f"{'trial':>5}  {'phase':6}  {'score':>7}  {'pred.':>7}  {'best':>7}  datasets",
        markup=False,
    )
    result, trials = search_combinations(
        s,
        target,
        cfg,
        candidates=parse_names(tasks),
        allowed=allowed,
        out=out,
        callback=_live(o),
        model=model_config(s, model, max_length, device),
        executor=executor_from(executor, workers, address),
    )
    path = save_search(result, trials, out / "search", s.name, target)
    summary = search_summary(result, trials)
    search_curve(
        trials,
        path.with_suffix(".png"),
        baseline=summary["alone_dev"],
        title=f"{s.name}: combination search for {target} ({cfg.surrogate}, {cfg.proposal})",
    )
    o.value("trials", json.loads(trials.to_json(orient="records")))
    _show_search(o, target, summary, path)


def _show_search(o: Output, target: str, summary: dict, path: Path) -> None:
    o.value("summary", summary)
    o.say(f"\nstopped: {summary['stopped']} after {summary['trials']} trials", markup=False)
    best = " + ".join(summary["best"]) or "(nothing: alone is best)"
    o.say(
        f"[bold]best combination:[/] {escape(target)} + {escape(best)}  "
        f"dev {summary['best_dev']:.4f}, test {summary['best_test']:.4f}"
    )
    if summary["alone_test"] is not None:
        gain = summary["best_test"] - summary["alone_test"]
        o.say(
            f"{target} alone: dev {summary['alone_dev']:.4f}, test {summary['alone_test']:.4f} "
            f"(gain on test {gain:+.4f})",
            markup=False,
        )
    o.say(
        f"trials: [bold]{escape(str(path))}[/] (summary .json and best-so-far curve .png beside it)"
    )
    o.done()


def _live(o: Output):
    """A search callback printing each new trial as a line of the live table."""
    shown = [0]

    def live(search) -> None:
        for row in search.rows_[shown[0] :]:
            star = " *" if row["score"] >= row["best_so_far"] else ""
            pred = "" if row["predicted"] is None else f"{row['predicted']:.4f}"
            o.say(
                f"{row['trial']:>5}  {row['phase']:6}  {row['score']:7.4f}  {pred:>7}  "
                f"{row['best_so_far']:7.4f}  {row['datasets']}{star}",
                markup=False,
            )
        shown[0] = len(search.rows_)

    return live


@app.command()
def fewshot(
    suite: SuiteArg,
    llm: LLMOpt = None,
    endpoint: EndpointOpt = None,
    api: ApiOpt = None,
    api_key_env: KeyEnvOpt = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            help="only these tasks, comma-separated \\[default: every classification "
            "and generation task]"
        ),
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(
            help="demonstrations per prompt \\[default: the number of classes, one "
            "of each; 4 for generation tasks]"
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="comma-separated seeds: each draws other demonstrations \\[default: 1,2,3]"
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="split answered: test | dev")] = "test",
    limit: Annotated[
        int | None, typer.Option(help="answer only the first N examples of the split")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="longest answer written")] = 32,
    timeout: Annotated[
        float | None,
        typer.Option(
            help=with_default("--endpoint: seconds to wait for one reply", LLMConfig, "timeout")
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help=with_default("local model: auto | cpu | cuda | cuda:N", LLMConfig, "device")
        ),
    ] = None,
    out: OutOpt = Path("runs"),
    k: Annotated[
        int | None, typer.Option("--k", hidden=True, help="old spelling of --shots")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Few-shot prompting baseline: ask an LLM (a local model, or an OpenAI-compatible endpoint) to
    answer each task from a few demonstrations, without training.

    The answers are read as labels (or items) and scored like the fine-tuned models. Each (task,
    seed) is a run in the store, so `taskmix compare` shows the LLM beside STL and MTL; printed here
    beside the STL runs found.

    Examples:

        taskmix fewshot suite.yaml --llm Qwen/Qwen2.5-0.5B-Instruct --seeds 1,2,3
        export OPENAI_API_KEY=...
        taskmix fewshot suite.yaml --endpoint https://api.openai.com/v1 --llm gpt-4o-mini --api chat
    """
    from taskmix.evaluate.fewshot import fewshot_comparison

    shots = alias(k, shots, "--k", "--shots")
    if split not in ("test", "dev"):
        raise ConfigError(f"--split {split!r}: use test or dev")
    if shots is not None and shots < 0:
        raise ConfigError("--shots: give 0 or more demonstrations")
    s, o = load_suite(suite), Output(json_)
    config = llm_config(llm, endpoint, api, api_key_env, timeout=timeout, device=device)
    comparison, invalid, beside = fewshot_comparison(
        s,
        config,
        tasks=parse_names(tasks),
        k=shots,
        seeds=parse_seeds(seeds) or [1, 2, 3],
        split=split,
        limit=limit,
        max_new_tokens=max_new_tokens,
        out=out,
    )
    o.table(
        "comparison",
        comparison.printable(),
        title=f"few-shot LLM ({config.model or config.endpoint}) on {split}"
        + (" beside the STL models in the store" if beside else "")
        + ", mean ± 95% CI over seeds",
    )
    shown = ", ".join(f"{t} {v:.0%}" for t, v in invalid.items() if v)
    if shown:
        o.say(f"answers naming no label (counted wrong): {shown}", markup=False)
    o.done()


@app.command()
def compare(
    out: OutOpt = Path("runs"),
    suite: Annotated[
        str | None, typer.Option(help="suite name, if the store holds several")
    ] = None,
    groups: Annotated[
        str | None, typer.Option(help='grouping to count models for: "a,b;c"')
    ] = None,
    margin: MarginOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Print the STL vs MTL table of the finished runs in a run store (read-only), with a verdict
    per comparison: helps / hurts / equivalent within the margin / inconclusive (with the seeds
    that would settle it); STL models that had not converged are flagged, not counted."""
    from taskmix.evaluate.compare import MARGIN, comparison_from_store

    comp, _ = comparison_from_store(_store(out), suite, margin=MARGIN if margin is None else margin)
    o = Output(json_)
    _comparison_tables(o, comp, "test metrics, mean ± 95% CI over seeds")
    o.table("training", comp.training(), title="how the models were trained")
    o.table("settings", comp.settings(), title="runs per setting")
    if groups:
        o.table(
            "strategies", comp.strategies(_groups(groups)), title="models and trainable parameters"
        )
    o.done()


@app.command()
def runs(
    out: OutOpt = Path("runs"),
    status: Annotated[
        str | None,
        typer.Option(
            help="pending | queued | running | finished | failed | "
            "interrupted (held by a process that is gone)"
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List the runs in a run store: setting, seed, status, test metrics, time (read-only)."""
    from taskmix.evaluate.listing import COLUMNS, run_rows
    from taskmix.store import SHOWN_STATUSES, RunStore

    if status is not None and status not in SHOWN_STATUSES:
        raise ConfigError(f"--status {status!r}: choose from {', '.join(SHOWN_STATUSES)}")
    db = _store(out) / "taskmix.db"
    with RunStore(db, readonly=True) as store:
        rows = [r for r in run_rows(store.runs()) if status in (None, r["status"])]
    o = Output(json_)
    o.table("runs", rows, title=f"{len(rows)} runs in {db}", columns=COLUMNS)
    o.done()


@app.command()
def report(
    out: OutOpt = Path("runs"),
    suite: Annotated[
        str | None, typer.Option(help="suite name, if the store holds several")
    ] = None,
    groups: Annotated[
        str | None, typer.Option(help='grouping to count models for: "a,b;c"')
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            help="folder to write the report to (e.g. when OUT is read-only) "
            "\\[default: OUT/report]"
        ),
    ] = None,
    margin: MarginOpt = None,
) -> None:
    """Write the HTML report (plots, tables, CSV/JSON) of a run store to OUT/report/index.html:
    the verdicts, how the models were trained, STL vs MTL, how the groups were chosen, measured
    transfer, and the combination searches run into OUT."""
    from taskmix.report.html import report_store

    path = report_store(
        out if (out / "advice").is_dir() else _store(out),  # advice alone may have trained nothing
        to or out / "report",
        suite=suite,
        groups=_groups(groups) if groups else None,
        margin=margin,
    )
    console.print(f"report written to [bold]{escape(str(path))}[/]")


@app.command()
def predict(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL",
            help="a saved model: a folder written by save_pretrained, or a run's model/ kept by "
            "`taskmix train --keep` (`taskmix runs` shows where)",
        ),
    ],
    inputs: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="texts to predict: a jsonl, csv, tsv or parquet file with the "
            "task's text fields, as in a suite",
        ),
    ],
    task: Annotated[
        str | None, typer.Option(help="the task to predict \\[default: the model's only task]")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-O",
            help="file to write (.csv, .tsv, .jsonl, .parquet) \\[default: beside INPUT, "
            "NAME.predictions.SUFFIX]",
        ),
    ] = None,
    choices: Annotated[
        str | None,
        typer.Option(help="multiple choice: the columns holding the choices, e.g. choice1,choice2"),
    ] = None,
    device: DeviceOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Predict a file of new texts with a saved model.

    Every input row is written out with the predicted label (or choice, score, answer) and each
    label's probability beside it.

    Example:

        taskmix predict runs/3f9a1c2e/model notes.csv --task negation_site_a
    """
    import time

    from taskmix.data.loaders import read_inputs, write_table
    from taskmix.models.load import load_model

    m = load_model(model, device=device)
    t = m.tasks[m.task_index(task)]
    fields = parse_names(choices) if choices else None
    if t.kind == "multiple_choice" and not fields:
        raise ConfigError(
            f"task {t.name!r} is multiple choice: name the columns of its choices",
            hint="--choices choice1,choice2",
        )
    frame, texts, options = read_inputs(inputs, t.text_fields, fields)
    start = time.perf_counter()
    pred = m.predict(texts, task=t.name, **({"choices": options} if options else {}))
    seconds = time.perf_counter() - start
    clash = [c for c in pred.columns if c in frame.columns]
    result = _side_by_side(frame.drop(columns=clash), pred)
    path = output or inputs.with_name(f"{inputs.stem}.predictions{inputs.suffix}")
    write_table(result, path)
    o = Output(json_)
    o.table("predictions", result.head(10), title=f"{t.name}: the first predictions")
    o.value("path", str(path))
    o.value("rows_per_s", len(texts) / max(seconds, 1e-9))
    o.say(
        f"{len(texts):,} rows predicted in {seconds:.1f} s ({len(texts) / max(seconds, 1e-9):,.0f} "
        f"rows/s); written to [bold]{escape(str(path))}[/]"
    )
    o.done()


def _side_by_side(left, right):
    """Two frames of the same rows side by side."""
    import pandas as pd

    return pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)


def _store(out: Path) -> Path:
    """``out``, checked to hold a run store."""
    if not (out / "taskmix.db").exists():
        raise ConfigError(
            f"no run store at {out / 'taskmix.db'}",
            hint="run `taskmix train` first, or point --out at its folder",
        )
    return out


def _groups(text: str) -> list[list[str]]:
    return [[t.strip() for t in g.split(",") if t.strip()] for g in text.split(";") if g.strip()]


@app.command()
def demo(
    out: OutOpt = Path("runs/demo"),
    seeds: Annotated[
        str | None, typer.Option(help="comma-separated seeds \\[default: 1,2]")
    ] = None,
    model: Annotated[str, typer.Option(help="model name or folder")] = "minilm",
    device: DeviceOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run the whole pipeline on the synthetic clinical-style suite: PVI → groups → STL vs MTL for
    the PVI groups, all tasks together and random groups → HTML report."""
    from taskmix.demo import demo_config, run_demo

    config = demo_config(parse_seeds(seeds), str(out), model)
    if device is not None:
        config = configure(RunConfig, config, {"model.device": device})
    comparison, path, grouper = run_demo(config, executor=executor_from(executor, workers, address))
    o = Output(json_)
    o.table("pvi_summary", grouper.pvi_.summary_, title="V-information (mean PVI, bits) per task")
    o.say(grouper.describe(), markup=False)
    for name, part in comparison.groupings.items():
        show_partition(o, f"grouping_{name}", part, name)
    _comparison_tables(o, comparison, "demo: test metrics, mean ± 95% CI over seeds")
    o.value("report", str(path))
    o.say(
        f"\nreport: [bold]{escape(str(path))}[/]  (open it in a browser; tables as CSV/JSON beside "
        "it)"
    )
    o.done()
