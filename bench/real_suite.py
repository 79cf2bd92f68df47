"""STL vs MTL on real tasks (subsets of RTE, CB, MRPC, SST-2 by default), over seeds.

Each task's official validation set is its test split here (the GLUE test labels are not
public); dev is made from train (seeded, stratified). Runs go through the run store in
--out, so an interrupted benchmark resumes.

    python bench/real_suite.py --data-dir ../shared/data --seeds 1,2,3 \
        --json bench/out/real_suite.json
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

from taskmix.data.suite import Suite  # noqa: E402
from taskmix.evaluate.metrics import METRICS  # noqa: E402
from taskmix.evaluate.proof import MultiTaskTrainer  # noqa: E402
from taskmix.report.html import write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_training_args(ap, train_rows=500, steps_per_task=60)
    ap.add_argument("--tasks", default="rte,cb,mrpc,sst2")
    ap.add_argument("--groups", default="rte,cb,mrpc,sst2;rte,cb", help='MTL groups, "a,b;c,d"')
    ap.add_argument("--out", default="bench/out/real_suite")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    suite = Suite.from_config(
        glue_suite_config(a.data_dir, a.tasks.split(","), train_rows=a.train_rows),
        base_dir=a.data_dir,
    )
    groups = [g.split(",") for g in a.groups.split(";")]
    seeds, train, model, settings = training_setup(a)
    t0 = time.time()
    comp = MultiTaskTrainer(train, model, seeds=seeds, out=a.out).compare(suite, groups)
    minutes = (time.time() - t0) / 60
    table = comp.table()
    print(comp.printable().to_string(index=False))
    print(f"\n{len(comp.records)} runs, {minutes:.1f} min in this invocation")
    report = write_report(
        comp, Path(a.out) / "report", groups=groups, title="taskmix bench — real tasks"
    )
    print(f"report: {report}")

    out: dict = {}
    for _, r in table.iterrows():
        method = (
            "stl" if r.setting == "STL" else r.setting.replace("MTL ", "mtl_").replace(" ", "_")
        )
        for m in METRICS[comp._kind(r.task)]:
            out.setdefault(method, {}).setdefault(m, {})[r.task] = round(r[m] * 100, 2)
            out[method].setdefault(m + "_ci95", {})[r.task] = (
                None if math.isnan(r[m + "_ci"]) else round(r[m + "_ci"] * 100, 2)
            )
        if r.setting != "STL":
            out[method].setdefault("delta_vs_stl", {})[r.task] = round(r.delta * 100, 2)
    out["settings"] = settings
    write_json(a.json, out)


if __name__ == "__main__":
    main()
