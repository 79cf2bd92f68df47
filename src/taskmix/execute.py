"""Executors: where runs are carried out. Each run is a function of its spec → result.

- ``LocalExecutor``: in this process, one run after another (the default; live step progress).
- ``ProcessExecutor``: a pool of worker processes on this machine, one per device (GPU) or per
  ``workers``; a worker that dies (killed, out of memory) is replaced and its run retried.
- ``RayExecutor``: tasks on a Ray cluster (``address="auto"`` joins a running one; without an
  address a local one is started); Ray retries a run whose worker died.

All of them implement ``map(fn, items, started)``, yielding ``(item, result or exception)`` as runs
complete, and calling ``started(item)`` in this process when a run is handed to its worker (Ray:
when it is submitted, as Ray does not say when a task begins); ``fn`` must be a pure function of the
item (the run store, the progress bars and every other piece of bookkeeping stay with the caller,
see ``taskmix.experiment.runs.carry_out``). ``fn`` travels to workers with cloudpickle, so closures
over a suite and a trainer are fine.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any, TypeVar

from taskmix.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerLost(RuntimeError):
    """A run's worker process died (killed, out of memory) more often than retries allow."""


class Executor:
    """Runs ``fn`` over items; yields (item, result or exception) as runs complete."""

    #: True when ``fn`` runs in this process (so it may report step progress to the caller)
    in_process = False
    #: how many runs it carries out at once, as far as this process knows (a batch's wall time is
    #: predicted from it): one in this process; a pool's workers; one for Ray, whose cluster's
    #: size only the cluster knows (a prediction then errs long, never short)
    slots = 1

    def map(
        self, fn: Callable[[T], Any], items: Iterable[T], started: Callable[[T], None] | None = None
    ) -> Iterator[tuple[T, Any]]:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


# ---------------------------------------------------------------- threads


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no quota) or "200000 100000" (two CPUs' worth)
        quota, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def busy_cpus(samples: int = 5, interval: float = 0.01) -> float:
    """How many CPUs other processes keep busy now: the median count of runnable threads besides
    this one (Linux ``/proc/stat``; elsewhere the one-minute load average)."""
    import statistics
    import time

    counts = []
    for i in range(samples):
        try:
            with open("/proc/stat", encoding="ascii") as f:
                line = next(x for x in f if x.startswith("procs_running"))
            counts.append(int(line.split()[1]) - 1)  # this thread, reading, is running
        except (OSError, StopIteration, ValueError):
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if i + 1 < samples:
            time.sleep(interval)
    return float(statistics.median(counts))


def choose_threads(requested: int | None = None) -> int:
    """Torch threads for a run: ``requested`` if given, else the usable CPUs that other processes
    leave free now (at least one). Threads beyond the free cores do not add speed: they wait for
    each other at every parallel step while the other processes hold the cores."""
    if requested:
        return requested
    usable = usable_cpus()
    # the runnable count is machine-wide: where this process may use only some of the CPUs, its
    # share of the others' work is in proportion (they spread over every CPU)
    share = usable / max(usable, os.cpu_count() or usable)
    return max(1, usable - round(busy_cpus() * share))


def quiet_waiting() -> None:
    """Let OpenMP threads sleep when they wait instead of spinning (which takes cores from other
    processes and, on a shared machine, from the threads being waited for). It only acts before
    torch is first imported; a value the user set is kept."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _set_threads(threads: int | None) -> int | None:
    """Set torch's thread count (if given); returns the previous one."""
    if not threads:
        return None
    import torch

    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    return before


class LocalExecutor(Executor):
    """In-process, one run after another (the default on a laptop)."""

    in_process = True

    def __init__(self, threads: int | None = None):
        self.threads = threads  # None: chosen before each run from the machine and its load

    def map(self, fn, items, started=None):
        before = None
        try:
            for item in items:
                was = _set_threads(choose_threads(self.threads))
                before = was if before is None else before
                if started:
                    started(item)
                try:
                    result = fn(item)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:  # recorded by the caller; the grid goes on
                    result = e
                yield item, result
        finally:
            _set_threads(before)

    def describe(self) -> str:
        return "local (in this process)"


# ---------------------------------------------------------------- process pool


def _worker_main(conn, fn_bytes: bytes, threads: int | None, env: dict[str, str]) -> None:
    """A pool worker: receive items, send back ('ok', result) or ('error', exception)."""
    import pickle

    import cloudpickle

    os.environ.update(env)
    _set_threads(threads)
    # Not a file: the run function this worker's parent pickled a moment ago and sent down a pipe
    # only the two of them hold (what DESIGN.md's "no unpickling" rule is about cannot reach it).
    fn = cloudpickle.loads(fn_bytes)
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            reply = ("ok", fn(msg))
        except Exception as e:  # noqa: BLE001  (sent back to the caller, who records it)
            reply = ("error", e)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):  # an exception that cannot travel
            conn.send(("error", RuntimeError(f"{reply[1]!r}\n{traceback.format_exc()}")))


