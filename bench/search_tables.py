"""Combination search against measured landscapes where every combination's result is known.

    python bench/search_tables.py --data-dir ../shared/data --json bench/out/search_tables.json

MTG-Net's tables (Song et al. 2022): ETTm1 (7 tasks, all 127 combinations, validation and test
gains) and Taskonomy (5 tasks, 31 combinations, one table). For each target t the search space is
the combinations that contain t (64 for ETT, 16 for Taskonomy); a combination's score is t's gain
in it; the search runs on the validation gains and the test gain of its pick is reported.
Taskonomy has one table, so it serves for both. Its gains are relative loss reductions: the
single-task rows hold -0.0, i.e. the table stores -(L_mtl - L_stl) / L_stl, higher is better.

Each method runs from ``--seeds`` initial designs (the target alone, all data sets, two blocks of a
random partition that cover every data set: 4 trials) and proposes one combination per round; a
run goes on until it has trained the true best and at least 16 trials. Reported per target and
method: the median number of trials until the true best was trained, the share of runs that train
it within 16, regret (validation gain of the true best minus the best trained) after 8 and 16
trials, and the test gain of the pick after 16 trials. The paper's loop (MLP surrogate, greedy,
stop when the predicted best was already trained) is also run with its own stop rule.

A wide table (27 tasks, ~3,000 measured combinations per target, a partial table: the search may
only try measured rows) times the proposal step: seconds per proposal for gp+ei (goal <= 2 s), the
MLP and ridge. A third, synthetic table ("planted": 9 tasks, 256 combinations per target, additive
effects plus two pairwise interactions per target and noise) shows what the surrogates do where
there is structure to find; the ETT tables have almost none (see bench/RESULTS.md).

Then the surrogates' fit quality: Spearman ρ between held-out predictions and the true gains after
fitting on 8, 16 and 32 random combinations of each target's landscape.
"""

from __future__ import annotations

import os

# one BLAS thread per process: the worker processes would otherwise fight over the cores
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import write_json  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from taskmix.config import SearchConfig  # noqa: E402
from taskmix.group.search import CombinationSearch, TableObjective, bits, trials_until  # noqa: E402
from taskmix.group.surrogates import make_surrogate  # noqa: E402

# (name, surrogate, proposal): the paper's loop first, random search last
METHODS = [
    ("mlp", "mlp", "greedy"),
    ("linear", "linear", "greedy"),
    ("bayes-ei", "bayes", "ei"),
    ("bayes-ts", "bayes", "thompson"),
    ("gp-ei", "gp", "ei"),
    ("gp-ts", "gp", "thompson"),
    ("random", "gp", "random"),
]
DEFAULT = next(
    m
    for m, s, p in METHODS  # SearchConfig's default surrogate and proposal
    if (s, p) == (SearchConfig().surrogate, SearchConfig().proposal)
)
WITHIN = 16
CAP = (
    64  # a run that has not trained the true best after this many trials counts as never finding it
)


def planted(n_tasks: int = 9, seed: int = 0) -> dict:
    """A synthetic table in the MTG format with known structure: each task's gain is additive in
    the other tasks plus two pairwise interactions, with noise of a quarter of the signal's spread
    (validation and test drawn apart)."""
    rng = np.random.default_rng(seed)
    x = bits(np.arange(1, 2**n_tasks), n_tasks)
    val, test = np.zeros_like(x), np.zeros_like(x)
    for t in range(n_tasks):
        w = rng.normal(0, 0.05, n_tasks)
        pairs = [
            tuple(rng.choice([j for j in range(n_tasks) if j != t], 2, replace=False))
            for _ in range(2)
        ]
        f = x @ w + sum(rng.normal(0, 0.08) * x[:, i] * x[:, j] for i, j in pairs)
        f = f - f[(x.sum(1) == 1) & (x[:, t] == 1)][0]  # the target alone: gain 0
        sd = 0.25 * f[x[:, t] == 1].std()
        val[:, t] = np.where(x[:, t] == 1, f + rng.normal(0, sd, len(f)), 0)
        test[:, t] = np.where(x[:, t] == 1, f + rng.normal(0, sd, len(f)), 0)
    return {"x": x, "val": val, "test": test, "names": [f"p{i}" for i in range(n_tasks)]}


