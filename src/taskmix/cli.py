"""The `taskmix` command line: one thin function per command; the work is in the library.

Errors caused by input are printed as one readable message and exit with code 2 (``--debug``
shows the traceback).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from taskmix import __version__
from taskmix.errors import ConfigError, TaskmixError

app = typer.Typer(
    name="taskmix", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Which of my NLP tasks should I train together, and will it help? taskmix trains single-task "
         "(STL) and multi-task (MTL) models on your tasks and compares them with confidence intervals.",
    context_settings={"help_option_names": ["-h", "--help"]})
# Tables are wide: when output goes to a file or pipe, do not wrap them at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True)
_state = {"debug": False}

SuiteArg = Annotated[str, typer.Argument(help="suite YAML file, or 'demo' for the built-in synthetic suite")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="folder of the run store and run artifacts")]


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
    logging.basicConfig(level=logging.INFO if verbose or debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _print_frame(frame, title: str | None = None) -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    for _, row in frame.iterrows():
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give integers separated by commas, e.g. 1,2,3") from None
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    return seeds


@app.command()
def tasks(suite: SuiteArg) -> None:
    """Validate a suite and describe each task: sizes, label distribution, lengths, made splits."""
    import pandas as pd

    from taskmix.data.task import Suite
    s = Suite.load(suite)
    _print_frame(pd.DataFrame([t.describe() for t in s]), title=f"suite {s.name}: {len(s)} tasks")


@app.command()
def train(
    suite: SuiteArg,
    groups: Annotated[str, typer.Option(help='tasks trained together: "a,b;c,d" (; between groups). '
                                             "Default: all tasks in one group")] = "all",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds, e.g. 1,2,3")] = "",
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
) -> None:
    """Train STL models for every task named and an MTL model per group, over seeds; print the comparison.

    Runs that already finished (same data, model, settings and seed) are skipped, so the same
    command resumes an interrupted grid. Example:

        taskmix train suite.yaml --groups "rte,cb;mrpc,stsb" --seeds 1,2,3
    """
    from taskmix.config import RunConfig, load_model_yaml, validate
    from taskmix.data.task import Suite, parse_groups
    from taskmix.train.experiment import MultiTaskTrainer

    run = load_model_yaml(RunConfig, config) if config else RunConfig()
    data = run.model_dump()
    data["model"].update({k: v for k, v in {"name": model, "max_length": max_length, "device": device}.items()
                          if v is not None})
    data["train"].update({k: v for k, v in {"epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
                                            "lr": lr, "sampler": sampler}.items() if v is not None})
    if seeds:
        data["seeds"] = _seeds(seeds)
    if out is not None:
        data["out"] = str(out)
    s = Suite.load(suite)
    if model is None and "name" not in run.model.model_fields_set:
        data["model"]["name"] = s.model  # the suite's model, unless the command or config names one
    run = validate(RunConfig, data, source="command line")
    group_list = [s.names] if groups == "all" else parse_groups(groups, s)
    trainer = MultiTaskTrainer(run.train, run.model, seeds=run.seeds, out=run.out)
    comparison = trainer.compare(s, group_list)
    _print_frame(comparison.printable(), title=f"{s.name}: test metrics, mean ± 95% CI over {len(run.seeds)} seeds")
    _print_frame(comparison.strategies(group_list), title="models and trainable parameters")
    console.print(f"runs stored in [bold]{Path(run.out) / 'taskmix.db'}[/]; "
                  f"`taskmix report --out {run.out}` writes the HTML report")


def _groups(text: str) -> list[list[str]]:
    return [[t.strip() for t in g.split(",") if t.strip()] for g in text.split(";") if g.strip()]


def _store_path(out: Path) -> Path:
    from taskmix.train.experiment import STORE_FILE

    db = out / STORE_FILE
    if not db.exists():
        raise ConfigError(f"no run store at {db}", hint="run `taskmix train` first, or point --out at its folder")
    return db


def _comparison(out: Path, suite: str | None):
    from taskmix.evaluate.compare import Comparison
    from taskmix.store import RunStore

    db = _store_path(out)
    with RunStore(db) as store:
        records = store.runs(suite=suite, status="finished")
    if not records:
        raise ConfigError(f"{db}: no finished runs" + (f" of suite {suite!r}" if suite else ""))
    suites = sorted({r.suite for r in records})
    if len(suites) > 1:
        raise ConfigError(f"{db} holds runs of several suites: {', '.join(suites)}", hint="choose one with --suite")
    return Comparison(records)


@app.command()
def compare(out: OutOpt = Path("runs"),
            suite: Annotated[str | None, typer.Option(help="suite name, if the store holds several")] = None,
            groups: Annotated[str | None, typer.Option(help='grouping to count models for: "a,b;c"')] = None) -> None:
    """Print the STL vs MTL table of the finished runs in a run store."""
    comp = _comparison(out, suite)
    _print_frame(comp.printable(), title="test metrics, mean ± 95% CI over seeds")
    _print_frame(comp.settings(), title="training settings")
    if groups:
        _print_frame(comp.strategies(_groups(groups)), title="models and trainable parameters")


@app.command()
def runs(out: OutOpt = Path("runs"),
         status: Annotated[str | None, typer.Option(help="pending | running | finished | failed")] = None) -> None:
    """List the runs in a run store: setting, seed, status, main metric, time."""
    import pandas as pd

    from taskmix.store import RunStore

    db = _store_path(out)
    with RunStore(db) as store:
        records = store.runs(status=status)
    rows = [{"id": r.id[:10], "suite": r.suite, "setting": r.setting, "seed": r.seed, "status": r.status,
             "minutes": round((r.duration or 0) / 60, 2),
             "test": ", ".join(f"{t} {next(iter(m.values())) * 100:.1f}" for t, m in (r.metrics or {}).get("test", {}).items())
             or (r.error or "")} for r in records]
    _print_frame(pd.DataFrame(rows), title=f"{len(rows)} runs in {db}")


@app.command()
def report(out: OutOpt = Path("runs"),
           suite: Annotated[str | None, typer.Option(help="suite name, if the store holds several")] = None,
           groups: Annotated[str | None, typer.Option(help='grouping to count models for: "a,b;c"')] = None) -> None:
    """Write the HTML report (plots, tables, CSV/JSON) of a run store to OUT/report/index.html."""
    from taskmix.report.html import write_report

    comp = _comparison(out, suite)
    path = write_report(comp, out / "report", groups=_groups(groups) if groups else None)
    console.print(f"report written to [bold]{path}[/]")


@app.command()
def demo(out: OutOpt = Path("runs/demo"),
         seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "1,2",
         model: Annotated[str, typer.Option(help="model name or folder")] = "minilm") -> None:
    """Run the demo: synthetic clinical-style suite, STL vs MTL (all tasks; planted groups), HTML report."""
    from taskmix.demo import demo_config, run_demo

    config = demo_config(_seeds(seeds), str(out), model)
    comparison, path, partition = run_demo(config)
    _print_frame(comparison.printable(), title="demo: test metrics, mean ± 95% CI over seeds")
    _print_frame(comparison.strategies(partition), title="planted grouping vs one model per task")
    console.print(f"\nreport: [bold]{path}[/]  (open it in a browser; tables as CSV/JSON beside it)")


def main() -> None:
    """Entry point: run the app; input errors become one message and exit code 2."""
    try:
        app(standalone_mode=False)
    except TaskmixError as e:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {e.message}", highlight=False)
        if e.hint:
            err.print(f"[yellow]hint:[/] {e.hint}", highlight=False)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; finished runs are kept, run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
