"""A 5 × 5 pairwise-transfer matrix (probe setting) on real tasks, end to end through the run store;
then the same grid killed half-way and run again: nothing finished is run twice.

    python bench/transfer_grid.py --data-dir ../shared/data --json bench/out/transfer_grid.json

1. The full grid from a cold feature cache in a fresh store, timed (5 targets alone + 20 pairs,
   over 3 seeds = 75 runs), and the same command again (everything reused).
2. In a second fresh store (features now cached), the grid runs in a child process that is killed
   (SIGKILL) once half the runs have finished; the grid is run again to the end. Each run's
   `finished` time in the store shows whether it was run again.

Sources are trained on all their (sampled) training rows; each target on --n of its rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import glue_suite_config, write_json  # noqa: E402

from taskmix.config import ModelConfig, TransferConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.experiment.transfer import PairwiseTransfer  # noqa: E402
from taskmix.store import RunStore  # noqa: E402

TASKS = "rte,cb,mrpc,sst2,cola"


def grid(a, out: Path) -> PairwiseTransfer:
    suite = Suite.from_config(glue_suite_config(a.data_dir, a.tasks.split(","), a.train_rows))
    cfg = TransferConfig(setting="probe", n=a.n, seeds=[int(s) for s in a.seeds.split(",")])
    return PairwiseTransfer(
        cfg, model=ModelConfig(max_length=a.max_length), out=out, show_progress=a.progress
    ).fit(suite)


def finished_times(db: Path) -> dict[str, float]:
    if not db.exists():
        return {}
    with RunStore(db) as store:
        return {r.id: r.finished for r in store.runs(status="finished")}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument(
        "--train-rows", type=int, default=4000, help="seeded sample of each training set"
    )
    ap.add_argument("--n", type=int, default=1000, help="training examples of each target")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--out", type=Path, default=Path("bench/out/transfer_grid"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument(
        "--child", type=Path, help=argparse.SUPPRESS
    )  # run the grid into this folder and exit
    a = ap.parse_args()
    if a.child:
        grid(a, a.child)
        return

    shutil.rmtree(a.out, ignore_errors=True)
    os.environ["TASKMIX_CACHE"] = str((a.out / "cache").resolve())  # a cold feature cache
    t0 = time.perf_counter()
    pt = grid(a, a.out / "full")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    grid(a, a.out / "full")
    warm = time.perf_counter() - t0
    total = len(pt.runs_)
    m = pt.matrix_
    print(m.scores().round(3).to_string())
    print(
        f"\n{total} runs: {cold:.1f} s from a cold feature cache (incl. model load and encoding); "
        f"the same command again: {warm:.1f} s (every run reused)"
    )

    # --- kill half-way, then resume
    db = a.out / "killed" / "taskmix.db"
    args = [
        sys.executable,
        __file__,
        "--data-dir",
        a.data_dir,
        "--tasks",
        a.tasks,
        "--train-rows",
        str(a.train_rows),
        "--n",
        str(a.n),
        "--seeds",
        a.seeds,
        "--max-length",
        str(a.max_length),
        "--child",
        str(a.out / "killed"),
    ]
    child = subprocess.Popen(
        args, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    t0 = time.perf_counter()
    while child.poll() is None and len(finished_times(db)) < total // 2:
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_after = time.perf_counter() - t0
    before = finished_times(db)
    with RunStore(db) as store:
        left_running = store.count("running")
    t0 = time.perf_counter()
    resumed = grid(a, a.out / "killed")
    resume_s = time.perf_counter() - t0
    after = finished_times(db)
    rerun = [i for i, t in before.items() if after.get(i) != t]
    same = resumed.matrix_.frame.equals(pt.matrix_.frame)
    print(
        f"\nkilled after {killed_after:.1f} s with {len(before)} of {total} runs finished "
        f"({left_running} left marked running); the rerun took {resume_s:.1f} s, ran "
        f"{len(after) - len(before)} "
        f"runs, re-ran {len(rerun)} finished ones; matrix identical to the uninterrupted one: "
        f"{same}"
    )
    com = m.commutativity()
    write_json(
        a.json,
        {
            "probe": {
                "score": {
                    f"{r.source}>{r.target}": round(r.score, 4) for r in m.frame.itertuples()
                },
                "pc": {f"{r.source}>{r.target}": round(r.pc, 4) for r in m.frame.itertuples()},
                "pm": {f"{r.source}>{r.target}": round(r.pm, 3) for r in m.frame.itertuples()},
            },
            "grid": {
                "seconds": {
                    "cold": round(cold, 1),
                    "cached": round(warm, 1),
                    "killed_after": round(killed_after, 1),
                    "resume": round(resume_s, 1),
                },
                "runs": {
                    "total": total,
                    "finished_before_kill": len(before),
                    "rerun_after_kill": len(after) - len(before),
                    "finished_run_twice": len(rerun),
                },
                "matrix_identical_after_resume": bool(same),
            },
            "analyses": {"commutative_share": com["share"], "pairs": com["pairs"]},
            "settings": {
                "tasks": a.tasks,
                "train_rows": a.train_rows,
                "n": a.n,
                "seeds": a.seeds,
                "max_length": a.max_length,
            },
        },
    )


if __name__ == "__main__":
    main()
