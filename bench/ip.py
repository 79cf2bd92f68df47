"""Inspirational Pointer vs full fine-tuning, LoRA, (IA)³, BitFit and IP without descriptions (issue
6).

1. Multi-task training of each method on six shared tasks (RTE, MRPC, SST-2, CoLA, QNLI, WiC;
   seeded samples of the training sets, dev/test capped) through the taskmix trainer: test
   accuracy per task and the average, trainable parameters (IP: checked against the paper's
   formula t·(d1 + d2 + t + n2) + n1).
2. Few-shot transfer: from each multi-task model (its shared weights: IP's T, w, L, C; the
   full model's encoder; the LoRA / (IA)³ adapters; the BitFit biases) to CB and BoolQ with k
   training examples (k = 4, 16, 32) and a new head, over seeds: test accuracy mean ± 95% CI.
3. Wall time and peak memory (RSS growth) per training step of IP vs full fine-tuning, each
   measured in a fresh process.
4. The cosine similarity of mean task embeddings with and without descriptions (Figure 4 of the
   paper), as heatmaps.

    python bench/ip.py --data-dir ../shared/data --json bench/out/ip.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from common import glue_suite_config, write_json  # noqa: E402  (sets offline env first)
from scipy import stats  # noqa: E402

from taskmix.config import ModelConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.data.task import Task  # noqa: E402
from taskmix.models.backbone import BackboneFactory  # noqa: E402
from taskmix.models.ip import embedding_similarity, mean_task_embeddings  # noqa: E402
from taskmix.report.plots import embedding_heatmap  # noqa: E402
from taskmix.train.trainer import Trainer  # noqa: E402

SHARED = ["rte", "mrpc", "sst2", "cola", "qnli", "wic"]
TARGETS = ["cb", "boolq"]
# method → (adaptation, learning rate, extra settings); one learning rate each, not tuned
METHODS = {
    "ip": ("ip", 1e-3, {}),
    "ip-nodesc": ("ip", 1e-3, {"ip_descriptions": False}),
    "full": ("full", 5e-5, {}),
    "lora": ("lora", 5e-4, {}),
    "ia3": ("ia3", 3e-3, {}),
    "bitfit": ("bitfit", 1e-3, {}),
}


def capped(task: Task, dev: int, test: int) -> Task:
    """The task with at most ``dev`` / ``test`` examples (the first ones: splits are already
    shuffled)."""
    splits = dict(task.splits)
    for name, cap in (("dev", dev), ("test", test)):
        if name in splits and len(splits[name]) > cap:
            splits[name] = splits[name].subset(np.arange(cap))
    return dataclasses.replace(task, splits=splits)


def few_shot_task(task: Task, k: int, seed: int) -> Task:
    """k seeded training examples (at least one per class where k allows) and the test split."""
    train = task.splits["train"]
    rng = np.random.default_rng(seed)
    labels = train.labels.astype(int)
    first = [int(rng.choice(np.flatnonzero(labels == c))) for c in np.unique(labels)][:k]
    rest = rng.permutation(np.setdiff1d(np.arange(len(train)), first))[: k - len(first)]
    pick = np.concatenate([first, rest]).astype(int)
    return dataclasses.replace(
        task, splits={"train": train.subset(pick), "test": task.splits["test"]}
    )


def ci95(values) -> float:
    v = np.asarray(values, float)
    return (
        float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
        if len(v) > 1
        else float("nan")
    )


def step_cost(args) -> dict:
    """Seconds and RSS growth (MB) per training step of one method, in this (fresh) process."""
    method, batch_size, max_length, steps = args
    torch.set_num_threads(2)
    from taskmix.data.suite import demo_suite

    adaptation, lr, extra = METHODS[method]
    cfg = TrainConfig(
        adaptation=adaptation,
        lr=lr,
        max_steps=steps,
        batch_size=batch_size,
        patience=None,
        eval_every=10**6,
        **extra,
    )
    factory = BackboneFactory(ModelConfig(max_length=max_length))
    factory.template  # noqa: B018  (load the weights before measuring)
    suite = demo_suite()
    tasks = [suite["negation_site_a"], suite["topic"]]
    for t in tasks:  # no evaluation inside the measured steps
        t.splits.pop("dev", None)
    times = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    last = [time.perf_counter()]

    def tick(step, total):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    Trainer(cfg, factory).fit(tasks, seed=0, progress=tick)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "s_per_step": float(np.median(times[2:])),
        "peak_rss_growth_mb": (rss1 - rss0) / 1024,
        "peak_rss_mb": rss1 / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--train-rows",
        type=int,
        default=1000,
        help="seeded sample of each shared task's training set",
    )
    ap.add_argument("--dev-rows", type=int, default=200)
    ap.add_argument("--test-rows", type=int, default=300)
    ap.add_argument("--steps", type=int, default=600, help="multi-task training steps")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--k", default="4,16,32")
    ap.add_argument("--seeds", default="1,2,3,4,5", help="few-shot seeds")
    ap.add_argument("--fewshot-steps", type=int, default=40)
    ap.add_argument(
        "--cost-steps", type=int, default=12, help="steps timed per method for the step cost"
    )
    ap.add_argument("--only-cost", action="store_true", help="measure the step cost only")
    ap.add_argument("--out", type=Path, default=Path("bench/out/ip"))
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="re-train every method (default: reuse methods finished earlier with the same "
        "settings)",
    )
    a = ap.parse_args()
    methods = [m for m in a.methods.split(",") if m]
    ks = [int(k) for k in a.k.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    a.out.mkdir(parents=True, exist_ok=True)
    figures: dict = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    }

    # ------------------------------------------------------------ 3. step cost, fresh processes
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        cost = {
            m: pool.apply(step_cost, ((m, a.batch_size, a.max_length, a.cost_steps),))
            for m in ("full", "ip")
        }
    figures["step"] = dict(cost)
    print(
        f"per step (batch {a.batch_size}, length {a.max_length}): "
        + ", ".join(
            f"{m} {c['s_per_step']:.3f} s / +{c['peak_rss_growth_mb']:.0f} MB"
            for m, c in cost.items()
        )
        + f"; IP / full time {cost['ip']['s_per_step'] / cost['full']['s_per_step']:.2f}×",
        flush=True,
    )

    if a.only_cost:
        write_json(a.json, figures)
        return
    config = glue_suite_config(a.data_dir, SHARED + TARGETS, train_rows=a.train_rows)
    suite = Suite.from_config(config)
    shared = [capped(suite[n], a.dev_rows, a.test_rows) for n in SHARED]
    targets = {n: capped(suite[n], a.dev_rows, a.test_rows) for n in TARGETS}
    factory = BackboneFactory(ModelConfig(max_length=a.max_length))
    backbone_params = factory.template.num_parameters
    mtl_rows, few_rows = [], []
    same = {
        k: v
        for k, v in figures["settings"].items()
        if k not in ("methods", "json", "fresh", "only_cost", "cost_steps")
    }
    for m in methods:
        done = a.out / f"method-{m}.json"
        if done.exists() and not a.fresh:
            saved = json.loads(done.read_text())
            if saved["settings"] == same:
                print(
                    f"{m:10s} reused from {done} (settings unchanged; --fresh re-trains)",
                    flush=True,
                )
                mtl_rows.append(saved["multitask"])
                few_rows.extend(saved["fewshot"])
                continue
        adaptation, lr, extra = METHODS[m]
        cfg = TrainConfig(
            adaptation=adaptation,
            lr=lr,
            max_steps=a.steps,
            batch_size=a.batch_size,
            patience=None,
            sampler="temperature",
            eval_every=max(1, a.steps // 3),
            **extra,
        )
        t0 = time.perf_counter()
        result = Trainer(cfg, factory).fit(shared, seed=1, keep_model=True)
        model = result.model
        heads = sum(p.numel() for p in model.heads.parameters())
        row = {
            "method": m,
            "minutes": (time.perf_counter() - t0) / 60,
            "trainable": result.trainable_parameters,
            "trainable_without_heads": result.trainable_parameters - heads,
            "share_of_backbone_pct": 100 * (result.trainable_parameters - heads) / backbone_params,
            **{t: result.test[t]["accuracy"] for t in SHARED},
        }
        row["average"] = float(np.mean([row[t] for t in SHARED]))
        if hasattr(model, "ip"):
            row["formula"] = model.ip.formula()
            sim = embedding_similarity(mean_task_embeddings(model, n=200))
            sim.to_csv(a.out / f"similarity-{m}.csv")
            embedding_heatmap(
                sim,
                a.out / f"similarity-{m}.png",
                f"mean task embeddings, {'without' if extra else 'with'} descriptions",
            )
        mtl_rows.append(row)
        print(
            f"{m:10s} MTL average acc {row['average']:.4f} ({row['minutes']:.1f} min), trainable "
            "without heads "
            f"{row['trainable_without_heads']:,} ({row['share_of_backbone_pct']:.2f}% of the "
            "backbone)",
            flush=True,
        )
        few_cfg = cfg.model_copy(update={"max_steps": a.fewshot_steps, "eval_every": None})
        for name, target in targets.items():
            for k in ks:
                accs = []
                for s in seeds:
                    task = few_shot_task(target, k, s)
                    r = Trainer(few_cfg.model_copy(update={"batch_size": min(k, 8)}), factory).fit(
                        [task], seed=s, init=model
                    )
                    accs.append(r.test[name]["accuracy"])
                    few_rows.append(
                        {"method": m, "target": name, "k": k, "seed": s, "accuracy": accs[-1]}
                    )
                print(
                    f"{m:10s} {name:6s} k={k:<3d} acc {np.mean(accs):.4f} ± {ci95(accs):.4f}",
                    flush=True,
                )
        done.write_text(
            json.dumps(
                {
                    "settings": same,
                    "multitask": row,
                    "fewshot": [r for r in few_rows if r["method"] == m],
                },
                indent=1,
                default=lambda o: o.item(),
            )
        )
        del model, result

    mtl = pd.DataFrame(mtl_rows).set_index("method")
    few = pd.DataFrame(few_rows)
    mtl.to_csv(a.out / "multitask.csv")
    few.to_csv(a.out / "fewshot.csv", index=False)
    pd.set_option("display.width", 220)
    print("\nmulti-task test accuracy (seed 1)")
    print(mtl.round(4).to_string())
    summary = few.groupby(["method", "target", "k"])["accuracy"].agg(["mean", ci95]).reset_index()
    print("\nfew-shot test accuracy, mean ± 95% CI over seeds")
    print(
        summary.pivot_table(index="method", columns=["target", "k"], values="mean")
        .round(4)
        .to_string()
    )
    avg = (
        few.groupby(["method", "k", "seed"])["accuracy"]
        .mean()
        .groupby(["method", "k"])
        .mean()
        .unstack()
    )
    print("\naverage over CB and BoolQ")
    print(avg.round(4).to_string())

    figures["multitask"] = {
        m: {
            "accuracy": {t: float(mtl.loc[m, t]) for t in SHARED + ["average"]},
            "trainable": int(mtl.loc[m, "trainable"]),
            "trainable_without_heads": int(mtl.loc[m, "trainable_without_heads"]),
            "share_of_backbone_pct": float(mtl.loc[m, "share_of_backbone_pct"]),
            "minutes": float(mtl.loc[m, "minutes"]),
        }
        for m in mtl.index
    }
    if "ip" in mtl.index:
        figures["multitask"]["ip"]["formula"] = int(mtl.loc["ip", "formula"])
    figures["fewshot"] = {
        m: {
            "accuracy": {f"{r.target}_k{r.k}": float(r["mean"]) for _, r in g.iterrows()},
            "ci95": {f"{r.target}_k{r.k}": float(r["ci95"]) for _, r in g.iterrows()},
            "average": {f"k{k}": float(avg.loc[m, k]) for k in ks},
        }
        for m, g in summary.groupby("method")
    }
    goals = {}
    if {"ip", "full"} <= set(mtl.index):
        goals["ip_share_of_backbone_pct"] = float(mtl.loc["ip", "share_of_backbone_pct"])
        goals["ip_minus_full_multitask_points"] = float(
            100 * (mtl.loc["ip", "average"] - mtl.loc["full", "average"])
        )
        for k in (4, 16):
            if k in avg.columns and "ip-nodesc" in avg.index:
                goals[f"ip_minus_full_fewshot_k{k}_points"] = float(
                    100 * (avg.loc["ip", k] - avg.loc["full", k])
                )
                goals[f"ip_minus_nodesc_fewshot_k{k}_points"] = float(
                    100 * (avg.loc["ip", k] - avg.loc["ip-nodesc", k])
                )
    figures["goals"] = goals
    print("\ngoals:", {k: round(v, 2) for k, v in goals.items()})
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
