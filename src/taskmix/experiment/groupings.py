"""The named groupings of a suite (the recommended one and its baselines), remembered beside the run
store so that `compare` and `report` show them later."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from taskmix.files import atomic_file

BASELINES = ("all", "random", "textemb", "most_different")


GROUPINGS_FILE = "groupings.json"


def save_groupings(
    out: str | Path,
    suite: str,
    groupings: dict[str, Sequence[Sequence[str]]],
    grouper: dict | None = None,
) -> None:
    """Remember a suite's named groupings (and how the recommended one was found: its config and
    PVI folder) beside the run store, so that `compare` and `report` can show them later."""
    path = Path(out) / GROUPINGS_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data[suite] = {
        "groupings": {k: [list(g) for g in v] for k, v in groupings.items()},
        "grouper": grouper,
    }
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=1)


def load_groupings(out: str | Path, suite: str) -> tuple[dict[str, list[list[str]]], dict | None]:
    """(named groupings, grouper description) saved for ``suite``; empty if none."""
    path = Path(out) / GROUPINGS_FILE
    entry = json.loads(path.read_text()).get(suite, {}) if path.exists() else {}
    return entry.get("groupings", {}), entry.get("grouper")
