"""Experiment trackers a run reports to, opt-in (``report_to`` in the training config,
``--report-to`` on the command line): MLflow, TensorBoard and Weights & Biases.

Each run logs its settings once, its training loss as it trains, its dev metrics at every
evaluation and its final dev and test metrics; a run that fails is marked failed. The trackers are
optional extras, imported only when asked for, and hold no global state (MLflow through a client
of its own, not ``mlflow.start_run``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskmix.errors import ConfigError


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings or metrics as one level, keys joined by '.' (``dev.rte.macro_f1``)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
    }


class Tracker:
    """What a run tells a tracker; each method a no-op here."""

    active = False  # whether anything listens (the loss is read from the device only then)

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def finish(self, failed: bool = False) -> None:
        pass


class MLflowTracker(Tracker):
    """A run in an MLflow tracking store (a folder → a file store, or any tracking URI)."""

    def __init__(self, where: str, experiment: str, run_name: str):
        try:
            from mlflow.exceptions import MlflowException
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError(
                "report_to: mlflow needs the mlflow package",
                hint="pip install 'taskmix[mlflow]' (or mlflow)",
            ) from None
        uri = (
            where
            if "://" in where or where.startswith("sqlite:")
            else Path(where).resolve().as_uri()
        )
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(experiment)
            exp = found.experiment_id if found else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(exp, run_name=run_name).info.run_id
        except MlflowException as e:
            raise ConfigError(
                f"MLflow cannot track to {uri}: {str(e).splitlines()[0]}",
                hint="give tracking_dir a database URI (sqlite:///path/mlflow.db, needs the full "
                "mlflow package), or set MLFLOW_ALLOW_FILE_STORE=true for a folder",
            ) from None

    def log_params(self, params):
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 parameters a call
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics, step):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in _numbers(metrics).items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def finish(self, failed=False):
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


class TensorBoardTracker(Tracker):
    """TensorBoard event files in ``where/run_name``: scalars, and the settings as text."""

    def __init__(self, where: str, run_name: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "report_to: tensorboard needs the tensorboard package",
                hint="pip install 'taskmix[tensorboard]' (or tensorboard)",
            ) from None
        self.writer = SummaryWriter(log_dir=str(Path(where) / run_name))

    def log_params(self, params):
        lines = [f"    {k}: {v}" for k, v in flatten(params).items()]
        self.writer.add_text("settings", "\n".join(lines), 0)

    def log_metrics(self, metrics, step):
        for k, v in _numbers(metrics).items():
            self.writer.add_scalar(k, v, step)

    def finish(self, failed=False):
        self.writer.flush()
        self.writer.close()


class WandbTracker(Tracker):
    """A Weights & Biases run (``WANDB_MODE=offline`` writes it locally)."""

    def __init__(self, where: str, experiment: str, run_name: str):
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "report_to: wandb needs the wandb package", hint="pip install wandb"
            ) from None
        self.run = wandb.init(project=experiment, name=run_name, dir=where, reinit="create_new")

    def log_params(self, params):
        self.run.config.update(flatten(params), allow_val_change=True)

    def log_metrics(self, metrics, step):
        self.run.log(_numbers(metrics), step=step)

    def finish(self, failed=False):
        self.run.finish(exit_code=1 if failed else 0)


class Trackers(Tracker):
    """Every tracker a run reports to, called together."""

    def __init__(self, trackers: Sequence[Tracker]):
        self.trackers = list(trackers)
        self.active = bool(self.trackers)

    def log_params(self, params):
        for t in self.trackers:
            t.log_params(params)

    def log_metrics(self, metrics, step):
        for t in self.trackers:
            t.log_metrics(metrics, step)

    def finish(self, failed=False):
        for t in self.trackers:
            t.finish(failed)


def make_trackers(
    names: Sequence[str], where: str | None, default: str | Path, experiment: str, run_name: str
) -> Trackers:
    """The trackers ``names`` for one run named ``run_name`` of ``experiment`` (the suite),
    writing to ``where`` (a folder; for MLflow also a tracking URI) or else under ``default``
    (MLflow: ``MLFLOW_TRACKING_URI`` when it is set)."""
    run_name = "".join(c if c.isalnum() or c in "._+-" else "-" for c in run_name)
    made: list[Tracker] = []
    for name in dict.fromkeys(names):
        if name == "mlflow":
            uri = where or os.environ.get("MLFLOW_TRACKING_URI") or str(Path(default) / "mlruns")
            made.append(MLflowTracker(uri, experiment, run_name))
        elif name == "tensorboard":
            made.append(TensorBoardTracker(where or str(Path(default) / "tensorboard"), run_name))
        elif name == "wandb":
            made.append(WandbTracker(where or str(default), experiment, run_name))
        else:
            raise ConfigError(
                f"report_to: unknown tracker {name!r}", hint="choose mlflow, tensorboard or wandb"
            )
    return Trackers(made)


@contextlib.contextmanager
def tracked(config, default: str | Path, experiment: str, run_name: str) -> Iterator[Trackers]:
    """The trackers of a training config (``report_to``, ``tracking_dir``) for one run, finished
    when the run ends (marked failed when it raises)."""
    tracker = make_trackers(config.report_to, config.tracking_dir, default, experiment, run_name)
    try:
        yield tracker
    except BaseException:
        tracker.finish(failed=True)
        raise
    tracker.finish()
