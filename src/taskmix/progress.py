"""The one rich progress bar style used by every long-running step (runs, PVI, features)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_progress(show: bool = True) -> Progress:
    """A progress display (description, bar, n/total, elapsed, eta); ``show=False`` disables it."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), disable=not show)