class ProcessExecutor(Executor):
    """A pool of ``workers`` processes on this machine (spawned, so CUDA is safe); with GPUs one
    worker per GPU, each seeing only its own (``CUDA_VISIBLE_DEVICES``). ``devices``: the GPU ids
    to use, [] for CPU workers only, None for every visible GPU. A worker that dies is replaced and
    its run retried up to ``max_retries`` times.

    >>> ProcessExecutor(workers=2).map(abs, [-1, -2])            # doctest: +SKIP
    """

    def __init__(
        self,
        workers: int | None = None,
        threads: int | None = 1,
        max_retries: int = 2,
        devices: list[str] | None = None,
    ):
        self.devices = devices if devices is not None else _cuda_devices()
        self.workers = (
            workers or len(self.devices) or max(1, (os.cpu_count() or 1) // max(1, threads or 1))
        )
        self.threads = threads
        self.max_retries = max_retries
        self.retried_: list = []
        self._procs: dict = {}

    @property
    def slots(self) -> int:
        return self.workers

    def describe(self) -> str:
        return f"process pool ({self.workers} workers)"

    def __getstate__(self) -> dict:  # travels inside closures; its live workers do not
        return {**self.__dict__, "_procs": {}}

    @property
    def busy_pids(self) -> list[int]:
        """Process ids of the workers that are carrying out a run now."""
        return [p.pid for p, (_, item) in self._procs.items() if item is not None]

    def _start(self, ctx, fn_bytes: bytes, slot: int):
        parent, child = ctx.Pipe()
        env = (
            {"CUDA_VISIBLE_DEVICES": self.devices[slot % len(self.devices)]} if self.devices else {}
        )
        proc = ctx.Process(
            target=_worker_main, args=(child, fn_bytes, self.threads, env), daemon=True
        )
        proc.start()
        child.close()
        proc.slot = slot
        self._procs[proc] = [parent, None]

    def map(self, fn, items, started=None):
        import cloudpickle

        queue = deque((item, 0) for item in items)
        if not queue:
            return
        ctx = mp.get_context("spawn")
        fn_bytes = cloudpickle.dumps(fn)
        self._procs = {}
        for slot in range(min(self.workers, len(queue))):
            self._start(ctx, fn_bytes, slot)
        try:
            while queue or any(job is not None for _, job in self._procs.values()):
                for conn_job in self._procs.values():  # give idle workers work
                    if conn_job[1] is None and queue:
                        conn_job[1] = queue.popleft()
                        if started:
                            started(conn_job[1][0])
                        try:
                            conn_job[0].send(conn_job[1][0])
                        except OSError:  # the worker died just now: noticed below, its run retried
                            pass
                ready = wait(
                    [c for c, _ in self._procs.values()] + [p.sentinel for p in self._procs]
                )
                for proc in list(self._procs):
                    conn, job = self._procs[proc]
                    if conn in ready and job is not None:
                        try:
                            _, value = conn.recv()
                        except (EOFError, OSError):
                            proc.join(timeout=10)  # it died during the run
                        else:
                            self._procs[proc][1] = None
                            yield job[0], value
                            continue
                    if proc.is_alive():
                        continue
                    conn.close()
                    del self._procs[proc]
                    if job is not None:
                        item, tries = job
                        if tries < self.max_retries:
                            log.warning(
                                "a worker died (exit code %s) during a run; retrying it",
                                proc.exitcode,
                            )
                            self.retried_.append(item)
                            queue.appendleft((item, tries + 1))
                        else:
                            yield (
                                item,
                                WorkerLost(
                                    f"its worker died {tries + 1} times "
                                    f"(last exit code {proc.exitcode})"
                                ),
                            )
                    if queue:
                        self._start(ctx, fn_bytes, proc.slot)
        finally:
            for conn, _ in self._procs.values():
                try:
                    conn.send(None)
                except OSError:
                    pass
            for proc in self._procs:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
            self._procs = {}


def _cuda_devices() -> list[str]:
    try:
        import torch

        return (
            [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        )
    except Exception:  # noqa: BLE001  (no usable CUDA: CPU workers)
        return []


# ---------------------------------------------------------------- Ray

_RAY_FNS: dict = {}  # in a Ray worker: the functions it has already deserialised, by key


def _ray_run(key: str, boxed_fn: list, item, threads):
    """One run in a Ray worker. The function comes as an object reference inside a list (so Ray
    does not resolve it per task) and is fetched once per worker: what it loads lazily (a
    backbone's weights) then serves every run the worker carries out."""
    import ray

    if key not in _RAY_FNS:
        _RAY_FNS.clear()
        _RAY_FNS[key] = ray.get(boxed_fn[0])
    _set_threads(threads)
    return _RAY_FNS[key](item)


class RayExecutor(Executor):
    """Runs on a Ray cluster. ``address="auto"`` (or ``ray://…``) joins a running cluster; with no
    address a local cluster of ``workers`` CPUs is started for this process. Each run asks for
    ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (default: one GPU when the cluster has any);
    a run whose worker died is retried by Ray up to ``max_retries`` times.

    The output folder must be one that every node sees (a shared file system) when the cluster
    has more than one machine: runs write their artifacts there.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_run: float = 1,
        gpus_per_run: float | None = None,
        max_retries: int = 2,
        threads: int | None = 1,
    ):
        self.address, self.workers = address, workers
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.max_retries, self.threads = max_retries, threads

    def describe(self) -> str:
        return f"ray ({self.address or f'local cluster, {self.workers or os.cpu_count()} CPUs'})"

    def connect(self):
        """Join (or start) the cluster, if not done yet; returns the ``ray`` module."""
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "the Ray executor needs Ray, which is not installed",
                hint="pip install 'taskmix[ray]'",
            ) from None
        if not ray.is_initialized():
            self._check_reachable()
            kw = (
                {"address": self.address}
                if self.address
                else {"num_cpus": self.workers or os.cpu_count(), **_short_temp_dir()}
            )
            try:
                ray.init(
                    **kw,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except ConnectionError as e:
                raise ConfigError(
                    f"cannot join the Ray cluster at {self.address!r}: {e}",
                    hint="is it running (`ray status`)? A cluster with token authentication also "
                    "needs RAY_AUTH_MODE=token and its token here (RAY_AUTH_TOKEN)",
                ) from None
        return ray

    def _check_reachable(self) -> None:
        """Fail fast on a 'host:port' nobody listens on (Ray itself waits minutes, then exits)."""
        host, _, port = (self.address or "").rpartition(":")
        if not host or "://" in self.address or not port.isdigit():
            return
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as e:
            raise ConfigError(
                f"cannot join the Ray cluster at {self.address!r}: {e}",
                hint="start one with `ray start --head`, or leave --address out "
                "for a local cluster",
            ) from None

    def map(self, fn, items, started=None):
        items = list(items)
        if not items:
            return
        ray = self.connect()
        gpus = self.gpus_per_run
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) else 0
        task = ray.remote(_ray_run).options(
            num_cpus=self.cpus_per_run,
            num_gpus=gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        key = uuid.uuid4().hex
        boxed = [ray.put(fn)]
        pending = {task.remote(key, boxed, item, self.threads): item for item in items}
        for item in items if started else ():
            started(item)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(done[0])
                try:
                    yield item, ray.get(done[0])
                except ray.exceptions.RayTaskError as e:  # fn raised: hand its own exception on
                    yield item, e.cause if isinstance(e.cause, Exception) else e
                except ray.exceptions.RayError as e:  # worker or node lost beyond the retries
                    yield item, WorkerLost(str(e).splitlines()[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def _short_temp_dir() -> dict:
    """Where a local Ray cluster keeps its files: Ray's default (under TMPDIR) unless that path is
    so long that its sockets' paths would pass the 107-byte limit of a Unix socket path."""
    import tempfile

    if os.environ.get("RAY_TMPDIR") or len(tempfile.gettempdir()) < 40 or not os.path.isdir("/tmp"):
        return {}
    return {"_temp_dir": "/tmp/ray"}


def make_executor(config) -> Executor:
    """The executor an ``ExecutionConfig`` names."""
    if config.executor == "local":
        return LocalExecutor(threads=config.threads)
    if config.executor == "process":
        devices = {"auto": None, "cpu": []}.get(
            config.devices, [d.strip() for d in config.devices.split(",")]
        )
        return ProcessExecutor(
            workers=config.workers,
            threads=config.threads or 1,
            max_retries=config.max_retries,
            devices=devices,
        )
    return RayExecutor(
        address=config.address,
        workers=config.workers,
        cpus_per_run=config.cpus_per_run,
        gpus_per_run=config.gpus_per_run,
        max_retries=config.max_retries,
        threads=config.threads or 1,
    )
