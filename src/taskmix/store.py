"""The run store: one SQLite file recording every run (config hash, tasks, seed, status, metrics).

Re-running a command skips runs that finished and re-does the rest, so a run killed half-way
loses nothing that had finished. The file uses WAL and a busy timeout, and every state change
is one transaction, so concurrent readers and writers never see it half-written.

A process that carries out runs first *claims* them (status queued, its owner id, a heartbeat
time), marks each running when it starts, and beats while they last. A run held by an owner that
is gone — a process of this machine that no longer exists, or a heartbeat older than
``stale_after`` seconds — can be claimed again, so a driver killed half-way is simply started
again with the same command; until then such runs are *shown* as interrupted.

Commands that only read (``runs``, ``compare``, ``report``) open the store read-only, so a store on
a read-only file system (a published result, a mounted archive) can be read.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from taskmix.errors import StoreError
from taskmix.files import make_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id        TEXT PRIMARY KEY,       -- config hash: same config, same id
    suite     TEXT NOT NULL,
    setting   TEXT NOT NULL,          -- e.g. 'stl:rte' or 'mtl:rte+cb'
    kind      TEXT NOT NULL,          -- 'stl', 'mtl', 'transfer' or 'trial'
    tasks     TEXT NOT NULL,          -- JSON list of task names
    seed      INTEGER NOT NULL,
    status    TEXT NOT NULL,          -- pending | queued | running | finished | failed
    config    TEXT NOT NULL,          -- JSON of everything the run depends on
    metrics   TEXT,                   -- JSON: {'test': {task: {metric: v}}, 'dev': ..., ...}
    error     TEXT,
    created   REAL NOT NULL,
    started   REAL,
    finished  REAL,
    duration  REAL,
    artifacts TEXT
    -- and LATER_COLUMNS (owner, heartbeat, attempts), added on opening, so old stores gain them too
);
CREATE INDEX IF NOT EXISTS runs_suite ON runs (suite, status);
-- answers that cost something to get again (e.g. an LLM's log-probabilities), by a hash of
-- the question
CREATE TABLE IF NOT EXISTS cache (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,            -- JSON
    created REAL NOT NULL
);
-- the trials of combination searches: one row per (target, combination, seed) trained
CREATE VIEW IF NOT EXISTS trials AS
    SELECT id AS config_hash, suite, json_extract(config, '$.target') AS target,
           json_extract(config, '$.mask') AS mask, json_extract(config, '$.datasets') AS datasets,
           seed, status, json_extract(metrics, '$.score') AS score,
           json_extract(metrics, '$.test_score') AS test_score,
           started, finished, duration
    FROM runs WHERE kind = 'trial';
"""

STATUSES = ("pending", "queued", "running", "finished", "failed")
HELD = ("queued", "running")  # statuses of a run an owner holds
# what `taskmix runs` may show besides the stored statuses: held by an owner that is gone
SHOWN_STATUSES = (*STATUSES, "interrupted")
# columns added after the first release, to new and old stores alike when they are opened:
# 'host:pid' of the process that claimed the run, its last sign of life, how often it was claimed
LATER_COLUMNS = {"owner": "TEXT", "heartbeat": "REAL", "attempts": "INTEGER NOT NULL DEFAULT 0"}
STALE_AFTER = 120.0  # seconds without a heartbeat after which a running run is presumed lost


def owner_id() -> str:
    """This process, as the run store names it: 'host:pid'."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the owner process still exists: True / False for this machine's processes, None
    (unknown) for another machine's."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


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
    owner: str | None = None
    heartbeat: float | None = None
    attempts: int = 0

    def shown_status(self, stale_after: float = STALE_AFTER, now: float | None = None) -> str:
        """The status as a person should read it: a queued or running run whose owner is gone
        (its process ended on this machine, or no heartbeat for ``stale_after`` seconds) is
        ``interrupted``; the next command that needs it claims it again."""
        if self.status not in HELD:
            return self.status
        alive = owner_alive(self.owner)
        fresh = self.heartbeat is not None and (now or time.time()) - self.heartbeat < stale_after
        return self.status if alive or (alive is None and fresh) else "interrupted"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        d = dict(row)
        d["tasks"] = json.loads(d["tasks"])
        d["config"] = json.loads(d["config"])
        d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else None
        return cls(**d)


def _make_tables(conn: sqlite3.Connection) -> None:
    """The store's tables and views, and the columns later versions added (to an older store)."""
    conn.executescript(SCHEMA)
    have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    for name, decl in LATER_COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")


