"""The run store: claims (queued → running → finished), runs of a process that is gone shown as
interrupted, and read-only stores (a read-only file system) readable."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from taskmix.errors import StoreError
from taskmix.store import RunStore, owner_id


def _dead_pid() -> int:
    """The id of a process that has ended (so nobody holds it now)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _store(path: Path) -> Path:
    with RunStore(path) as store:
        for i in range(3):  # r0 finishes below; r1 and r2 stay pending
            store.add(
                f"r{i}",
                suite="s",
                setting=f"stl:t{i}",
                kind="stl",
                tasks=[f"t{i}"],
                seed=1,
                config={"kinds": {f"t{i}": "classification"}},
            )
        store.claim("r0")
        store.start("r0")
        store.finish(
            "r0",
            {
                "test": {"t0": {"accuracy": 0.75, "macro_f1": 0.5}},
                "trainable_parameters": 10,
                "steps": 4,
                "rows": {"t0": {"train": 8, "dev": 2, "test": 2}},
            },
        )
    return path


def test_claim_queues_then_start_runs_then_release_gives_back(tmp_path):
    with RunStore(tmp_path / "taskmix.db") as store:
        store.add("r", suite="s", setting="stl:a", kind="stl", tasks=["a"], seed=1, config={})
        assert store.claim("r")
        rec = store.get("r")
        assert rec.status == "queued" and rec.owner == owner_id() and rec.started is None
        assert not store.claim("r", owner="elsewhere:1")  # this process is alive: its claim holds
        store.start("r")
        rec = store.get("r")
        assert rec.status == "running" and rec.started is not None
        store.release(["r"])
        rec = store.get("r")
        assert rec.status == "pending" and rec.owner is None and rec.started is None


def test_runs_of_a_dead_owner_show_as_interrupted_and_are_claimed_again(tmp_path):
    with RunStore(tmp_path / "taskmix.db") as store:
        store.add("a", suite="s", setting="stl:a", kind="stl", tasks=["a"], seed=1, config={})
        store.add("b", suite="s", setting="stl:b", kind="stl", tasks=["b"], seed=1, config={})
        dead = f"{socket.gethostname()}:{_dead_pid()}"
        assert store.claim("a", owner=dead) and store.claim("b")
        store.start("a", owner=dead)
        a, b = store.get("a"), store.get("b")
        assert a.status == "running" and a.shown_status() == "interrupted"
        assert b.shown_status() == "queued"  # held by this live process
        # another machine's owner: judged by its heartbeat
        far = "another-host:1"
        assert a.shown_status() == "interrupted"
        a.owner, a.heartbeat = far, time.time()
        assert a.shown_status() == "running"
        a.heartbeat = time.time() - 10_000
        assert a.shown_status() == "interrupted"
        assert store.claim("a")  # the next command takes it over


def test_runs_command_shows_interrupted_runs_and_metric_names(tmp_path, monkeypatch, capsys):
    db = _store(tmp_path / "taskmix.db")
    with RunStore(db) as store:
        dead = f"{socket.gethostname()}:{_dead_pid()}"
        store.claim("r2", owner=dead)
        store.start("r2", owner=dead)
    code, out, err = run_cli(monkeypatch, capsys, "runs", "--out", tmp_path)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "stl:t2" in line)
    assert "interrupted" in row and "running" not in row
    assert "t0 macro-F1 50.0" in out
    code, out, _ = run_cli(
        monkeypatch, capsys, "runs", "--out", tmp_path, "--status", "interrupted"
    )
    assert code == 0 and "stl:t2" in out and "stl:t0" not in out
    code, _, err = run_cli(monkeypatch, capsys, "runs", "--out", tmp_path, "--status", "lost")
    assert code == 2 and err.startswith("error: --status 'lost'")


def test_readonly_open_reads_and_never_writes(tmp_path):
    db = _store(tmp_path / "taskmix.db")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with RunStore(db, readonly=True) as store:
        assert [r.id for r in store.runs(status="finished")] == ["r0"]
        with pytest.raises(Exception, match="readonly"):
            store.add("x", suite="s", setting="stl:x", kind="stl", tasks=["x"], seed=1, config={})
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with pytest.raises(StoreError, match="no run store"):
        RunStore(tmp_path / "none.db", readonly=True)
    (tmp_path / "junk.db").write_bytes(b"junk" * 100)
    with pytest.raises(StoreError, match="not a taskmix run store"):
        RunStore(tmp_path / "junk.db", readonly=True)


