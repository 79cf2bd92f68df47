"""The proof by training on real tasks: do PVI groups beat random groups, all tasks together and
the most different pairs? Mean MTL − STL macro-F1 over the grouped tasks, ± 95% CI over seeds.

    python bench/grouping.py --data-dir ../shared/data --seeds 1,2,3 --json bench/out/grouping.json

PVI is measured in probe mode on the training split (out-of-fold); groups follow --criterion:
pvalue (the paper's, Welch t-test / ANOVA, p ≥ 0.01: the figures recorded in RESULTS.md) or tost
(taskmix's default since issue 20: similarity shown by an equivalence test, Holm-corrected).
Random groups take the PVI groups' sizes (seeded);
"most different" pairs the tasks whose PVI differ the most. Each task's official validation set is
its test split; dev is made from train. Runs go through the run store in --out, so an
interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_training_args, glue_suite_config, training_setup, write_json  # noqa: E402

from taskmix.config import GroupConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.evaluate.proof import MultiTaskTrainer  # noqa: E402
from taskmix.experiment.groupers import training_groupings  # noqa: E402
from taskmix.relate.pvi import measure  # noqa: E402
from taskmix.report.html import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_training_args(ap, train_rows=400, steps_per_task=40)
    ap.add_argument("--tasks", default="cb,rte,mrpc,sst2,cola,wic")
    ap.add_argument(
        "--baselines",
        default="all,random,most_different",
        help="all, random, textemb, most_different",
    )
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--criterion", default="pvalue", choices=["pvalue", "tost", "effect"])
    ap.add_argument("--out", default="bench/out/grouping")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    suite = Suite.from_config(
        glue_suite_config(a.data_dir, a.tasks.split(","), train_rows=a.train_rows)
    )
    seeds, train, model, settings = training_setup(a)
    config = GroupConfig(method="pvi", alpha=a.alpha, criterion=a.criterion)
    t0 = time.time()
    pvi, _ = measure(suite, config.pvi, model, a.out, show_progress=True)
    grouper, groupings = training_groupings(
        suite, config, a.baselines.split(","), pvi=pvi, model=model, out=a.out
    )
    print(pvi.summary_.round(4).to_string(index=False))
    print(grouper.describe())
    for name, part in groupings.items():
        print(f"  {name}: {'; '.join('+'.join(g) for g in part if len(g) > 1) or '(none)'}")

    comp = MultiTaskTrainer(train, model, seeds=seeds, out=a.out).compare(suite, groupings)
    minutes = (time.time() - t0) / 60
    print(comp.printable().to_string(index=False))
    print()
    print(comp.printable_groupings().to_string(index=False))
    print(f"\n{len(comp.records)} runs; {minutes:.1f} min in this invocation")
    report = write_report(
        comp,
        Path(a.out) / "report",
        groups=grouper.groups_,
        grouper=grouper,
        title="taskmix bench — PVI grouping on real tasks",
    )
    print(f"report: {report}")

    def r2(x: float) -> float | None:
        return None if math.isnan(x) else round(x * 100, 2)

    figures: dict = {}
    for row in comp.by_grouping().itertuples():
        figures[row.grouping] = {
            "delta_macro_f1": {
                "grouped_tasks": r2(row.delta_grouped),
                "grouped_tasks_ci95": r2(row.delta_grouped_ci),
                "all_tasks": r2(row.delta_all),
                "all_tasks_ci95": r2(row.delta_all_ci),
            },
            "groups": {
                "groups": row.groups,
                "tasks_grouped": row.tasks_grouped,
                "helped": row.helped,
                "hurt": row.hurt,
            },
        }
    table = comp.table()
    for row in table.itertuples():
        if row.setting != "STL" and isinstance(row.grouping, str):
            for g in row.grouping.split(", "):
                figures[g].setdefault("delta_macro_f1_by_task", {})[row.task] = r2(row.delta)
        elif row.setting == "STL":
            figures.setdefault("stl", {}).setdefault("macro_f1", {})[row.task] = r2(row.macro_f1)
    figures["pvi_probe"] = {
        "v_information": {
            t: round(float(v), 4)
            for t, v in zip(pvi.summary_.task, pvi.summary_.v_information, strict=True)
        }
    }
    figures["settings"] = {
        **settings,
        "alpha": config.level,
        "criterion": a.criterion,
        "minutes": round(minutes, 1),
    }
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