class RunStore:
    """SQLite store of runs.

    >>> store = RunStore("runs/taskmix.db")                        # doctest: +SKIP
    >>> [r.setting for r in store.runs(status="finished")]          # doctest: +SKIP
    """

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                self._conn = self._open_readonly()
            else:
                make_dir(self.path.parent)
                if not self.path.exists():
                    self._create()
                self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA busy_timeout=30000")
                _make_tables(self._conn)
            self._conn.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"{self.path}: not a taskmix run store ({e})",
                hint="point --out at a new folder, or move this file away",
            ) from None

    def _create(self) -> None:
        """Make a new store under another name and link it into place, so that a reader never
        sees the file before its tables exist (`taskmix runs` just as `train` starts)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            _make_tables(conn)  # in a rollback journal: nothing is left beside it (WAL comes next)
        finally:
            conn.close()
        try:
            os.link(tmp, self.path)  # fails if another process made the store first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not self.path.exists():
                os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def _open_readonly(self) -> sqlite3.Connection:
        """A connection that never writes. A store in WAL mode on a read-only file system cannot
        make its shared-memory file, so it is then read as immutable (nobody can be writing it)."""
        if not self.path.is_file():
            raise StoreError(
                f"no run store at {self.path}",
                hint="run `taskmix train` first, or point --out at its folder",
            )
        uri = self.path.resolve().as_uri()
        for mode in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=30.0, isolation_level=None)
            try:
                conn.execute("SELECT COUNT(*) FROM runs").fetchone()
                return conn
            except sqlite3.OperationalError as e:
                conn.close()
                if "no such table" in str(e):
                    raise sqlite3.DatabaseError("it has no runs table") from None
                last = e
        raise sqlite3.DatabaseError(str(last))

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
    def add(
        self,
        run_id: str,
        *,
        suite: str,
        setting: str,
        kind: str,
        tasks: list[str],
        seed: int,
        config: dict,
    ) -> RunRecord:
        """Register a run as pending unless it exists; return its record either way."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO runs (id, suite, setting, kind, tasks, seed, status, "
                "config, created)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    run_id,
                    suite,
                    setting,
                    kind,
                    json.dumps(tasks),
                    seed,
                    json.dumps(config, sort_keys=True),
                    time.time(),
                ),
            )
        return self.get(run_id)

    def claim(
        self, run_id: str, owner: str | None = None, stale_after: float = STALE_AFTER
    ) -> bool:
        """Reserve a run for ``owner`` (default: this process) if nobody alive holds it: it is
        pending or failed, or held by an owner that is gone. It is *queued* until :meth:`start`.
        True if claimed."""
        owner = owner or owner_id()
        now = time.time()
        with self._tx() as c:
            row = c.execute(
                "SELECT status, owner, heartbeat FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if row is None or row["status"] == "finished":
                return False
            if row["status"] in HELD and row["owner"] != owner:
                alive = owner_alive(row["owner"])
                fresh = row["heartbeat"] is not None and now - row["heartbeat"] < stale_after
                if alive or (alive is None and fresh):
                    return False
            c.execute(
                "UPDATE runs SET status='queued', owner=?, heartbeat=?, started=NULL, error=NULL,"
                " attempts=attempts+1 WHERE id=?",
                (owner, now, run_id),
            )
        return True

    def start(self, run_id: str, owner: str | None = None) -> None:
        """A claimed run begins now (queued → running)."""
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status='running', started=? WHERE id=? AND owner=? AND "
                "status='queued'",
                (time.time(), run_id, owner or owner_id()),
            )

    def beat(self, run_ids: list[str], owner: str | None = None) -> None:
        """Heartbeat of ``owner``'s running runs among ``run_ids``."""
        if not run_ids:
            return
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET heartbeat=? WHERE status IN ('queued', 'running') AND owner=? "
                "AND id IN"
                f" ({','.join('?' * len(run_ids))})",
                (time.time(), owner or owner_id(), *run_ids),
            )

    def release(self, run_ids: list[str], owner: str | None = None) -> None:
        """Give back ``owner``'s runs that did not finish (pending again), e.g. on Ctrl-C."""
        if not run_ids:
            return
        with self._tx() as c:
            c.execute(
                f"UPDATE runs SET status='pending', owner=NULL, started=NULL"
                f" WHERE status IN ('queued', 'running') AND owner=? AND id IN"
                f" ({','.join('?' * len(run_ids))})",
                (owner or owner_id(), *run_ids),
            )

    def finish(
        self,
        run_id: str,
        metrics: dict,
        artifacts: str | None = None,
        *,
        started: float | None = None,
        duration: float | None = None,
    ) -> None:
        """Mark a run finished; ``started`` / ``duration``: when and how long it actually ran (a
        run may wait in a queue after it was claimed)."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status='finished', metrics=?, finished=?, started=COALESCE(?, "
                "started),"
                " duration=COALESCE(?, ? - COALESCE(started, ?)), artifacts=? WHERE id=?",
                (json.dumps(metrics), now, started, duration, now, now, artifacts, run_id),
            )

    def fail(self, run_id: str, error: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status='failed', error=?, finished=? WHERE id=?",
                (error, time.time(), run_id),
            )

    # ------------------------------------------------------------ queries
    def get(self, run_id: str) -> RunRecord | None:
        row = self._conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def runs(
        self,
        suite: str | None = None,
        status: str | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> list[RunRecord]:
        """Runs of ``suite`` with ``status`` and a kind among ``kinds`` (None: any), oldest
        first."""
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
        return [
            RunRecord.from_row(r) for r in self._conn.execute(q + " ORDER BY created, id", args)
        ]

    def to_frame(self, suite: str | None = None, status: str | None = None):
        """One row per run (a pandas DataFrame): id, suite, setting, kind, tasks, seed, status (as
        `taskmix runs` shows it), timing, best step and training speed, and every metric as a
        column named ``split.task.metric`` (e.g. ``test.rte.macro_f1``).

        >>> RunStore("runs/taskmix.db", readonly=True).to_frame()  # doctest: +SKIP
        """
        import pandas as pd

        rows = []
        for r in self.runs(suite=suite, status=status):
            m = r.metrics or {}
            row = {
                "id": r.id,
                "suite": r.suite,
                "setting": r.setting,
                "kind": r.kind,
                "tasks": "+".join(r.tasks),
                "seed": r.seed,
                "status": r.shown_status(),
                "duration_s": r.duration,
                "best_step": m.get("best_step"),
                "steps": m.get("steps"),
                "examples_per_s": m.get("examples_per_s"),
                "artifacts": r.artifacts,
                "error": r.error,
            }
            for split in ("dev", "test"):
                for task, scores in (m.get(split) or {}).items():
                    if isinstance(scores, dict):
                        row.update({f"{split}.{task}.{k}": v for k, v in scores.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def cached(self, key: str):
        """The value remembered under ``key``, or None."""
        row = self._conn.execute("SELECT value FROM cache WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def remember(self, key: str, value) -> None:
        """Keep a JSON-able ``value`` under ``key`` (replacing an older one)."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO cache (key, value, created) VALUES (?, ?, ?)",
                (key, json.dumps(value), time.time()),
            )

    def count(self, status: str | None = None) -> int:
        if status:
            return self._conn.execute(
                "SELECT COUNT(*) FROM runs WHERE status=?", (status,)
            ).fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
