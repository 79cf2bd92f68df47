"""Does the combined advice beat every single signal? Checked on two ground truths, leave one task
out, every signal's figure reported.

    python bench/advise_eval.py --data-dir ../shared/data --gains bench/data/pair_gains.csv \
        --json bench/out/advise_eval.json

1. Measured transfer (TaskWeb, Kim et al. 2023): the mean TaskWeb score over its 7 model /
   adaptation settings for the 9 tasks whose data we have (boolq, cb, copa, mrpc, qnli,
   rotten_tomatoes = rt, rte, stsb, wic; 72 ordered pairs). Per target: Spearman between a
   signal's affinity source → target and the measured transfer, and NDCG of its ranking of the
   sources; mean over the targets.
2. Measured multi-task gains (bench/pair_gains.py): per pair, the mean over its two tasks of MTL −
   STL. Spearman of each signal's pair affinity with the measured gain, over all pairs and per
   task (the pairs that contain it); and the measured gain of the partition into pairs each one
   recommends, against random partitions with as many pairs and against all tasks in one model.

Signals: TextEmb, PVI (probe; STS-B cut into 5 bins) and TAG lookahead affinity + gradient cosine
from one multi-task run of the tasks (`taskmix advise`'s own code), and on TaskWeb also the
published Retrieval-of-Experts similarity and TaskShop (pivots through all 21 TaskWeb tasks, the
target's own column held out). The combined advisor: a least-squares fit of the
measured value on the standardised signals, fitted leave one task out — every pair that contains
the held-out task is predicted by weights fitted on the pairs that do not (never on the pair
itself) — and equal weights (`taskmix advise`'s default) beside it.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import sampled_suite, write_json  # noqa: E402
from scipy import stats  # noqa: E402

from taskmix.config import (  # noqa: E402
    AdviseConfig,
    GroupConfig,
    ModelConfig,
    PVIConfig,
    RunConfig,
    TrainConfig,
)
from taskmix.evaluate.advise import Advisor  # noqa: E402
from taskmix.evaluate.metrics import mean_ci  # noqa: E402
from taskmix.group.affinity import Affinity, combine, taskshop_affinity  # noqa: E402
from taskmix.group.partition import random_partition  # noqa: E402
from taskmix.relate.matrix import TransferMatrix  # noqa: E402
from taskmix.relate.ranking import ndcg, rank  # noqa: E402
from taskmix.relate.similarity import load_similarity  # noqa: E402

TASKWEB = {  # our bench task → its TaskWeb name
    "boolq": "boolq",
    "cb": "cb",
    "copa": "copa",
    "mrpc": "mrpc",
    "qnli": "qnli",
    "rt": "rotten_tomatoes",
    "rte": "rte",
    "stsb": "stsb",
    "wic": "wic",
}


def measured_signals(names, data_dir, out, tag_steps, train_rows) -> list[Affinity]:
    suite = sampled_suite(data_dir, names, train_rows)
    run = RunConfig(
        model=ModelConfig(max_length=64),
        train=TrainConfig(freeze_embeddings=True),
        group=GroupConfig(pvi=PVIConfig(bins=5)),
        seeds=[1],
        out=out,
        advise=AdviseConfig(tag_steps=tag_steps),
    )
    signals, notes = Advisor(run, show_progress=True).signals(suite)
    for n in notes:
        print("note:", n)
    return signals


def standard(a: Affinity, names) -> pd.DataFrame:
    return a.standardised().loc[names, names]


def fitted(signals: list[Affinity], gold: pd.DataFrame, names, symmetric: bool) -> Affinity:
    """The combined affinity, each entry predicted by least-squares weights fitted on the
    entries that involve neither of its two tasks (leave one task out, the pair never in its own
    fit)."""
    S = [standard(a, names) for a in signals]
    pred = pd.DataFrame(np.nan, index=names, columns=names)
    ordered = [(i, j) for i, j in itertools.permutations(names, 2)]
    for i, j in ordered:
        train = [(a, b) for a, b in ordered if {a, b}.isdisjoint({i, j})]
        if symmetric:
            train = [(a, b) for a, b in train if a < b]
        X = np.array([[np.nan_to_num(s.loc[a, b]) for s in S] + [1.0] for a, b in train])
        y = np.array([gold.loc[a, b] for a, b in train], dtype=float)
        ok = np.isfinite(y)
        w = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
        pred.loc[i, j] = float(np.dot([np.nan_to_num(s.loc[i, j]) for s in S], w[:-1]))
    return Affinity("combined (fitted, LOO)", pred, neutral=0.0)


def per_target(a: Affinity, gold: pd.DataFrame, names) -> tuple[list[float], list[float]]:
    """Per target: Spearman(affinity s → t, measured s → t) and NDCG of the ranking."""
    rhos, gains = [], []
    for t in names:
        src = [s for s in names if s != t and np.isfinite(gold.loc[s, t])]
        x = a.matrix.loc[src, t].astype(float)
        y = gold.loc[src, t].astype(float)
        rhos.append(float(stats.spearmanr(x, y).statistic))
        gains.append(ndcg(rank(x), rank(y)))
    return rhos, gains


def transfer_truth(data_dir: Path, tag_steps: int, out: str, train_rows: int) -> dict:
    d = data_dir / "taskweb"
    matrix = TransferMatrix.load(d / "taskweb_pairwise.csv", setting="ALL/ALL")
    ours = list(TASKWEB)
    scores = matrix.scores()  # target × source
    gold = pd.DataFrame(np.nan, index=ours, columns=ours)  # source × target
    for s, t in itertools.permutations(ours, 2):
        gold.loc[s, t] = scores.loc[TASKWEB[t], TASKWEB[s]]
    signals = measured_signals(ours, data_dir, out, tag_steps, train_rows)
    roe = load_similarity(d / "taskweb_roe_minilm_dot32.csv")  # target × source
    r = pd.DataFrame(np.nan, index=ours, columns=ours)
    for s, t in itertools.permutations(ours, 2):
        r.loc[s, t] = roe.loc[TASKWEB[t], TASKWEB[s]]
    signals.append(Affinity("roe", r, neutral=None, description="Retrieval-of-Experts (published)"))
    # TaskShop through every TaskWeb task as a pivot, each target's own column held out
    shop = taskshop_affinity(matrix, roe).matrix
    back = {v: k for k, v in TASKWEB.items()}
    shop = shop.loc[list(TASKWEB.values()), list(TASKWEB.values())].rename(index=back, columns=back)
    signals.append(Affinity("taskshop", shop, description="TaskShop (λ 0.7, F = RoE)"))
    out_fig = {}
    everything = [*signals, combine(signals), fitted(signals, gold, ours, symmetric=False)]
    for a in everything:
        a = Affinity(a.name, a.matrix.loc[ours, ours], neutral=a.neutral)
        rhos, gains = per_target(a, gold, ours)
        (rho, rh), (g, gh) = mean_ci(np.nan_to_num(rhos)), mean_ci(gains)
        out_fig[a.name] = {
            "spearman": round(rho, 3),
            "spearman_ci95": round(rh, 3),
            "ndcg": round(100 * g, 2),
            "ndcg_ci95": round(100 * gh, 2),
        }
        print(
            f"  {a.name:26s} Spearman {rho:+.3f} ± {rh:.3f}   NDCG {100 * g:6.2f} ± {100 * gh:.2f}"
            "  (95% CI over the 9 targets)"
        )
    return out_fig


def pair_truth(gains_csv: Path, data_dir: Path, tag_steps: int, out: str, train_rows: int):
    frame = pd.read_csv(gains_csv)
    pairs = frame[frame.pair != "all"]
    names = list(dict.fromkeys(pairs.task))
    seeds = sorted(set(frame.seed))
    per_pair_seed = pairs.groupby(["pair", "seed"]).gain.mean()
    gold = pd.DataFrame(np.nan, index=names, columns=names)
    for p in pairs.pair.unique():
        a, b = p.split("+")
        gold.loc[a, b] = gold.loc[b, a] = float(per_pair_seed[p].mean())
    signals = measured_signals(names, data_dir, out, tag_steps, train_rows)
    gain_of = {  # (pair, task, seed) → gain
        (r.pair, r.task, r.seed): r.gain for r in pairs.itertuples()
    }

    def partition_gain(part) -> np.ndarray:
        per_seed = []
        for s in seeds:
            total = sum(
                gain_of[("+".join(_order(g, names)), t, s)] for g in part if len(g) == 2 for t in g
            )
            per_seed.append(total / len(names))
        return np.array(per_seed)

    figures: dict = {}
    everything = [*signals, combine(signals), fitted(signals, gold, names, symmetric=True)]
    for a in everything:
        sym = pd.Series({p: a.pair(*p.split("+")) for p in pairs.pair.unique()})
        truth = pd.Series({p: gold.loc[tuple(p.split("+"))] for p in sym.index})
        rho_all = stats.spearmanr(sym, truth).statistic
        rho_task, rho_task_ci = mean_ci(
            np.nan_to_num(
                [
                    stats.spearmanr(
                        sym[[p for p in sym.index if t in p.split("+")]],
                        truth[[p for p in sym.index if t in p.split("+")]],
                    ).statistic
                    for t in names
                ]
            )
        )
        part = a.partition(max_size=2)
        m, h = mean_ci(partition_gain(part))
        figures[a.name] = {
            "spearman_pairs": round(float(rho_all), 3),
            "spearman_per_task": round(float(rho_task), 3),
            "spearman_per_task_ci95": round(float(rho_task_ci), 3),
            "partition_gain": round(100 * m, 2),
            "partition_gain_ci95": round(100 * h, 2),
            "partition": "; ".join("+".join(g) for g in part if len(g) > 1) or "-",
        }
        print(
            f"  {a.name:26s} Spearman pairs {rho_all:+.3f}  per task {rho_task:+.3f} ± "
            f"{rho_task_ci:.3f}  "
            f"partition gain {100 * m:+.2f} ± {100 * h:.2f}  ({figures[a.name]['partition']})"
        )
    # random partitions with as many pairs as the fitted advisor's, and all tasks together
    k = max(1, len([g for g in part if len(g) > 1]))
    draws = np.stack([partition_gain(random_partition(names, [2] * k, i)) for i in range(500)])
    m, h = mean_ci(draws.mean(axis=0))
    figures["random"] = {
        "partition_gain": round(100 * m, 2),
        "partition_gain_ci95": round(100 * h, 2),
    }
    print(f"  random ({k} pairs, 500 draws)  partition gain {100 * m:+.2f} ± {100 * h:.2f}")
    everything_gain = frame[frame.pair == "all"].groupby("seed").gain.mean().to_numpy()
    if len(everything_gain):
        m, h = mean_ci(everything_gain)
        figures["all_tasks"] = {
            "partition_gain": round(100 * m, 2),
            "partition_gain_ci95": round(100 * h, 2),
        }
        print(f"  all tasks in one model        partition gain {100 * m:+.2f} ± {100 * h:.2f}")
    return figures


def _r(x: float) -> float:
    return round(100 * float(x), 2)


def _order(group, names) -> list[str]:
    return sorted(group, key=names.index)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--gains", type=Path, default=Path("bench/data/pair_gains.csv"))
    ap.add_argument("--tag-steps", type=int, default=300)
    ap.add_argument("--train-rows", type=int, default=500)
    ap.add_argument("--out", default="bench/out/advise_eval")
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.time()
    figures = {}
    if not a.skip_transfer:
        print("TaskWeb measured transfer, 9 tasks (mean over targets):")
        figures["transfer"] = transfer_truth(a.data_dir, a.tag_steps, a.out, a.train_rows)
    if a.gains.exists():
        print("measured pair gains (bench/pair_gains.py):")
        figures["pair_gain"] = pair_truth(a.gains, a.data_dir, a.tag_steps, a.out, a.train_rows)
    figures["settings"] = {
        "tag_steps": a.tag_steps,
        "train_rows": a.train_rows,
        "minutes": round((time.time() - t0) / 60, 1),
    }
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
