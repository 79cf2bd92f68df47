"""PVI on real tasks: wall time of probe mode (cold and cached features) and of finetune mode,
Spearman correlation of the two modes' task-level V-information, and the pairwise t-tests in
the layout of Li et al.'s Table 1.

    python bench/pvi.py --data-dir ../shared/data --json bench/out/pvi.json

Probe mode runs on up to --train-rows training instances per task (out-of-fold, 5 folds), from
a cold feature cache (timed with the model load) and again with the features cached. Finetune
mode is the paper's algorithm on a smaller seeded sample (--finetune-rows) with a short budget,
because on 2 CPU cores the paper's 10 epochs over 2000 instances × 8 tasks × k folds take hours.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import glue_suite_config, matmul_rate, write_json  # noqa: E402
from scipy import stats  # noqa: E402

from taskmix.config import ModelConfig, PVIConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.group.stats import group_test  # noqa: E402
from taskmix.models.backbone import BackboneFactory, resolve_model_path  # noqa: E402
from taskmix.models.features import FeatureCache  # noqa: E402
from taskmix.relate.pvi import PVI  # noqa: E402

TASKS = "cb,rte,copa,wic,boolq,cola,sst2,mrpc"


def forward_floor(suite: Suite, max_length: int, dtype: str, budget: int = 2048) -> float:
    """Seconds of one bare pass of the encoder over every training sequence PVI encodes: Hugging
    Face's model called directly, inputs tokenised and padded beforehand (not timed), batches of
    about ``budget`` tokens sorted by length, inference mode, ``dtype`` autocast."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    ids = []
    for task in suite:
        split = task.splits["train"]
        seqs = [s for i in range(len(split)) for s in split.sequences(i)]
        for n in (1, 2):
            part = [s for s in seqs if len(s) == n]
            if part:
                enc = tok(*zip(*part, strict=True), truncation=True, max_length=max_length)
                ids += [dict(zip(enc, row, strict=True)) for row in zip(*enc.values(), strict=True)]
    ids.sort(key=lambda r: -len(r["input_ids"]))
    batches, start = [], 0
    while start < len(ids):
        rows = max(1, budget // len(ids[start]["input_ids"]))
        batches.append(tok.pad(ids[start : start + rows], return_tensors="pt"))
        start += rows
    cast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if dtype == "bfloat16"
        else torch.autocast("cpu", enabled=False)
    )
    with torch.inference_mode(), cast:
        for batch in batches[:: max(1, len(batches) // 5)]:  # warm-up: kernels chosen, caches met
            model(**batch)
        t0 = time.perf_counter()
        for batch in batches:
            model(**batch)
        return time.perf_counter() - t0


def by_task(summary: pd.DataFrame, column: str) -> dict:
    return {t: round(float(v), 4) for t, v in zip(summary.task, summary[column], strict=True)}


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table of a frame with an index (no tabulate dependency)."""
    head = ["", *map(str, frame.columns)]
    rows = [[str(i), *map(str, r)] for i, r in zip(frame.index, frame.to_numpy(), strict=True)]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])


def table1(values: dict[str, np.ndarray], equal_var: bool) -> tuple[pd.DataFrame, dict]:
    """Upper triangle of 't (p)' cells, rows and columns in task order (Li et al., Table 1)."""
    names = list(values)
    cells = pd.DataFrame("", index=names, columns=names)
    figures: dict = {"t": {}, "p": {}}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            t = group_test((a, b), [values[a], values[b]], equal_var=equal_var)
            cells.loc[a, b] = f"{t.statistic:.2f} ({t.pvalue:.2g})"
            figures["t"][f"{a}|{b}"] = round(t.statistic, 3)
            figures["p"][f"{a}|{b}"] = float(f"{t.pvalue:.3g}")
    return cells, figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default=TASKS)
    ap.add_argument(
        "--train-rows", type=int, default=2000, help="seeded sample of each training set (probe)"
    )
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--cache-dir", default="bench/out/pvi-feature-cache", help="emptied first: a cold start"
    )
    ap.add_argument(
        "--finetune-rows", type=int, default=500, help="seeded sample per task for finetune mode"
    )
    ap.add_argument("--finetune-folds", type=int, default=2)
    ap.add_argument("--finetune-epochs", type=float, default=2.0)
    ap.add_argument("--finetune-lr", type=float, default=5e-5)
    ap.add_argument("--finetune-batch-size", type=int, default=16)
    ap.add_argument("--skip-finetune", action="store_true")
    ap.add_argument(
        "--student", action="store_true", help="Student t-tests (the paper) instead of Welch"
    )
    ap.add_argument("--out", default="bench/out/pvi")
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = a.tasks.split(",")
    model = ModelConfig(max_length=a.max_length)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    suite = Suite.from_config(glue_suite_config(a.data_dir, names, train_rows=a.train_rows))
    load_s = time.perf_counter() - t0
    sizes = {t.name: len(t.splits["train"]) for t in suite}
    print(f"loaded {len(suite)} tasks in {load_s:.1f} s; training instances: {sizes}")

    # the floor: one bare forward pass over the same texts, in the faster precision here
    rates = {d: matmul_rate(d) for d in ("bfloat16", "float32")}
    fast = max(rates, key=rates.get)
    floor_s = forward_floor(suite, a.max_length, fast)
    print(
        f"matmul rate bf16 {rates['bfloat16'] / 1e9:.0f}, "
        f"fp32 {rates['float32'] / 1e9:.0f} GFLOP/s;"
        f" floor (one bare {fast} forward pass over the training texts): {floor_s:.1f} s"
    )

    shutil.rmtree(a.cache_dir, ignore_errors=True)
    probe_cfg = PVIConfig(mode="probe", folds=a.folds)
    t0 = time.perf_counter()
    factory = BackboneFactory(model)
    probe = PVI(
        probe_cfg, backbone=factory, cache=FeatureCache(a.cache_dir), show_progress=True
    ).fit(suite)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    PVI(probe_cfg, model=model, cache=FeatureCache(a.cache_dir)).fit(suite)
    cached_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    PVI(probe_cfg, backbone=factory, cache=FeatureCache(a.cache_dir)).fit(suite)
    cached_s = time.perf_counter() - t0
    probe.save(out / "probe")
    print(
        f"\nprobe mode: {cold_s:.1f} s from a cold cache (incl. model load and feature extraction)"
        f" = {cold_s / floor_s:.2f}x the floor (goal <= 1.15x); with features cached "
        f"{cached_s:.1f} s (model in memory; goal <= 2 s), {cached_load_s:.1f} s including "
        "loading the model again"
    )
    print(probe.summary_.round(4).to_string(index=False))

    figures: dict = {
        "pvi_probe": {
            "seconds": {
                "cold_cache": round(cold_s, 1),
                "cached": round(cached_s, 2),
                "cached_with_model_load": round(cached_load_s, 1),
                "floor": round(floor_s, 1),
            },
            "ratio": {"cold_vs_floor": round(cold_s / floor_s, 3)},
            "v_information": by_task(probe.summary_, "v_information"),
            "accuracy": by_task(probe.summary_, "accuracy"),
            "n": by_task(probe.summary_, "n"),
        },
        "settings": {
            "train_rows": a.train_rows,
            "max_length": a.max_length,
            "folds": a.folds,
            "test": "student" if a.student else "welch",
            "floor_dtype": fast,
            "matmul_gflops": {d: round(v / 1e9, 1) for d, v in rates.items()},
        },
    }
    cells, tt = table1(probe.values(), a.student)
    figures["ttest_probe"] = tt
    print(f"\npairwise {'Student' if a.student else 'Welch'} t-tests of probe-mode PVI: t (p)")
    print(markdown(cells))

    if not a.skip_finetune:
        small = Suite.from_config(glue_suite_config(a.data_dir, names, train_rows=a.finetune_rows))
        ft_cfg = PVIConfig(
            mode="finetune",
            folds=a.finetune_folds,
            finetune=TrainConfig(
                epochs=a.finetune_epochs,
                batch_size=a.finetune_batch_size,
                lr=a.finetune_lr,
                patience=None,
            ),
        )
        t0 = time.perf_counter()
        ft = PVI(ft_cfg, backbone=factory, show_progress=True).fit(small)
        ft_s = time.perf_counter() - t0
        ft.save(out / "finetune")
        # the probe on the very same instances and folds, for a like-for-like correlation
        same = PVI(
            PVIConfig(mode="probe", folds=a.finetune_folds),
            backbone=factory,
            cache=FeatureCache(a.cache_dir),
        ).fit(small)
        v_probe = probe.summary_.set_index("task").v_information
        v_same = same.summary_.set_index("task").v_information
        v_ft = ft.summary_.set_index("task").v_information
        rho_full = stats.spearmanr(v_probe[names], v_ft[names]).statistic
        rho_same = stats.spearmanr(v_same[names], v_ft[names]).statistic
        print(
            f"\nfinetune mode: {ft_s / 60:.1f} min for "
            f"{sum(len(t.splits['train']) for t in small)} instances "
            f"({a.finetune_folds} folds, {a.finetune_epochs:g} epochs, lr {a.finetune_lr:g}, "
            f"batch {a.finetune_batch_size})"
        )
        print(
            pd.DataFrame(
                {
                    "probe (all rows)": v_probe[names],
                    "probe (finetune rows)": v_same[names],
                    "finetune": v_ft[names],
                    "finetune acc": ft.summary_.set_index("task").accuracy[names],
                }
            )
            .round(4)
            .to_string()
        )
        print(
            f"Spearman(probe, finetune) of task V-information: {rho_full:.3f} (probe on all rows), "
            f"{rho_same:.3f} (probe on the same rows and folds)"
        )
        cells, tt = table1(ft.values(), a.student)
        print("\npairwise t-tests of finetune-mode PVI: t (p)")
        print(markdown(cells))
        figures["pvi_finetune"] = {
            "seconds": {"total": round(ft_s, 1)},
            "v_information": {k: round(float(v), 4) for k, v in v_ft[names].items()},
            "accuracy": by_task(ft.summary_, "accuracy"),
            "settings": {
                "rows": a.finetune_rows,
                "folds": a.finetune_folds,
                "epochs": a.finetune_epochs,
                "lr": a.finetune_lr,
                "batch_size": a.finetune_batch_size,
            },
        }
        figures["pvi_probe_same_rows"] = {
            "v_information": {k: round(float(v), 4) for k, v in v_same[names].items()}
        }
        figures["spearman"] = {
            "v_information": {
                "probe_all_rows_vs_finetune": round(float(rho_full), 3),
                "probe_same_rows_vs_finetune": round(float(rho_same), 3),
            }
        }
        figures["ttest_finetune"] = tt
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
