"""Start-up time of the commands users wait on: ``taskmix --help``, and ``runs`` / ``compare`` on a
store of 100 finished runs (a 10-task suite: STL of each task with 5 seeds, MTL of 5 pairs with 10
seeds; written straight into the store, no training). Each command runs as its own process, as a
user types it; the median of ``--rounds`` runs is reported beside the bare Python start-up and the
import of torch (what the read-only commands no longer pay).

    python bench/startup.py --json bench/out/startup.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import write_json  # noqa: E402

from taskmix.store import RunStore  # noqa: E402

TASKS = [f"task{i}" for i in range(10)]
PAIRS = [(TASKS[i], TASKS[i + 1]) for i in range(0, 10, 2)]


def make_store(out: Path) -> int:
    """100 finished runs: STL of 10 tasks (5 seeds each), MTL of 5 pairs (10 seeds each)."""
    runs = [([t], s) for t in TASKS for s in range(1, 6)]
    runs += [(list(p), s) for p in PAIRS for s in range(1, 11)]
    with RunStore(out / "taskmix.db") as store:
        for k, (tasks, seed) in enumerate(runs):
            kind = "stl" if len(tasks) == 1 else "mtl"
            run_id = f"run{k:03d}"
            store.add(
                run_id,
                suite="bench",
                setting=f"{kind}:{'+'.join(tasks)}",
                kind=kind,
                tasks=tasks,
                seed=seed,
                config={
                    "kinds": {t: "classification" for t in tasks},
                    "model": {"name": "minilm", "max_length": 128},
                    "train": {"max_steps": 200, "batch_size": 32, "lr": 5e-5},
                },
            )
            store.claim(run_id)
            store.start(run_id)
            score = {t: 0.6 + 0.01 * ((seed * 7 + k) % 10) for t in tasks}
            store.finish(
                run_id,
                {
                    "test": {t: {"accuracy": v, "macro_f1": v} for t, v in score.items()},
                    "dev": {t: {"accuracy": v, "macro_f1": v} for t, v in score.items()},
                    "steps": 200,
                    "rows": {t: {"train": 800, "dev": 200, "test": 500} for t in tasks},
                },
            )
    return len(runs)


def timed(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="runs of each command (median)")
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        n = make_store(out)
        commands = {
            "python": [py, "-c", "pass"],
            "import_torch": [py, "-c", "import torch"],
            "help": [py, "-m", "taskmix.cli", "--help"],
            "runs": [py, "-m", "taskmix.cli", "runs", "--out", str(out)],
            "compare": [py, "-m", "taskmix.cli", "compare", "--out", str(out)],
        }
        timed(commands["help"], 1)  # warm the file cache
        seconds = {name: timed(cmd, a.rounds) for name, cmd in commands.items()}
    goals = {"help": 0.5, "runs": 1.0, "compare": 1.0}
    print(f"store of {n} finished runs; median of {a.rounds} runs of each command")
    print(f"{'command':14} {'seconds':>8}  goal")
    for name, s in seconds.items():
        goal = (
            f"<= {goals[name]} s: {'met' if s <= goals[name] else 'NOT met'}"  # noqa: E501
            if name in goals
            else ""
        )
        print(f"{name:14} {s:8.2f}  {goal}")
    write_json(a.json, {"startup": {"seconds": seconds}, "store": {"runs": n}})


if __name__ == "__main__":
    main()
