"""What TAG's lookahead affinity costs: one multi-task run of all tasks with the affinity hook
(its default schedule, every ~20th step for 8 tasks) against the same run without it, same seed,
same process — and whether the hook left the run unchanged.

    python bench/tag_cost.py --data-dir ../shared/data --steps 200 --json bench/out/tag_cost.json

The goal: the hooked run costs at most 1.5× the plain one (whole run: training, evaluation and
the hook).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import sampled_suite, write_json  # noqa: E402

from taskmix.config import ModelConfig, TrainConfig  # noqa: E402
from taskmix.models.backbone import BackboneFactory  # noqa: E402
from taskmix.train.lookahead import LookaheadAffinity  # noqa: E402
from taskmix.train.trainer import Trainer  # noqa: E402

TASKS = "sst2,rt,custrev,mpqa,subj,agnews,qnli,mrpc"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument("--train-rows", type=int, default=500)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    suite = sampled_suite(a.data_dir, a.tasks.split(","), a.train_rows)
    train = TrainConfig(max_steps=a.steps, freeze_embeddings=True, patience=None)
    trainer = Trainer(train, BackboneFactory(ModelConfig(max_length=a.max_length)))
    tasks = list(suite)
    trainer.fit(tasks[:1], seed=1)  # warm-up: tokenisation caches, first-call costs

    t0 = time.perf_counter()
    plain = trainer.fit(tasks, seed=1)
    plain_s = time.perf_counter() - t0
    hook = LookaheadAffinity(seed=1)
    t0 = time.perf_counter()
    hooked = trainer.fit(tasks, seed=1, hooks=[hook])
    hooked_s = time.perf_counter() - t0

    same = plain.test == hooked.test and plain.history == hooked.history
    ratio = hooked_s / plain_s
    print(
        f"{len(tasks)} tasks, {a.steps} steps, batch {train.batch_size}, MiniLM len {a.max_length}"
    )
    print(f"plain run   {plain_s:7.1f} s  (train {plain.train_seconds:.1f} s)")
    print(
        f"with TAG    {hooked_s:7.1f} s  (train {hooked.train_seconds:.1f} s, hook "
        f"{hooked.hook_seconds:.1f} s, {hook.samples} steps measured, every {hook.every_})"
    )
    print(f"cost ratio  {ratio:.2f}× (goal ≤ 1.5×); run unchanged by the hook: {same}")
    write_json(
        a.json,
        {
            "tag": {
                "cost_ratio": {"all_tasks_run": round(ratio, 3)},
                "seconds": {"plain": round(plain_s, 1), "with_hook": round(hooked_s, 1)},
                "hook_seconds": {"all_tasks_run": round(hooked.hook_seconds, 1)},
                "samples": {"all_tasks_run": hook.samples},
                "run_unchanged": {"all_tasks_run": same},
            },
            "settings": {
                "tasks": a.tasks.split(","),
                "steps": a.steps,
                "train_rows": a.train_rows,
                "max_length": a.max_length,
                "every": hook.every_,
                "per_task": hook.per_task,
            },
        },
    )


if __name__ == "__main__":
    main()
