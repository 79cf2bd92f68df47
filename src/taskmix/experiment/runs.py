"""Grids of runs through the run store: register → claim → carry out → record, once for every grid.

Every run is identified by the hash of everything it depends on (task contents, model, settings,
seed), so re-running a command skips finished runs and re-does unfinished ones; runs are carried
out by an executor (this process, a process pool, Ray) while the store keeps their state.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from taskmix.config import config_hash, distinct_seeds
from taskmix.errors import ConfigError, Stopped, TaskmixError
from taskmix.execute import Executor, LocalExecutor
from taskmix.files import make_dir
from taskmix.progress import make_progress
from taskmix.store import RunRecord, RunStore

log = logging.getLogger(__name__)

STORE_FILE = "taskmix.db"
HEARTBEAT_EVERY = 10.0  # seconds between heartbeats of claimed runs


def unique_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list of distinct seeds (a repeated seed would count one model twice)."""
    try:
        seeds = distinct_seeds([int(s) for s in seeds])
    except ValueError as e:
        raise ConfigError(f"seeds: {e}") from None
    if not seeds:
        raise ConfigError("seeds: give at least one seed")
    return seeds


def register_runs(
    store: RunStore, suite: str, entries: Sequence[tuple]
) -> tuple[list[tuple], list[str]]:
    """Add planned runs to the store: ``entries`` hold (spec, kind, config); a spec has ``tasks``,
    ``setting`` and ``seed``, the config everything the run depends on (hashed into its id).
    Entries with the same config are one run. Returns (the (spec, id) pairs of the distinct runs
    not finished yet, the id of every entry in order)."""
    todo, ids, seen = [], [], set()
    for spec, kind, cfg in entries:
        run_id = config_hash(cfg)
        ids.append(run_id)
        if run_id in seen:
            continue
        seen.add(run_id)
        rec = store.add(
            run_id,
            suite=suite,
            setting=spec.setting,
            kind=kind,
            tasks=list(spec.tasks),
            seed=spec.seed,
            config=cfg,
        )
        if rec.status != "finished":
            todo.append((spec, rec.id))
    if len(todo) < len(seen):
        log.info("%d of %d runs already finished; skipping them", len(seen) - len(todo), len(seen))
    return todo, ids


def run_grid(
    out: str | Path,
    suite: str,
    entries: Sequence[tuple],
    work,
    *,
    executor: Executor | None = None,
    show_progress: bool = True,
) -> list[RunRecord]:
    """Register → claim → carry out → record, for every grid of runs: ``entries`` are (spec, kind,
    config) as for :func:`register_runs`, ``work`` as for :func:`carry_out`. Each distinct run is
    carried out once (finished ones never again). Returns the record of every entry, in order (the
    same record for entries that are one run); raises one error naming the runs that failed."""
    out = make_dir(out)
    path = out / STORE_FILE
    with RunStore(path) as store:
        todo, ids = register_runs(store, suite, entries)
        distinct = list(dict.fromkeys(ids))
        failures = carry_out(
            store,
            executor or LocalExecutor(),
            todo,
            work,
            total=len(distinct),
            show_progress=show_progress,
        )
        records = {i: store.get(i) for i in distinct}
    raise_failures(failures, len(distinct), path)
    return [records[i] for i in ids]


class _Heartbeat:
    """Beats for this process's claimed runs every ``every`` seconds, from a thread with its own
    connection to the store (so a driver that vanishes leaves runs whose heartbeat goes stale)."""

    def __init__(self, path: Path, run_ids: list[str], every: float = HEARTBEAT_EVERY):
        self.path, self.ids, self.every = path, list(run_ids), every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="taskmix-heartbeat")

    def _loop(self) -> None:
        with RunStore(self.path) as store:
            while not self._stop.wait(self.every):
                try:
                    store.beat(self.ids)
                except Exception as e:  # noqa: BLE001  (a missed beat is not worth stopping the grid)
                    log.debug("heartbeat failed: %s", e)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _timed(work, item, progress=None):
    """Carry out one run; (its result, when it started, seconds it took)."""
    spec, run_id = item
    started = time.time()
    result = work(spec, run_id, progress)
    return result, started, time.time() - started


def carry_out(
    store: RunStore,
    executor: Executor,
    todo: Sequence[tuple],
    work,
    *,
    total: int,
    show_progress: bool = True,
) -> list[tuple]:
    """Carry out runs through the store: ``todo`` holds (spec, run id) pairs, where a spec has a
    ``setting`` and a ``seed``; ``work(spec, run_id, progress)`` trains and returns (metrics,
    artifacts folder or None); ``progress`` is None when the run is carried out in another process.

    The runs are claimed first (queued; a run another live process holds is left to it and
    reported as a failure here), marked running when handed to a worker, beaten for while they
    last, then marked finished or failed. On Ctrl-C the unfinished ones are given back and
    :class:`~taskmix.errors.Stopped` (a KeyboardInterrupt) says what was kept. A grid whose
    driver was killed resumes where it stopped: its runs' owner is gone, so the same command
    claims them again.
    Returns the (spec, exception) of the runs that failed."""
    failures, claimed = [], []
    for spec, run_id in todo:
        if store.claim(run_id):
            claimed.append((spec, run_id))
        else:
            rec = store.get(run_id)
            if (
                rec is not None and rec.status != "finished"
            ):  # finished meanwhile by another process: fine
                failures.append(
                    (spec, TaskmixError(f"being run by another taskmix process ({rec.owner})"))
                )
    unfinished = {run_id for _, run_id in claimed}
    done = total - len(claimed)
    with make_progress(show_progress) as bar, _Heartbeat(store.path, sorted(unfinished)):
        overall = bar.add_task(f"runs ({executor.describe()})", total=total, completed=done)
        steps = bar.add_task("steps", total=1, visible=False)
        if executor.in_process:

            def fn(item):
                spec, run_id = item
                bar.update(
                    steps, description=f"{spec.setting} seed {spec.seed}", completed=0, visible=True
                )
                return _timed(work, item, lambda s, n: bar.update(steps, completed=s, total=n))
        else:  # carried out in another process: no live step progress
            fn = functools.partial(_timed, work)
        try:
            for (spec, run_id), res in executor.map(
                fn, claimed, started=lambda item: store.start(item[1])
            ):
                if isinstance(res, BaseException):
                    log.error("run %s seed %d failed: %s", spec.setting, spec.seed, res)
                    store.fail(run_id, f"{type(res).__name__}: {res}")
                    failures.append((spec, res))
                else:
                    (metrics, artifacts), started, duration = res
                    store.finish(run_id, metrics, artifacts, started=started, duration=duration)
                    done += 1
                unfinished.discard(run_id)
                bar.advance(overall)
        except KeyboardInterrupt as e:
            raise Stopped(
                f"{done} of {total} runs are finished and kept in {store.path}",
                signal=getattr(e, "signal", None),
            ) from None
        finally:
            store.release(sorted(unfinished))
        bar.update(steps, visible=False)
    return failures


def raise_failures(failures: Sequence[tuple], total: int, store_path: Path) -> None:
    """One error naming the failed runs (if any), saying the finished ones are kept."""
    if failures:
        msg = "; ".join(f"{s.setting} seed {s.seed}: {e}" for s, e in failures[:5])
        raise TaskmixError(
            f"{len(failures)} of {total} runs failed: {msg}",
            hint=f"the finished runs are kept in {store_path}; "
            "fix the cause and run the same command again",
        )
