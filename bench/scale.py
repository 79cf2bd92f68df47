"""Cost as work grows (issue 7).

1. PVI (probe mode: frozen MiniLM features + logistic regression, 5-fold cross-fitting): wall time
   and peak memory (max RSS of a fresh process) for 1, 2, 4, 8, 16 tasks of --per-task examples,
   and for 1k, 10k, 100k examples in one task. Features are extracted in batches into one array
   and cached on disk, read back memory-mapped. Goal: ≤ 2 GB at 100k examples.
2. A probe-setting transfer grid (the demo suite, every ordered pair, --seeds seeds) carried out
   by Ray with 1 and with 2 workers (local clusters, one torch thread per run), beside this
   process alone: speed-up of 2 workers over 1 (goal ≥ 1.6× on this 2-core machine).
3. How the transfer grid's run count and time grow with the number of tasks n (n + n(n−1) runs
   per seed), carried out in this process.

    python bench/scale.py --json bench/out/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import write_json  # noqa: E402  (sets offline env first)

WORDS = {
    1: ["great", "lovely", "superb", "fine", "warm"],
    0: ["awful", "dull", "poor", "cold", "weak"],
}
FILLER = [
    "the film",
    "our stay",
    "this meal",
    "the service",
    "that book",
    "the trip",
    "his talk",
    "the room",
]


def synthetic_rows(n: int, seed: int) -> list[dict]:
    """Short labelled sentences (a keyword decides the label, with 10% label noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        y = int(rng.integers(2))
        word = WORDS[y][int(rng.integers(5))]
        a, b = FILLER[int(rng.integers(8))], FILLER[int(rng.integers(8))]
        text = f"{a} was {word} and {b} was {i % 97} times so"
        rows.append({"text": text, "label": y if rng.random() > 0.1 else 1 - y})
    return rows


def pvi_case(tasks: int, examples: int, max_length: int) -> dict:
    """One PVI measurement in this (fresh) process: seconds and peak RSS."""
    from taskmix.config import ModelConfig, PVIConfig, SuiteConfig, TaskConfig
    from taskmix.data.suite import Suite
    from taskmix.relate.pvi import PVI

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        configs = []
        for t in range(tasks):
            path = tmp / f"t{t}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_rows(examples, t)))
            configs.append(
                TaskConfig(name=f"t{t}", text="text", label="label", splits={"train": str(path)})
            )
        suite = Suite.from_config(SuiteConfig(name="scale", tasks=configs), base_dir=tmp)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        PVI(
            PVIConfig(mode="probe", folds=5),
            model=ModelConfig(max_length=max_length),
            cache=tmp / "cache",
        ).fit(suite)
        seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "peak_rss_mb": rss / 1024,
        "rss_before_mb": rss0 / 1024,
        "examples": tasks * examples,
    }