def _can_mount_readonly() -> bool:
    if not shutil.which("unshare"):
        return False
    flags = [] if os.geteuid() == 0 else ["-r"]
    probe = subprocess.run(
        [
            "unshare",
            *flags,
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /mnt && mount -o remount,ro /mnt",
        ],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _can_mount_readonly(), reason="cannot mount a read-only file system here (unshare)"
)
def test_store_on_a_readonly_file_system_is_readable(tmp_path):
    """runs, compare and report on a store in a read-only mount (a private mount namespace, as an
    archive or a colleague's share would be): they read it; report writes where --to says."""
    src = tmp_path / "src"
    _store(src / "taskmix.db")
    ro = tmp_path / "ro"
    ro.mkdir()
    flags = [] if os.geteuid() == 0 else ["-r"]
    taskmix = f"{sys.executable} -c 'from taskmix.cli import main; main()'"
    script = (
        f"mount -t tmpfs tmpfs {ro} && cp {src}/taskmix.db {ro}/ && mount -o remount,ro {ro} && "
        f"if touch {ro}/x 2>/dev/null; then echo WRITABLE; exit 9; fi; "
        f"{taskmix} runs --out {ro} && echo RUNS-OK && "
        f"{taskmix} compare --out {ro} && echo COMPARE-OK && "
        f"{taskmix} report --out {ro} --to {tmp_path / 'report'} && echo REPORT-OK; "
        f"{taskmix} report --out {ro}; echo REPORT-RO-EXIT=$?"
    )
    res = subprocess.run(
        ["unshare", *flags, "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    text = res.stdout + res.stderr
    for mark in ("RUNS-OK", "COMPARE-OK", "REPORT-OK", "REPORT-RO-EXIT=2"):
        assert mark in text, text[-3000:]
    assert "Traceback" not in text and "not a taskmix run store" not in text
    assert "Read-only file system" in text  # the report's default place cannot be written: said so
    assert (tmp_path / "report" / "index.html").exists()


def test_claims_heartbeats_and_stale_owners(tmp_path):
    with RunStore(tmp_path / "s.db") as store:
        store.add("r1", suite="s", setting="stl:a", kind="stl", tasks=["a"], seed=1, config={})
        assert store.claim("r1") and store.get("r1").owner == owner_id()
        assert not store.claim(
            "r1", owner="otherhost:1", stale_after=60
        )  # alive here, fresh heartbeat
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store.release(["r1"])
        assert store.get("r1").status == "pending"
        assert store.claim("r1", owner=f"{owner_id().rpartition(':')[0]}:{dead.pid}")
        assert store.claim("r1")  # its owner process no longer exists: claimed again at once
        assert store.get("r1").attempts == 3
        store.finish("r1", {"test": {}})
        assert not store.claim("r1")  # finished runs are never claimed
        store.add("r2", suite="s", setting="stl:b", kind="stl", tasks=["b"], seed=1, config={})
        assert store.claim("r2", owner="elsewhere:7")
        assert not store.claim("r2", stale_after=60)  # another machine's, heartbeat fresh
        assert store.claim("r2", stale_after=0)  # heartbeat stale: presumed lost


def test_old_stores_gain_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, suite TEXT NOT NULL, setting TEXT NOT NULL, kind "
        "TEXT "
        "NOT NULL, tasks TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, config TEXT "
        "NOT NULL, "
        "metrics TEXT, error TEXT, created REAL NOT NULL, started REAL, finished REAL, duration "
        "REAL, "
        "artifacts TEXT)"
    )
    con.execute(
        "INSERT INTO runs VALUES ('x', 's', 'stl:a', 'stl', '[\"a\"]', 1, 'finished', '{}', '{}', "
        "NULL, 0,"
        " 0, 1, 1, NULL)"
    )
    con.commit()
    con.close()
    with RunStore(path) as store:
        rec = store.get("x")
        assert rec.status == "finished" and rec.attempts == 0 and rec.owner is None


def test_concurrent_writers_claim_each_run_once_and_keep_the_file_sound(tmp_path):
    """Four processes race to claim and finish the same 60 runs in one store."""
    import multiprocessing as mp

    path = str(tmp_path / "s.db")
    ids = [f"r{i}" for i in range(60)]
    with RunStore(path) as store:
        for i in ids:
            store.add(i, suite="s", setting=f"stl:{i}", kind="stl", tasks=[i], seed=1, config={})
    with mp.get_context("spawn").Pool(4) as pool:
        won = pool.starmap(_claim_all, [(path, ids)] * 4)
    flat = [i for w in won for i in w]
    assert sorted(flat) == sorted(ids)  # every run carried out exactly once
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        con.execute("SELECT COUNT(*) FROM runs WHERE status='finished' AND attempts=1").fetchone()[
            0
        ]
        == 60
    )
    con.close()


def test_store_rejects_non_database(tmp_path):
    bad = tmp_path / "taskmix.db"
    bad.write_text("not a database at all" * 100)
    from taskmix.errors import StoreError

    with pytest.raises(StoreError, match="not a taskmix run store"):
        RunStore(bad)


def _claim_all(path: str, ids: list[str]) -> list[str]:

    won = []
    with RunStore(path) as store:
        for i in ids:
            if store.claim(i):
                store.beat([i])
                store.finish(i, {"by": os.getpid()})
                won.append(i)
    return won


def test_a_new_store_appears_with_its_tables_and_leaves_nothing_beside_it(tmp_path, monkeypatch):
    """Made under another name and linked into place: a reader never finds the file without its
    tables; the temporary name is gone; a store another process linked first is kept."""
    import os

    db = tmp_path / "runs" / "taskmix.db"
    seen = []
    link = os.link

    def linking(src, dst):
        with RunStore(src, readonly=True) as early:  # what a reader would find once linked
            seen.append(early.count())
        link(src, dst)

    monkeypatch.setattr(os, "link", linking)
    with RunStore(db) as store:
        store.add("r1", suite="s", setting="stl:a", kind="stl", tasks=["a"], seed=1, config={})
    assert seen == [0]
    assert not [p.name for p in db.parent.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(os, "link", lambda src, dst: (_ for _ in ()).throw(FileExistsError()))
    other = tmp_path / "other" / "taskmix.db"
    with RunStore(other) as store:  # the link "lost the race": the store there is used
        assert store.count() == 0