def wide_table(n_tasks: int = 27, rows: int = 3000, seed: int = 0) -> dict:
    """A large partial table: ``n_tasks`` tasks, ``rows`` measured combinations per target (random
    subsets of the other tasks), gains additive in the others plus two pairwise interactions per
    target and noise, as in :func:`planted` — the kind of table a user with past results has."""
    rng = np.random.default_rng(seed)
    tables = {}
    for t in range(n_tasks):
        others = [j for j in range(n_tasks) if j != t]
        masks = np.unique(rng.integers(0, 2 ** (n_tasks - 1), size=rows * 2))[:rows]
        masks = np.union1d(masks, [0])  # the target alone is always measured
        xb = bits(masks, n_tasks - 1)
        w = rng.normal(0, 0.05, n_tasks - 1)
        pairs = [tuple(rng.choice(n_tasks - 1, 2, replace=False)) for _ in range(2)]
        f = xb @ w + sum(rng.normal(0, 0.08) * xb[:, i] * xb[:, j] for i, j in pairs)
        f = f - f[0]
        sd = 0.25 * f.std()
        tables[t] = (others, masks, f + rng.normal(0, sd, len(f)), f + rng.normal(0, sd, len(f)))
    return {"tables": tables, "names": [f"w{i}" for i in range(n_tasks)]}


def scale_run(table: dict, t: int, surrogate: str, proposal: str, seed: int, budget: int = 24):
    """One search over a wide partial table: seconds per proposal (fit + choice, the trials'
    table look-ups excluded) and the trials until the best measured combination was trained."""
    others, masks, val, test = table["tables"][t]
    scores = {int(m): float(v) for m, v in zip(masks, val, strict=True)}
    obj = TableObjective([table["names"][j] for j in others], scores)
    truth = max(scores, key=scores.get)
    search = CombinationSearch(surrogate=surrogate, proposal=proposal, budget=budget, seed=seed)
    t0 = time.perf_counter()
    search.fit(obj)
    proposals = max(1, len(search.trials_) - SearchConfig().initial)
    return {
        "seconds_per_proposal": (time.perf_counter() - t0) / proposals,
        "trials": trials_until(search.trials_, truth),
        "regret": scores[truth] - search.best_score_,
        "space": len(scores),
    }


def landscapes(data_dir: Path) -> dict[str, dict]:
    ett = data_dir / "mtg_gains" / "ETT"
    tax = data_dir / "mtg_gains" / "taskonomy"
    x_ett = np.loadtxt(ett / "ETTm1_x.csv")
    x_tax = np.loadtxt(tax / "taskonomy_x.csv", delimiter=",")
    y_tax = np.loadtxt(tax / "taskonomy.csv")
    return {
        "ett": {
            "x": x_ett,
            "val": np.loadtxt(ett / "ETTm1_val_y.csv"),
            "test": np.loadtxt(ett / "ETTm1_y.csv"),
            "names": [f"ett{i}" for i in range(x_ett.shape[1])],
        },
        "taskonomy": {
            "x": x_tax,
            "val": y_tax,
            "test": y_tax,
            "names": ["seg", "depth", "normal", "keypoint", "edge"],
        },
        "planted": planted(),
    }


def target_space(land: dict, t: int) -> tuple[list[str], dict[int, float], dict[int, float]]:
    """Candidates (the other tasks) and the validation / test gain of t per bitmask over them."""
    others = [j for j in range(land["x"].shape[1]) if j != t]
    val, test = {}, {}
    for row, mask_row in enumerate(land["x"]):
        if mask_row[t]:
            m = sum(1 << k for k, j in enumerate(others) if mask_row[j])
            val[m], test[m] = float(land["val"][row, t]), float(land["test"][row, t])
    # a partial table (not every combination measured) is searched over its rows only
    return [land["names"][j] for j in others], val, test


def run_search(cands, val, test, surrogate, proposal, seed, stop="budget"):
    truth = max(val, key=val.get)
    search = CombinationSearch(
        surrogate=surrogate, proposal=proposal, stop=stop, budget=min(len(val), CAP), seed=seed
    )

    def enough(s):  # stop once the true best is trained and 16 trials are in
        return truth in s.scores_ and len(s.scores_) >= WITHIN

    search.fit(TableObjective(cands, val), callback=enough if stop == "budget" else None)
    trials = search.trials_

    def best_within(k):
        seen = trials[trials["trial"] <= k]
        return int(seen.loc[seen["score"].idxmax(), "mask"])

    pick = best_within(WITHIN)
    return {
        "trials": trials_until(trials, truth),
        "found16": trials_until(trials, truth) <= WITHIN,
        "regret8": val[truth] - val[best_within(8)],
        "regret16": val[truth] - val[pick],
        "test_pick": test[pick],
        "n_trials": len(trials),
        "stopped": search.stopped_,
        "found_at_stop": truth in search.scores_,
    }