def run_case(tasks: int, examples: int, max_length: int) -> dict:
    """``pvi_case`` in a fresh process, so that peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--pvi-case", f"{tasks},{examples},{max_length}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def transfer_grid(
    suite, executor, out: Path, seeds: list[int], factory, cache
) -> tuple[float, int]:
    from taskmix.config import TransferConfig
    from taskmix.experiment.transfer import PairwiseTransfer

    t0 = time.perf_counter()
    pt = PairwiseTransfer(
        TransferConfig(setting="probe", seeds=seeds),
        backbone=factory,
        cache=cache,
        out=out,
        executor=executor,
        show_progress=False,
    ).fit(suite)
    return time.perf_counter() - t0, len(pt.runs_)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tasks", default="1,2,4,8,16", help="PVI: numbers of tasks")
    ap.add_argument(
        "--per-task", type=int, default=1000, help="PVI: examples per task in the task sweep"
    )
    ap.add_argument(
        "--examples", default="1000,10000,100000", help="PVI: examples of the one-task sweep"
    )
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--seeds", default="1,2,3", help="transfer grid seeds")
    ap.add_argument("--grid-sizes", default="2,3,4,5,7", help="transfer growth: numbers of tasks")
    ap.add_argument("--skip-pvi", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pvi-case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.pvi_case:
        tasks, examples, max_length = map(int, a.pvi_case.split(","))
        print(json.dumps(pvi_case(tasks, examples, max_length)))
        return
    figures: dict = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    }

    # ------------------------------------------------------------ 1. PVI
    if not a.skip_pvi:
        figures["pvi"] = {"seconds": {}, "peak_rss_mb": {}}
        for label, (tasks, examples) in [
            *((f"tasks_{n}", (n, a.per_task)) for n in map(int, a.tasks.split(","))),
            *((f"examples_{m}", (1, m)) for m in map(int, a.examples.split(","))),
        ]:
            r = run_case(tasks, examples, a.max_length)
            figures["pvi"]["seconds"][label] = r["seconds"]
            figures["pvi"]["peak_rss_mb"][label] = r["peak_rss_mb"]
            print(
                f"PVI {label:16s} {r['examples']:>7,} examples: {r['seconds']:7.1f} s, peak RSS "
                f"{r['peak_rss_mb']:6.0f} MB ({r['examples'] / r['seconds']:.0f} examples/s)",
                flush=True,
            )
        peak = figures["pvi"]["peak_rss_mb"].get("examples_100000")
        if peak is not None:
            figures["goals"] = {"pvi_peak_rss_mb_at_100k": peak}
            print(
                f"goal ≤ 2 GB at 100k examples: {peak / 1024:.2f} GB {'✓' if peak <= 2048 else '✗'}"
            )

    # ------------------------------------------------------------ 2./3. transfer grids
    from taskmix.config import ModelConfig
    from taskmix.data.suite import Suite, demo_suite
    from taskmix.execute import LocalExecutor, RayExecutor
    from taskmix.models.backbone import BackboneFactory
    from taskmix.models.features import FeatureCache

    suite = demo_suite()
    seeds = [int(s) for s in a.seeds.split(",")]
    factory = BackboneFactory(ModelConfig())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = FeatureCache(tmp / "cache")
        for name in suite.names:  # features first: the grids then time the runs alone
            for split in suite[name].splits:
                cache.get(factory.template, suite[name], split)
        grid = {}
        local_s, runs = transfer_grid(suite, LocalExecutor(), tmp / "local", seeds, factory, cache)
        grid["this_process"] = local_s
        print(f"transfer grid, {runs} probe runs: this process {local_s:.1f} s", flush=True)
        if not a.skip_ray:
            import ray

            for workers in (1, 2):
                ray.shutdown()
                os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
                ex = RayExecutor(workers=workers, threads=1)
                # the cluster's start is not part of the grid's time; workers' start is
                ex.connect()
                seconds, _ = transfer_grid(suite, ex, tmp / f"ray{workers}", seeds, factory, cache)
                grid[f"ray_{workers}_workers"] = seconds
                print(
                    f"transfer grid, {runs} probe runs: Ray {workers} worker(s) {seconds:.1f} s",
                    flush=True,
                )
            ray.shutdown()
            speedup = grid["ray_1_workers"] / grid["ray_2_workers"]
            figures.setdefault("goals", {})["ray_speedup_2_over_1_workers"] = speedup
            print(f"Ray speed-up, 2 workers over 1: {speedup:.2f}× (goal ≥ 1.6×)")
        figures["transfer_grid"] = {"seconds": grid, "runs": runs}

        growth = {"runs": {}, "seconds": {}}
        for n in map(int, a.grid_sizes.split(",")):
            sub = (
                Suite(name=f"demo{n}", tasks=[suite[t] for t in suite.names[:n]], model=suite.model)
                if n < len(suite.names)
                else suite
            )
            seconds, runs = transfer_grid(
                sub, LocalExecutor(), tmp / f"grow{n}", seeds[:1], factory, cache
            )
            growth["runs"][f"n{n}"], growth["seconds"][f"n{n}"] = runs, seconds
            print(
                f"transfer grid n = {n}: {runs} runs (n + n(n−1)), {seconds:.1f} s, "
                f"{seconds / runs:.2f} s per run",
                flush=True,
            )
        figures["transfer_growth"] = growth
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
