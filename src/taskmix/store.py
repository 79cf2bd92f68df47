"""The run store: one SQLite file recording every run (config hash, tasks, seed, status, metrics).

Re-running a command skips runs that finished and re-does the rest, so a run killed half-way
loses nothing that had finished. The file uses WAL and a busy timeout, and every state change
is one transaction, so concurrent readers and writers never see it half-written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from taskmix.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id        TEXT PRIMARY KEY,       -- config hash: same config, same id
    suite     TEXT NOT NULL,
    setting   TEXT NOT NULL,          -- e.g. 'stl:rte' or 'mtl:rte+cb'
    kind      TEXT NOT NULL,          -- 'stl', 'mtl', 'transfer' or 'trial'
    tasks     TEXT NOT NULL,          -- JSON list of task names
    seed      INTEGER NOT NULL,
    status    TEXT NOT NULL,          -- pending | running | finished | failed
    config    TEXT NOT NULL,          -- JSON of everything the run depends on
    metrics   TEXT,                   -- JSON: {'test': {task: {metric: v}}, 'dev': ..., ...}
    error     TEXT,
    created   REAL NOT NULL,
    started   REAL,
    finished  REAL,
    duration  REAL,
    artifacts TEXT
);
CREATE INDEX IF NOT EXISTS runs_suite ON runs (suite, status);
-- the trials of combination searches: one row per (target, combination, seed) trained
CREATE VIEW IF NOT EXISTS trials AS
    SELECT id AS config_hash, suite, json_extract(config, '$.target') AS target,
           json_extract(config, '$.mask') AS mask, json_extract(config, '$.datasets') AS datasets, seed, status,
           json_extract(metrics, '$.score') AS score, json_extract(metrics, '$.test_score') AS test_score,
           started, finished, duration
    FROM runs WHERE kind = 'trial';
"""

STATUSES = ("pending", "running", "finished", "failed")


@dataclass
class RunRecord:
    id: str
    suite: str
    setting: str
    kind: str
    tasks: list[str]
    seed: int
    status: str
    config: dict
    metrics: dict | None
    error: str | None
    created: float
    started: float | None
    finished: float | None
    duration: float | None
    artifacts: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        d = dict(row)
        d["tasks"] = json.loads(d["tasks"])
        d["config"] = json.loads(d["config"])
        d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else None
        return cls(**d)


class RunStore:
    """SQLite store of runs.

    >>> store = RunStore("runs/taskmix.db")                        # doctest: +SKIP
    >>> [r.setting for r in store.runs(status="finished")]          # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a taskmix run store ({e})",
                             hint="point --out at a new folder, or move this file away") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ state changes
    def add(self, run_id: str, *, suite: str, setting: str, kind: str, tasks: list[str], seed: int,
            config: dict) -> RunRecord:
        """Register a run as pending unless it exists; return its record either way."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO runs (id, suite, setting, kind, tasks, seed, status, config, created)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, suite, setting, kind, json.dumps(tasks), seed, json.dumps(config, sort_keys=True), time.time()))
        return self.get(run_id)

    def start(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status='running', started=?, error=NULL WHERE id=?", (time.time(), run_id))

    def finish(self, run_id: str, metrics: dict, artifacts: str | None = None) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute("UPDATE runs SET status='finished', metrics=?, finished=?, duration=? - COALESCE(started, ?),"
                      " artifacts=? WHERE id=?", (json.dumps(metrics), now, now, now, artifacts, run_id))

    def fail(self, run_id: str, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status='failed', error=?, finished=? WHERE id=?", (error, time.time(), run_id))

    # ------------------------------------------------------------ queries
    def get(self, run_id: str) -> RunRecord | None:
        row = self._conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def runs(self, suite: str | None = None, status: str | None = None,
             kinds: tuple[str, ...] | None = None) -> list[RunRecord]:
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if kinds:
            q += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(kinds)
        if suite:
            q += " AND suite=?"
            args.append(suite)
        if status:
            q += " AND status=?"
            args.append(status)
        return [RunRecord.from_row(r) for r in self._conn.execute(q + " ORDER BY created, id", args)]

    def count(self, status: str | None = None) -> int:
        if status:
            return self._conn.execute("SELECT COUNT(*) FROM runs WHERE status=?", (status,)).fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