def fit_quality(cands, val, sizes, seeds) -> dict:
    n = len(cands)
    masks = np.array(sorted(val))
    y = np.array([val[m] for m in masks])
    out = {}
    for name in ("mlp", "linear", "bayes", "gp"):
        for k in sizes:
            if k >= len(masks) - 2:
                continue
            rhos = []
            for s in range(seeds):
                idx = np.random.default_rng(s).permutation(len(masks))
                tr, te = idx[:k], idx[k:]
                pred = (
                    make_surrogate(name, seed=s)
                    .fit(bits(masks[tr], n), y[tr])
                    .predict(bits(masks[te], n))
                )
                rho = spearmanr(pred, y[te]).statistic
                rhos.append(0.0 if np.isnan(rho) else rho)
            out.setdefault(name, {})[str(k)] = float(np.mean(rhos))
    return out


def one_target(job) -> tuple[list, list, dict]:
    """Every method's runs, the paper's loop with its stop rule, and the fit quality, for one
    target."""
    data_dir, lname, t, chosen, seeds = job
    land = landscapes(data_dir)[lname]
    tname = land["names"][t]
    cands, val, test = target_space(land, t)
    rows, paper_rows = [], []
    for method, surrogate, proposal in chosen:
        t0 = time.perf_counter()
        for seed in range(seeds):
            r = run_search(cands, val, test, surrogate, proposal, seed)
            rows.append(
                {
                    "target": tname,
                    "method": method,
                    "seed": seed,
                    **r,
                    "oracle_test": max(test.values()),
                    "truth_test": test[max(val, key=val.get)],
                }
            )
        print(f"{lname} {tname:9s} {method:9s} {time.perf_counter() - t0:6.1f} s", flush=True)
    for seed in range(seeds):
        paper_rows.append(
            {"target": tname, **run_search(cands, val, test, "mlp", "greedy", seed, "repeat")}
        )
    return rows, paper_rows, fit_quality(cands, val, (8, 16, 32), seeds)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--seeds", type=int, default=20, help="initial designs per target and method")
    ap.add_argument("--methods", default=",".join(m for m, _, _ in METHODS))
    ap.add_argument(
        "--workers", type=int, default=2, help="targets searched side by side (processes)"
    )
    ap.add_argument("--json", help="write the figures here as nested JSON")
    ap.add_argument(
        "--scale", type=int, default=3, help="targets of the 27-task wide table to time (0: skip)"
    )
    ap.add_argument("--only-scale", action="store_true", help="time the wide table only")
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    if not (data_dir / "mtg_gains").exists():
        sys.exit(
            f"{data_dir / 'mtg_gains'} not found: give --data-dir (see ../shared/data/README.md)"
        )
    if args.only_scale:
        figures = {"wide_27": scale_section(args.scale or 3)}
        if args.json:
            write_json(Path(args.json), figures)
        return
    chosen = [m for m in METHODS if m[0] in args.methods.split(",")]
    lands = landscapes(data_dir)
    jobs = [
        (data_dir, lname, t, chosen, args.seeds)
        for lname, land in lands.items()
        for t in range(len(land["names"]))
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(one_target, jobs))
    figures: dict = {}
    for lname, land in lands.items():
        parts = [d for (_, ln, _, _, _), d in zip(jobs, done, strict=True) if ln == lname]
        rows = [r for p in parts for r in p[0]]
        paper_rows = [r for p in parts for r in p[1]]
        fits = [p[2] for p in parts]
        df = pd.DataFrame(rows)
        per = (
            df.groupby(["method", "target"])
            .agg(
                median_trials=("trials", "median"),
                found_within_16=("found16", "mean"),
                regret_8=("regret8", "mean"),
                regret_16=("regret16", "mean"),
                test_gain_pick=("test_pick", "mean"),
                test_gain_val_best=("truth_test", "first"),
                test_gain_oracle=("oracle_test", "first"),
            )
            .reset_index()
        )
        summary = per.groupby("method").agg(
            median_trials=("median_trials", "median"),
            regret_8=("regret_8", "mean"),
            regret_16=("regret_16", "mean"),
            test_gain_pick=("test_gain_pick", "mean"),
            test_gain_val_best=("test_gain_val_best", "mean"),
            test_gain_oracle=("test_gain_oracle", "mean"),
        )
        summary["found_within_16"] = df.groupby("method")["found16"].mean()
        summary = summary.loc[[m for m, _, _ in chosen]]
        pd.set_option("display.width", 200)
        print(
            f"\n== {lname}: {len(land['names'])} targets x {args.seeds} initial designs; search "
            "space "
            f"{2 ** (len(land['names']) - 1)} combinations per target"
        )
        print(
            per.pivot(index="target", columns="method", values="median_trials")[
                [m for m, _, _ in chosen]
            ].to_string(float_format="%.1f")
        )
        print(summary.to_string(float_format="%.4f"))
        paper = pd.DataFrame(paper_rows)
        print(
            f"paper's loop with its stop rule: median {paper['n_trials'].median():.0f} trials, "
            f"true best trained in {paper['found_at_stop'].mean():.0%} of runs, "
            f"regret at stop {paper['regret16'].mean():.4f} (val) "
        )
        if "mlp" in summary.index and DEFAULT in summary.index:
            ratio = summary.loc[DEFAULT, "median_trials"] / summary.loc["mlp", "median_trials"]
            print(
                f"default ({DEFAULT}) vs the paper's MLP loop: "
                f"{summary.loc[DEFAULT, 'median_trials']:.1f} vs "
                f"{summary.loc['mlp', 'median_trials']:.1f} median trials (ratio {ratio:.2f}; goal "
                "<= 0.5); "
                f"found within 16: {summary.loc[DEFAULT, 'found_within_16']:.0%} (goal >= 90%)"
            )
        fit = {
            name: {
                k: float(np.mean([f[name][k] for f in fits if name in f and k in f[name]]))
                for k in fits[0].get(name, {})
            }
            for name in fits[0]
        }
        print("held-out Spearman rho of the surrogates by rows observed:")
        print(pd.DataFrame(fit).T.to_string(float_format="%.3f"))
        figures[lname] = {
            m: {
                "median_trials": per[per.method == m].set_index("target")["median_trials"].to_dict()
                | {"all": float(summary.loc[m, "median_trials"])},
                "found_within_16": per[per.method == m]
                .set_index("target")["found_within_16"]
                .to_dict()
                | {"all": float(summary.loc[m, "found_within_16"])},
                "regret_8": {"all": float(summary.loc[m, "regret_8"])},
                "regret_16": {"all": float(summary.loc[m, "regret_16"])},
                "test_gain_pick": {"all": float(summary.loc[m, "test_gain_pick"])},
            }
            for m in summary.index
        }
        figures[lname]["paper_stop_rule"] = {
            "median_trials": {"all": float(paper["n_trials"].median())},
            "found": {"all": float(paper["found_at_stop"].mean())},
        }
        figures[lname]["fit_spearman"] = fit
    if args.scale:
        figures["wide_27"] = scale_section(args.scale)
    if args.json:
        write_json(Path(args.json), figures)


