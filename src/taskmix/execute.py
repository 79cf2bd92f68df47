"""Executors: where runs are carried out. Each run is a function of its spec → result.

Only the local, in-process executor exists so far; a Ray executor will implement the same
interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Executor:
    """Runs ``fn`` over items; yields (item, result or exception) as runs complete."""

    def map(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[tuple[T, Any]]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """In-process, one run after another (the default on a laptop)."""

    def map(self, fn, items):
        for item in items:
            try:
                yield item, fn(item)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # recorded by the caller; the grid goes on
                yield item, e

