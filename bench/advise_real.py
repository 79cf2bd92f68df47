"""`taskmix advise` on a real suite, timed: does it produce a recommendation with verdicts within
the time a user would wait (goal: ≤ 30 min on this machine)?

    python bench/advise_real.py --data-dir ../shared/data --budget-minutes 30 \
        --json bench/out/advise_real.json

The suite: 8 real classification tasks, --train-rows examples of each (seeded samples; dev ≤ 500,
test ≤ 1000). The advisor runs with its defaults (all five signals; budget in wall time: a check
starts only if it is predicted to end within --budget-minutes of the start, at the mean duration
of the runs trained so far, so a run slower than that ends late), training at taskmix's default
budget (at most 30 epochs, early stopping) with word embeddings frozen, inputs cut at 64 tokens,
into a fresh run store (nothing reused).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_workers_arg, bench_executor, sampled_suite, write_json  # noqa: E402

from taskmix.config import AdviseConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from taskmix.evaluate.advise import Advisor  # noqa: E402

TASKS = "sst2,rt,custrev,mpqa,subj,agnews,qnli,mrpc"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument("--train-rows", type=int, default=300)
    ap.add_argument("--budget-minutes", type=float, default=30.0)
    ap.add_argument(
        "--signals",
        default=",".join(AdviseConfig().signals),
        help="the signals measured, comma-separated (default: all five)",
    )
    add_workers_arg(ap)
    ap.add_argument("--out", default="bench/out/advise_real")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shutil.rmtree(a.out, ignore_errors=True)  # timed from nothing

    t0 = time.monotonic()
    suite = sampled_suite(a.data_dir, a.tasks.split(","), a.train_rows)
    run = RunConfig(
        model=ModelConfig(max_length=64),
        train=TrainConfig(freeze_embeddings=True),
        seeds=[1, 2],
        out=a.out,
        advise=AdviseConfig(
            budget_runs=None, budget_minutes=a.budget_minutes, signals=a.signals.split(",")
        ),
    )
    executor = bench_executor(a.workers)
    advice = Advisor(run, executor=executor, show_progress=True).advise(suite)
    minutes = (time.monotonic() - t0) / 60
    advice.save(Path(a.out))
    table = advice.groups[
        [
            "group",
            "proposed",
            "signals_for",
            "predicted",
            "seeds",
            "delta",
            "delta_ci",
            "verdict",
            "expected",
            "advice",
            "recommended",
        ]
    ]
    print(table.to_string(index=False))
    for note in advice.notes:
        print("note:", note)
    said = "; ".join("+".join(g) for g in advice.recommended if len(g) > 1) or "every task alone"
    print(f"recommended: {said}")
    print(f"{advice.runs} runs, {minutes:.1f} min in all (goal ≤ 30)")
    verdicts = {r.group: r.verdict for r in advice.groups.itertuples()}
    write_json(
        a.json,
        {
            "advise": {
                "minutes": {"real_suite": round(minutes, 1)},
                "runs": {"real_suite": advice.runs},
                "verdict": verdicts,
                "recommended": {"real_suite": said},
            },
            "settings": {
                "tasks": a.tasks.split(","),
                "train_rows": a.train_rows,
                "budget_minutes": a.budget_minutes,
                "signals": a.signals.split(","),
                "workers": a.workers,
            },
        },
    )


if __name__ == "__main__":
    main()