def scale_section(targets: int) -> dict:
    """Proposal time on a 27-task table with ~3,000 measured combinations per target (the search
    restricted to the measured rows), for the default gp+ei and two cheaper surrogates."""
    table = wide_table()
    rows = []
    for method, surrogate, proposal in [m for m in METHODS if m[0] in (DEFAULT, "mlp", "linear")]:
        for t in range(targets):
            for seed in range(3):
                rows.append(
                    {
                        "method": method,
                        "target": t,
                        **scale_run(table, t, surrogate, proposal, seed),
                    }
                )
    df = pd.DataFrame(rows)
    summary = df.groupby("method").agg(
        seconds_per_proposal=("seconds_per_proposal", "mean"),
        max_seconds_per_proposal=("seconds_per_proposal", "max"),
        median_trials=("trials", "median"),
        regret=("regret", "mean"),
        space=("space", "mean"),
    )
    print(
        f"\n== wide table: 27 tasks, ~3,000 measured combinations per target, {targets} targets "
        "x 3 designs, budget 24 (goal: gp+ei <= 2 s per proposal)"
    )
    print(summary.to_string(float_format="%.4f"))
    return {m: {k: {"all": float(v)} for k, v in summary.loc[m].items()} for m in summary.index}


if __name__ == "__main__":
    main()
