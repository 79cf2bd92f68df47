"""What `taskmix runs` lists: one row per run of a store, without pandas or scipy (a command that
only reads a store starts in well under a second)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from taskmix.evaluate.metrics import LABELS, METRICS
from taskmix.store import RunRecord

COLUMNS = ["id", "suite", "setting", "seed", "status", "minutes", "test", "model"]


def run_rows(records: Sequence[RunRecord]) -> list[dict]:
    """One row per run: id, suite, setting, seed, status (a run held by a process that is gone
    shows as interrupted), minutes, and each task's main test metric named (or the error of a
    failed run), and where its saved model is (``train --keep``)."""

    def scores(r: RunRecord) -> str:
        kinds = r.config.get("kinds", {})
        shown = []
        for task, metrics in (r.metrics or {}).get("test", {}).items():
            name = METRICS.get(kinds.get(task, ""), ("", ""))[1]
            name = name if name in metrics else next(iter(metrics), "")
            if name:
                shown.append(f"{task} {LABELS.get(name, name)} {metrics[name] * 100:.1f}")
        return ", ".join(shown)

    return [
        {
            "id": r.id[:10],
            "suite": r.suite,
            "setting": r.setting,
            "seed": r.seed,
            "status": r.shown_status(),
            "minutes": round((r.duration or 0) / 60, 2),
            "test": scores(r) or (r.error or ""),
            "model": model_folder(r),
        }
        for r in records
    ]


def model_folder(r: RunRecord) -> str:
    """The folder of the run's saved model, or "" when it kept none."""
    folder = Path(r.artifacts or "") / "model"
    return str(folder) if r.artifacts and (folder / "taskmix_model.json").is_file() else ""
