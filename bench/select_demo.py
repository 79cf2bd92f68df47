"""Source selection on the synthetic demo suite, where the related tasks are planted.

    python bench/select_demo.py --json bench/out/select_demo.json

1. The probe-setting transfer matrix of the 7 demo tasks (targets trained on --n rows, 3 seeds).
2. For every target of a planted group, leave-one-out: its sources ranked by the measured
   transfers (gold), by Retrieval-of-Experts F alone and by TaskShop; is the top-ranked source a
   planted relative, and how many of the top-|relatives| are?
3. The multi-task proof for one target: trained alone, with the TaskShop top-k, random k,
   bottom-k and all sources, over seeds (mean difference from the target alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_json  # noqa: E402

from taskmix.config import SelectConfig, TrainConfig, TransferConfig  # noqa: E402
from taskmix.data.suite import demo_suite  # noqa: E402
from taskmix.evaluate.proof import MultiTaskTrainer  # noqa: E402
from taskmix.evaluate.selection import train_selection  # noqa: E402
from taskmix.experiment.transfer import PairwiseTransfer  # noqa: E402
from taskmix.relate.ranking import rank  # noqa: E402
from taskmix.relate.similarity import RetrievalOfExperts  # noqa: E402
from taskmix.relate.taskshop import TaskShop  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=60, help="training rows of each target")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--target", default="negation_site_b", help="target of the multi-task proof")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--steps-per-task", type=int, default=25)
    ap.add_argument("--out", type=Path, default=Path("bench/out/select_demo"))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    suite = demo_suite()
    t0 = time.perf_counter()
    pt = PairwiseTransfer(
        TransferConfig(setting="probe", n=a.n, seeds=seeds), out=a.out, show_progress=False
    ).fit(suite)
    matrix_s = time.perf_counter() - t0
    m = pt.matrix_
    F = (
        RetrievalOfExperts(backbone=pt.backbone_, cache=pt.cache_)
        .fit(list(suite))
        .score(list(suite))
    )
    relatives = {t: [x for x in g if x != t] for g in suite.groups.values() for t in g}
    figures: dict = {
        "gold": {"top1_relative": {}},
        "roe": {"top1_relative": {}},
        "taskshop": {"top1_relative": {}},
        "precision_at_relatives": {"gold": {}, "roe": {}, "taskshop": {}},
    }
    print(f"transfer matrix (probe, n = {a.n}, {len(seeds)} seeds): {matrix_s:.0f} s\n")
    for t, rel in relatives.items():
        sources = [s for s in suite.names if s != t]
        rankings = {
            "gold": rank(m.scores().loc[t, sources]),
            "roe": rank(F.loc[t, sources]),
            "taskshop": list(TaskShop().fit(m.without(t)).predict(t, F.loc[t], sources).index),
        }
        print(f"{t} (relatives: {', '.join(rel)})")
        for name, r in rankings.items():
            hit = r[0] in rel
            prec = len(set(r[: len(rel)]) & set(rel)) / len(rel)
            figures[name]["top1_relative"][t] = hit
            figures["precision_at_relatives"][name][t] = prec
            print(
                f"  {name:<9} top: {', '.join(r[:3])}   top-1 a relative: {hit}; "
                f"precision@{len(rel)} {prec:.2f}"
            )
    for name in ("gold", "roe", "taskshop"):
        hits = figures[name]["top1_relative"]
        figures[name]["top1_share"] = sum(hits.values()) / len(hits)
        print(
            f"{name}: top-ranked source is a planted relative for {sum(hits.values())} of "
            f"{len(hits)} targets"
        )

    # --- the multi-task proof for one target
    cfg = SelectConfig(k=a.k)
    sources = [s for s in suite.names if s != a.target]
    ranking = list(
        TaskShop(cfg.lam).fit(m.without(a.target)).predict(a.target, F.loc[a.target], sources).index
    )
    train = TrainConfig(
        max_steps=a.steps_per_task,
        steps_per_task=True,
        batch_size=16,
        lr=1e-4,
        patience=None,
        freeze_embeddings=True,
    )
    t0 = time.perf_counter()
    _, table = train_selection(
        suite,
        a.target,
        ranking,
        cfg,
        trainer=MultiTaskTrainer(train, seeds=seeds, out=a.out, show_progress=False),
    )
    print(
        f"\n{a.target} with k = {a.k} sources ({time.perf_counter() - t0:.0f} s); TaskShop "
        f"ranking: {', '.join(ranking)}"
    )
    print(table.round(4).to_string(index=False))
    metric = table.columns[3]
    figures["proof"] = {
        "target": a.target,
        "k": a.k,
        "metric": metric,
        "delta": {r.grouping: round(100 * r.delta, 2) for r in table.itertuples()},
        "delta_ci": {r.grouping: round(100 * r.delta_ci, 2) for r in table.itertuples()},
        "ranking": ranking,
    }
    figures["matrix_seconds"] = round(matrix_s, 1)
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
