"""Throughput on a shared machine: the same small grid (2 tasks, STL of each and their MTL group,
2 seeds: 6 runs) with `taskmix train`, on an idle machine and beside a process that keeps every
core busy (one busy-looping Python process per usable CPU; ``--burners N`` for more). taskmix
chooses its threads from the machine's free cores before each run and lets OpenMP threads sleep
when they wait; with
``--baseline-src`` (a checkout of an earlier taskmix's ``src``) the same grid also runs with that
code, for the figure before the change.

The figure is training examples per second (the mean over the grid's runs, as the run store
records it) and the grid's wall time.

    python bench/threads.py --data-dir ../shared/data --baseline-src /tmp/old/src \
        --json bench/out/threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from common import glue_suite_config, write_json  # noqa: E402

from taskmix.execute import usable_cpus  # noqa: E402

TRAIN = {"batch_size": 16, "patience": None}


def grid(work: Path, src: Path | None, suite: Path, config: Path, burners: int) -> dict:
    """Run the grid once (beside ``burners`` busy-looping processes); examples/s and seconds."""
    out = Path(tempfile.mkdtemp(dir=work))
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, "-c", "from taskmix.cli import main; main()", "train", str(suite)]
    cmd += ["--groups", "rte,sst2", "--seeds", "1,2", "--config", str(config), "--out", str(out)]
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    if procs:
        time.sleep(1.0)  # they are running when the grid starts
    try:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    finally:
        for b in procs:
            b.kill()
            b.wait()
    if done.returncode != 0:
        raise SystemExit(f"the grid failed:\n{done.stderr}")
    with sqlite3.connect(out / "taskmix.db") as db:
        rows = db.execute("SELECT metrics FROM runs WHERE status='finished'").fetchall()
    speeds = [json.loads(m)["examples_per_s"] for (m,) in rows]
    return {"examples_per_s": sum(speeds) / len(speeds), "wall_s": wall, "runs": len(speeds)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--train-rows", type=int, default=400)
    ap.add_argument("--steps", type=int, default=12, help="training steps of each run")
    ap.add_argument(
        "--burners", type=int, help="busy-looping processes beside the grid [default: one a CPU]"
    )
    ap.add_argument("--baseline-src", type=Path, help="an earlier taskmix's src folder")
    ap.add_argument(
        "--only-baseline", action="store_true", help="run the grid with the baseline code only"
    )
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = glue_suite_config(a.data_dir, ["rte", "sst2"], train_rows=a.train_rows)
        suite = work / "suite.yaml"
        suite.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True)))
        config = work / "run.yaml"
        train = {**TRAIN, "max_steps": a.steps, "eval_every": a.steps}
        config.write_text(yaml.safe_dump({"train": train}))
        burners = a.burners or usable_cpus()
        versions = {} if a.only_baseline else {"taskmix": None}
        if a.baseline_src:
            versions["baseline"] = a.baseline_src.resolve()
        figures: dict = {}
        for name, src in versions.items():
            for state in ("idle", "busy"):
                r = grid(work, src, suite, config, burners if state == "busy" else 0)
                for metric, value in r.items():
                    figures.setdefault(name, {}).setdefault(metric, {})[state] = value
                print(
                    f"{name:9} {state:5} {r['examples_per_s']:7.1f} examples/s "
                    f"({r['runs']} runs, {r['wall_s']:.0f} s)",
                    flush=True,
                )
            speed = figures[name]["examples_per_s"]
            figures[name]["busy_vs_idle"] = {"ratio": speed["busy"] / speed["idle"]}
            print(f"{name:9} busy / idle: {speed['busy'] / speed['idle']:.2f}x (goal >= 0.4x)")
    figures["settings"] = {
        "train": train,
        "train_rows": a.train_rows,
        "cpus": usable_cpus(),
        "burners": burners,
    }
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
