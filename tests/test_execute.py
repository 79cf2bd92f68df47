"""Executors and faults, for real: process pools and a Ray cluster carry out the same grid as this
process, bit for bit; a worker SIGKILLed mid-run is replaced and its run retried; a driver
SIGKILLed half-way is started again with the same command and neither loses nor repeats runs."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from taskmix.config import TrainConfig
from taskmix.data.suite import Suite
from taskmix.evaluate.proof import MultiTaskTrainer
from taskmix.execute import LocalExecutor, ProcessExecutor, RayExecutor, WorkerLost
from taskmix.experiment.runs import STORE_FILE

FAST = TrainConfig(max_steps=6, batch_size=8, lr=1e-3, eval_every=3, patience=None)
GROUPS = [["a", "b"]]
SEEDS = [1, 2]  # 2 seeds x (STL a, STL b, MTL a+b) = 6 runs


def grid(suite_path, factory, out: Path, executor, config=FAST):
    suite = Suite.from_yaml(suite_path)
    trainer = MultiTaskTrainer(
        config, seeds=SEEDS, out=out, executor=executor, backbone=factory, show_progress=False
    )
    return {r.setting + f"/{r.seed}": r.metrics["test"] for r in trainer.run(suite, GROUPS)}


def store_rows(out: Path) -> list[dict]:
    con = sqlite3.connect(out / STORE_FILE)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT id, status, owner, attempts, finished FROM runs")]
    con.close()
    return rows


@pytest.fixture
def reference(keyword_suite, tiny_factory, tmp_path):
    """The grid carried out in this process with one torch thread (what workers use)."""
    return grid(keyword_suite, tiny_factory, tmp_path / "local", LocalExecutor(threads=1))


# ---------------------------------------------------------------- the store's claims


# ---------------------------------------------------------------- process pool


def test_process_pool_gives_the_same_numbers_as_this_process(
    keyword_suite, tiny_factory, tmp_path, reference
):
    got = grid(
        keyword_suite, tiny_factory, tmp_path / "pool", ProcessExecutor(workers=2, threads=1)
    )
    assert got == reference  # bit-identical metrics
    assert all(
        r["status"] == "finished" and r["attempts"] == 1 for r in store_rows(tmp_path / "pool")
    )


def test_process_worker_killed_mid_run_is_replaced_and_the_run_retried(
    keyword_suite, tiny_factory, tmp_path, reference
):
    executor = ProcessExecutor(workers=2, threads=1, max_retries=2)
    killed = []

    def killer():
        while not executor.busy_pids:
            time.sleep(0.01)
        pid = executor.busy_pids[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    got = grid(keyword_suite, tiny_factory, tmp_path / "pool", executor)
    t.join(timeout=5)
    assert killed and len(executor.retried_) == 1
    assert got == reference  # the retried run gives the same numbers
    assert len(store_rows(tmp_path / "pool")) == 6


def test_a_worker_that_always_dies_is_reported_not_retried_forever():
    def die(_):
        os.kill(os.getpid(), signal.SIGKILL)

    results = list(ProcessExecutor(workers=1, max_retries=1, devices=[]).map(die, [1]))
    assert len(results) == 1 and isinstance(results[0][1], WorkerLost)


def test_errors_in_runs_come_back_as_exceptions():
    def f(x):
        if x == 2:
            raise ValueError("two is bad")
        return x * 10

    got = dict(ProcessExecutor(workers=2, devices=[]).map(f, [1, 2, 3]))
    assert (
        got[1] == 10
        and got[3] == 30
        and isinstance(got[2], ValueError)
        and "two is bad" in str(got[2])
    )
    got = dict(LocalExecutor().map(f, [1, 2]))
    assert got[1] == 10 and isinstance(got[2], ValueError)


# ---------------------------------------------------------------- a driver killed half-way


def _cli(args: list, out: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from taskmix.cli import main; main()",
            *map(str, args),
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _half_way(out: Path) -> bool:
    try:
        status = [r["status"] for r in store_rows(out)]
    except sqlite3.Error:
        return False
    return status.count("finished") >= 2 and "running" in status


def kill_and_resume(args: list, out: Path, total: int) -> None:
    """Start the command, SIGKILL it after two runs finished, start it again: every run finishes,
    the ones finished before the kill are not run again, and every run has its artifacts."""
    proc = _cli(args, out)
    deadline = time.time() + 240
    # killed while it holds a run (between two runs it holds none), after two have finished
    while not _half_way(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r["id"]: r for r in store_rows(out)}
    done_before = {i for i, r in before.items() if r["status"] == "finished"}
    assert 2 <= len(done_before) < total, "the driver was not killed half-way: make the runs longer"
    assert any(r["status"] == "running" for r in before.values())  # claimed by the dead driver
    again = _cli(args, out)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode()[-2000:]
    after = {r["id"]: r for r in store_rows(out)}
    assert len(after) == total and all(r["status"] == "finished" for r in after.values())
    for i in done_before:  # nothing finished was run again
        assert after[i]["attempts"] == 1 and after[i]["finished"] == before[i]["finished"]
    folders = [p for p in out.iterdir() if p.is_dir() and p.name in after]
    assert len(folders) == total and all((p / "metrics.json").exists() for p in folders)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written folder left


TRAIN = [
    "train",
    None,
    "--groups",
    "a,b",
    "--seeds",
    "1,2,3",
    "--max-steps",
    "12",
    "--batch-size",
    "8",
]


def test_local_driver_killed_half_way_resumes(keyword_suite, tiny_model_dir, tmp_path):
    args = [*TRAIN[:1], keyword_suite, *TRAIN[2:], "--model", tiny_model_dir]
    kill_and_resume(args, tmp_path / "runs", total=9)


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real local Ray cluster with 2 CPUs, started as a user would (`ray start --head`), in its
    own temporary folder so that tearing it down touches no other Ray cluster of this machine."""
    pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        pytest.skip("the ray command is not installed")
    port = 6390 + os.getpid() % 500
    # a short path: Ray's sockets live under it, and a socket path has at most 107 bytes (a long
    # TMPDIR would break `ray start`)
    temp = Path(tempfile.mkdtemp(prefix="tmx-ray-", dir="/tmp"))
    # a private cluster without token authentication (Ray turns it on once ~/.ray/auth_token exists)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    subprocess.run(
        [
            str(ray_bin),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    yield f"127.0.0.1:{port}"
    import ray

    ray.shutdown()

    def ours_(cmd: str) -> bool:
        return (
            str(temp) in cmd
            or f"--address=127.0.0.1:{port}" in cmd
            or (f":{port} " in cmd and "ray" in cmd)
        )

    ours = [
        p
        for p in psutil.process_iter(["cmdline"])
        if ours_(" ".join(p.info["cmdline"] or []) + " ")
    ]
    for p in list(
        ours
    ):  # workers and agents rename themselves: find them as the cluster's children
        try:
            ours += p.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    ours = list({p.pid: p for p in ours}.values())
    for p in ours:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(ours, timeout=15)
    for p in alive:
        p.kill()
    shutil.rmtree(temp, ignore_errors=True)


def _ray_workers_running() -> list[int]:
    import psutil

    pids = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::_ray_run"):  # Ray names a worker after the task it is running
            pids.append(p.pid)
    return pids


@pytest.mark.ray
def test_ray_grid_matches_this_process_and_survives_a_killed_worker(
    ray_cluster, keyword_suite, tiny_factory, tmp_path, reference
):
    killed = []

    def killer():
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            pids = _ray_workers_running()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    got = grid(
        keyword_suite,
        tiny_factory,
        tmp_path / "ray",
        RayExecutor(address=ray_cluster, max_retries=3, threads=1),
    )
    t.join(timeout=5)
    assert killed, "no Ray worker was seen running a run"
    assert got == reference  # every run finished, bit-identical to this process's
    assert all(r["status"] == "finished" for r in store_rows(tmp_path / "ray"))


@pytest.mark.ray
def test_ray_driver_killed_half_way_resumes(ray_cluster, keyword_suite, tiny_model_dir, tmp_path):
    args = [
        *TRAIN[:1],
        keyword_suite,
        *TRAIN[2:],
        "--model",
        tiny_model_dir,
        "--address",
        ray_cluster,
    ]
    kill_and_resume(args, tmp_path / "runs", total=9)


def test_ray_missing_cluster_is_a_clear_error(tmp_path):
    ray = pytest.importorskip("ray")
    from taskmix.errors import ConfigError

    ray.shutdown()  # not connected to the test cluster: join the missing one

    with pytest.raises(ConfigError, match="cannot join the Ray cluster"):
        list(RayExecutor(address="127.0.0.1:1").map(abs, [1]))


def test_cli_rejects_an_unknown_executor(monkeypatch, capsys, keyword_suite):
    from conftest import run_cli

    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--executor", "cloud")
    assert code == 2 and "executor" in err and "local" in err


def test_pool_devices_come_from_the_config():
    from taskmix.config import ExecutionConfig
    from taskmix.execute import make_executor

    gpus = make_executor(ExecutionConfig(executor="process", devices="0,3"))
    assert gpus.devices == ["0", "3"] and gpus.workers == 2  # one worker per GPU named
    cpu = make_executor(ExecutionConfig(executor="process", devices="cpu", workers=3))
    assert cpu.devices == [] and cpu.workers == 3


def test_an_executor_says_how_many_runs_it_carries_out_at_once():
    # what predicts a batch of runs' wall time (e.g. `advise` under a time budget)
    assert LocalExecutor().slots == 1
    assert ProcessExecutor(workers=3, devices=[]).slots == 3
    assert ProcessExecutor(devices=["0", "1"]).slots == 2  # a worker per GPU
    assert RayExecutor(address="auto").slots == 1  # the cluster's size is not known here


@pytest.mark.parametrize(
    "cpu_count, usable, busy, requested, threads",
    [
        (2, 2, 0, None, 2),  # idle: every core
        (2, 2, 1, None, 1),  # one core taken
        (2, 2, 6, None, 1),  # overloaded: still one thread
        (2, 2, 6, 3, 3),  # asked for: as asked
        (64, 2, 10, None, 2),  # a large host's load spreads over 64 CPUs: ours are free
        (64, 2, 48, None, 1),  # three quarters of the host busy: so are ours
    ],
)
def test_threads_are_the_cores_other_processes_leave_free(
    monkeypatch, cpu_count, usable, busy, requested, threads
):
    import taskmix.execute as ex

    monkeypatch.setattr(ex.os, "cpu_count", lambda: cpu_count)
    monkeypatch.setattr(ex, "usable_cpus", lambda: usable)
    monkeypatch.setattr(ex, "busy_cpus", lambda: float(busy))
    assert ex.choose_threads(requested) == threads
