"""Progress of every long-running step (runs, PVI, features): a rich progress bar on a terminal,
plain lines when output goes to a file or a pipe (a log must show that work goes on)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_progress(show: bool = True) -> Progress | PlainProgress:
    """A progress display (description, bar, n/total, elapsed, eta); ``show=False`` disables it.
    When standard output is not a terminal, progress is written as plain lines to stderr."""
    if show and not Console().is_terminal:
        return PlainProgress()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        disable=not show,
    )


class PlainProgress:
    """The part of rich's ``Progress`` interface taskmix uses, written as plain lines: one when a
    visible task gets a new description, and one each time a task passes a tenth of its total
    (every step when the total is 20 or less) — at most 11 lines per task, whatever the speed."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._tasks: dict[int, dict] = {}
        self._start = time.monotonic()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def add_task(
        self,
        description: str,
        total: float | None = 100.0,
        completed: float = 0,
        visible: bool = True,
        **_,
    ) -> int:
        task_id = len(self._tasks)
        self._tasks[task_id] = {
            "description": description,
            "total": total,
            "completed": completed,
            "visible": visible,
            "mark": self._next_mark(completed, total),
        }
        if visible and description:
            self._line(f"{description}: {self._count(self._tasks[task_id])}")
        return task_id

    def update(
        self,
        task_id: int,
        *,
        description: str | None = None,
        completed: float | None = None,
        total: float | None = None,
        visible: bool | None = None,
        advance: float | None = None,
        **_,
    ) -> None:
        t = self._tasks[task_id]
        renamed = description is not None and description != t["description"]
        rescaled = total is not None and total != t["total"]
        if description is not None:
            t["description"] = description
        if total is not None:
            t["total"] = total
        if visible is not None:
            t["visible"] = visible
        if completed is not None:
            t["completed"] = completed
        if renamed or rescaled or completed == 0:  # a new piece of work: count its tenths afresh
            t["mark"] = self._next_mark(t["completed"], t["total"])
        if renamed and t["visible"] and t["description"]:
            self._line(t["description"])
        if advance:
            self.advance(task_id, advance)
        else:
            self._report(t)

    def advance(self, task_id: int, advance: float = 1) -> None:
        t = self._tasks[task_id]
        t["completed"] += advance
        self._report(t)

    def _report(self, t: dict) -> None:
        if t["visible"] and t["total"] and t["completed"] >= t["mark"]:
            self._line(f"{t['description']}: {self._count(t)}")
            t["mark"] = self._next_mark(t["completed"], t["total"])

    @staticmethod
    def _next_mark(done: float, total: float | None) -> float:
        if not total or done >= total:
            return float("inf")
        step = max(1.0, total / 10) if total > 20 else 1.0
        return min(total, (int(done / step) + 1) * step)

    @staticmethod
    def _count(t: dict) -> str:
        done, total = int(t["completed"]), t["total"]
        return f"{done}/{int(total)}" if total else f"{done}"

    def _line(self, text: str) -> None:
        elapsed = time.monotonic() - self._start
        stream = self._stream or sys.stderr
        stream.write(f"[{int(elapsed) // 60:d}:{int(elapsed) % 60:02d}] {text}\n")
        stream.flush()
