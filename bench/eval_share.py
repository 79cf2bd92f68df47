"""How much of a short run goes to evaluation: a 10-step run of one task with taskmix's default
evaluation (as many evaluations as the run can afford, up to four, on a dev sample; the last one and
the kept checkpoint on all of dev; then test), against the same run evaluated as taskmix 0.1 did
(four evaluations, every one on all of dev; its random batches too).

Reported per task: wall time of the run, and the shares of it spent scoring dev (checkpoint
choice) and scoring test (the run's result, the same in both).

    python bench/eval_share.py --data-dir ../shared/data --json bench/out/eval_share.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import glue_suite_config, write_json  # noqa: E402

from taskmix.config import ModelConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.models.backbone import BackboneFactory  # noqa: E402
from taskmix.train.trainer import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default="rte,mrpc,boolq")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    suite = Suite.from_config(glue_suite_config(a.data_dir, a.tasks.split(",")))
    factory = BackboneFactory(ModelConfig())
    setups = {
        "taskmix": TrainConfig(max_steps=a.steps),
        "taskmix_0.1": TrainConfig(
            max_steps=a.steps,
            eval_every=max(1, a.steps // 4),
            eval_examples=None,
            batching="random",
        ),
    }
    figures: dict = {}
    print(f"{a.steps}-step runs, default settings otherwise (batch 32, patience 4)")
    print(
        f"{'task':6} {'setup':12} {'dev':>5} {'test':>5} {'run s':>6} {'dev eval':>9}"
        f" {'test eval':>9} {'all eval':>9}"
    )
    for task in suite:
        for name, cfg in setups.items():
            r = Trainer(cfg, factory).fit([task], seed=1)
            wall = r.duration_s
            shares = {
                "dev": r.eval_seconds / wall,
                "test": r.test_seconds / wall,
                "all": (r.eval_seconds + r.test_seconds) / wall,
            }
            for k, v in shares.items():
                figures.setdefault(name, {}).setdefault(f"eval_share_{k}", {})[task.name] = v
            figures[name].setdefault("run_seconds", {})[task.name] = wall
            dev, test = len(task.splits["dev"]), len(task.splits["test"])
            print(
                f"{task.name:6} {name:12} {dev:5d} {test:5d} {wall:6.1f}"
                f" {shares['dev']:8.0%} {shares['test']:9.0%} {shares['all']:9.0%}"
            )
    figures["settings"] = {"steps": a.steps, "model": "minilm", "precision": "auto"}
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
