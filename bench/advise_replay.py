"""`taskmix advise` from proposal to recommendation, replayed on the measured pair gains, held
out twice: the recommendation a user gets (its checks included), against the partitions of the
single signals, random partitions and all tasks in one model.

    python bench/advise_replay.py --data-dir ../shared/data --json bench/out/advise_replay.json

bench/advise_eval.py scores the advisor's *proposed* partition (the fitted prediction alone). The
command does more: it checks the groups whose verdicts could change the recommendation by
training them, and recommends on what the checks found. Here its checks are answered from
bench/data/pair_gains.csv (an executor that looks each run up in the table instead of training
it: the task's main metric alone, or in the pair, on that seed), so the real `Advisor` decides
what to check, in what order, and what to recommend. Held out twice:

- the fitted advisor leave one task out (as bench/advise_eval.py: a pair's predicted gain and
  its se are the mean of the two models fitted without one of its tasks), so no prediction has
  seen the pair it predicts;
- by seed: for each seed e of the table, the checks may use only the other seeds (``max_seeds``:
  all of them) and the recommendation is scored on seed e alone, so the noise that picked a
  group is not the noise that scores it. Every other method's partition is scored on the same
  seed e.

Figures: mean over the folds (one per seed) ± 95% CI, and each difference paired by fold. The
replay recommends pairs only (``max_size`` 2: the table has no larger groups). The signals are
those of bench/advise_eval.py (its store, --signals-out, is read, not measured again). What the
replay does not hold out: the prior seed spread (2.18 points, from every seed of the table) that
weighs a one-seed Δ, and the table's STL runs being shared by every pair of a seed (as a run
store shares them).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from advise_eval import (  # noqa: E402
    add_gains_args,
    fitted,
    gains_of,
    gold_matrix,
    held_out,
    measured_signals,
    partition_gains,
    read_gains,
)
from common import sampled_suite, write_json  # noqa: E402

from taskmix.config import AdviseConfig, RunConfig  # noqa: E402
from taskmix.errors import TaskmixError  # noqa: E402
from taskmix.evaluate.advise import Advisor, _expected  # noqa: E402  (the rule itself)
from taskmix.evaluate.metrics import mean_ci  # noqa: E402
from taskmix.execute import Executor  # noqa: E402
from taskmix.group.affinity import Affinity, advisor_seed_sd, combine  # noqa: E402
from taskmix.group.partition import random_partition  # noqa: E402


class TableExecutor(Executor):
    """Carries out a run by looking it up in the measured table: each task's main metric alone
    (an STL run) or in its pair (an MTL run of two tasks), on the run's seed. A run the table
    does not hold fails, as a run that could not be trained would."""

    def __init__(self, frame: pd.DataFrame, seeds, seconds: float = 143.0):
        rows = frame[(frame.pair != "all") & frame.seed.isin(list(seeds))]
        self.alone = {(r.task, r.seed): (r.metric, r.stl) for r in rows.itertuples()}
        self.together = {
            (frozenset(r.pair.split("+")), r.task, r.seed): (r.metric, r.mtl)
            for r in rows.itertuples()
        }
        self.seconds = seconds  # a run's recorded duration (the table's mean run)

    def _metrics(self, tasks: tuple[str, ...], seed: int) -> dict:
        found = {}
        for t in tasks:
            key = (t, seed) if len(tasks) == 1 else (frozenset(tasks), t, seed)
            values = self.alone if len(tasks) == 1 else self.together
            if key not in values:
                raise TaskmixError(f"the table holds no run of {'+'.join(tasks)} on seed {seed}")
            metric, value = values[key]
            found[t] = {metric: float(value)}
        return {"test": found}

    def map(self, fn, items, started=None):
        for item in items:
            spec, _ = item
            if started:
                started(item)
            try:
                result = ((self._metrics(spec.tasks, spec.seed), None), time.time(), self.seconds)
            except TaskmixError as e:
                result = e
            yield item, result

    def describe(self) -> str:
        return "the measured table (bench/data/pair_gains.csv)"


class GivenAdvisor(Advisor):
    """The advisor with its combined affinity given: the fitted advisor leave one task out
    (instead of the one `taskmix advise` ships, fitted on every pair of the table), or one
    signal alone."""

    def __init__(self, run: RunConfig, combined: Affinity, executor: Executor, order: str):
        super().__init__(run, executor, show_progress=False)
        self.given, self.order = combined, order

    def combination(self, signals):
        return self.given, None

    def candidates(self, signals, combined, proposed):
        """The product's candidates in its order, or (``order`` 'value', an experiment) by the
        expected value of checking each: what knowing its gain is expected to add over deciding
        on the prediction, σ·φ(μ/σ) − |μ|·Φ(−|μ|/σ) (points), the proposed groups first."""
        frame = super().candidates(signals, combined, proposed)
        if self.order == "uncertainty":
            return frame
        normal = NormalDist()
        value = [
            s * normal.pdf(m / s) - abs(m) * normal.cdf(-abs(m) / s) if s > 0 else 0.0
            for m, s in zip(frame.predicted, frame.predicted_se, strict=True)
        ]
        return (
            frame.assign(value=value)
            .sort_values(["proposed", "value"], ascending=False, kind="stable", ignore_index=True)
            .drop(columns="value")
        )


def replay(suite, signals, combined, frame, seeds, budget, out: Path, order: str, looks: str):
    """The advice from ``signals`` and ``combined``, with checks on ``seeds`` only, within
    ``budget`` runs (None: unlimited), the candidates in ``order``, the verdicts' α per
    ``looks`` (AdviseConfig.looks)."""
    run = RunConfig(
        seeds=list(seeds),
        out=str(out),
        advise=AdviseConfig(max_size=2, budget_runs=budget, max_seeds=len(seeds), looks=looks),
    )
    executor = TableExecutor(frame, seeds)
    return GivenAdvisor(run, combined, executor, order).advise(suite, signals)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_gains_args(ap)
    ap.add_argument("--signals-out", default="bench/out/advise_eval14")
    ap.add_argument("--tag-steps", type=int, default=200)
    ap.add_argument("--train-rows", type=int, default=500, help="rows the signals were measured on")
    ap.add_argument(
        "--budgets",
        default="13,36,0",
        help="run budgets replayed (13: what 30 minutes bought on the real suite; 36: the "
        "default; 0: unlimited)",
    )
    ap.add_argument(
        "--order",
        choices=["uncertainty", "value"],
        default="uncertainty",
        help="the order the candidates are checked in: the product's (the least certain "
        "prediction first), or an experiment (the largest expected value of checking first)",
    )
    ap.add_argument(
        "--looks",
        choices=["spend", "each"],
        default="spend",
        help="the verdicts' α over the looks after every seed: spent over them (the product's "
        "default) or 0.05 at each (the rule before session 20)",
    )
    ap.add_argument("--random-draws", type=int, default=500)
    ap.add_argument(
        "--one-seed-sd",
        type=float,
        nargs="*",
        default=[1.58],
        help="seed sds (points) a one-seed Δ is weighed with, beside the advisor's prior (1.58: "
        "the real 8-task suite's own, session 16)",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    frame, pairs, names, per_pair_seed = read_gains(a.gains, a.seeds)
    seeds = sorted(set(frame.seed))
    gold = gold_matrix(per_pair_seed, names)
    signals = measured_signals(names, a.data_dir, a.signals_out, a.tag_steps, a.train_rows)
    combined = fitted(held_out(signals, gold, names), names, by="pair")
    # the suite the table was measured on (bench/pair_gains.py): names, kinds, fingerprints
    suite = sampled_suite(a.data_dir, names, 300, dev_rows=200)

    gain_of = gains_of(pairs)

    def on(part, seed) -> float:
        return 100 * float(partition_gains(part, gain_of, names, [seed])[0])

    # what each advice is made from: the fitted advisor over every signal, or one signal alone
    # (its standardised affinity; its own partition's groups are the candidates)
    advisers = {"advise": (signals, combined)} | {
        f"advise, {s.name} alone": ([s], combine([s], name=s.name)) for s in signals
    }
    unchecked = {f"{a.name}, unchecked": a.partition(max_size=2) for a in [*signals, combined]}
    everything = frame[frame.pair == "all"].groupby("seed").gain.mean()
    figures: dict = {}
    for budget in [int(b) or None for b in a.budgets.split(",")]:
        label = f"{budget} runs" if budget else "unlimited"
        print(f"budget {label}:")
        folds = []
        for e in seeds:
            checked_on = [s for s in seeds if s != e]
            fold: dict = {"held_out_seed": e, "gain": {}, "runs": {}, "recommended": {}}
            for name, (given, affinity) in advisers.items():
                with tempfile.TemporaryDirectory() as tmp:
                    advice = replay(
                        suite,
                        given,
                        affinity,
                        frame,
                        checked_on,
                        budget,
                        Path(tmp),
                        a.order,
                        a.looks,
                    )
                fold["gain"][name] = on(advice.recommended, e)
                fold["runs"][name] = advice.runs
                fold["recommended"][name] = (
                    "; ".join("+".join(g) for g in advice.recommended if len(g) > 1) or "-"
                )
                if name == "advise":
                    t = advice.groups
                    fold["checked"] = {
                        r.group: f"{r.verdict} ({r.seeds} seeds, Δ {100 * r.delta:+.2f})"
                        for r in t[t.seeds > 0].itertuples()
                    }
                    k = sum(len(g) == 2 for g in advice.recommended)
            draws = [
                on(random_partition(names, [2] * k, i), e) if k else 0.0
                for i in range(a.random_draws)
            ]
            fold["random_pairs"] = k  # random partitions with as many pairs as advise's
            fold["gain"] |= {"random": float(np.mean(draws))}
            fold["gain"] |= {n: on(p, e) for n, p in unchecked.items()}
            if e in everything:
                fold["gain"]["all tasks"] = 100 * float(everything[e])
            folds.append(fold)
            print(
                f"  seed {e} held out: {fold['runs']['advise']} runs on seeds {checked_on}; "
                f"recommended {fold['recommended']['advise']} → {fold['gain']['advise']:+.2f} "
                f"points on seed {e}"
            )
            for g, v in fold["checked"].items():
                print(f"      {g:14s} {v}")
            for n in advisers:
                if n != "advise":
                    print(f"    {n:32s} {fold['recommended'][n]} → {fold['gain'][n]:+.2f}")
        figures[label] = summarise(folds)
    print("the expected-gain rule, held out by seed (points of the main metric):")
    figures["expected_rule"] = expected_rule(
        per_pair_seed, combined, seeds, [advisor_seed_sd(), *a.one_seed_sd]
    )
    write_json(
        a.json,
        figures
        | {
            "settings": {
                "tasks": names,
                "seeds": seeds,
                "budgets": a.budgets,
                "max_size": 2,
                "order": a.order,
            }
        },
    )


def expected_rule(per_pair_seed: pd.Series, combined: Affinity, seeds, spreads) -> dict:
    """The rule `advise` recommends an unsettled group by (its expected gain > 0: the held-out
    prediction and the Δ measured on ``n`` seeds weighed by their precision), held out by seed:
    for every pair, every seed e and every ``n`` of the other seeds, the pair is recommended or
    not from those ``n`` seeds and scored on seed e. One seed's Δ is weighed with each seed sd
    of ``spreads`` (points); ``n`` ≥ 2 seeds with their own CI. Beside it, Δ > 0 alone, and
    every pair. Per rule: how often it recommends, the held-out gain of what it recommends, and
    its gain per decision against training alone (a pair not recommended gains 0) — averaged
    per pair first, so that its CI is over the pairs (a pair's cases share its noise)."""
    out: dict = {}
    for n in (1, 2):
        per_pair: dict[str, list[float]] = {}  # rule → each pair's mean gain per decision
        chosen_gains: dict[str, list[float]] = {}  # rule → held-out gains of what it chose
        for p in per_pair_seed.index.unique(level="pair"):
            a, b = p.split("+")
            gain = per_pair_seed[p]
            outcome: dict[str, list[float]] = {}
            for e in seeds:
                for used in itertools.combinations([s for s in seeds if s != e], n):
                    values = [gain[s] for s in used]
                    delta = float(np.mean(values))
                    row = {
                        "predicted": combined.matrix.loc[a, b],
                        "predicted_se": combined.se.loc[a, b],
                        "seeds": n,
                        "delta": delta,
                        "delta_se": np.std(values, ddof=1) / math.sqrt(n) if n > 1 else math.nan,
                    }
                    rules = {"Δ > 0 alone": delta > 0, "every pair": True}
                    if n == 1:
                        for sd in spreads:
                            rules[f"expected > 0, seed sd {sd:.2f}"] = _expected(row, sd) > 0
                    else:
                        rules["expected > 0, own CI"] = _expected(row, math.nan) > 0
                    for rule, chosen in rules.items():
                        outcome.setdefault(rule, []).append(100 * gain[e] if chosen else 0.0)
                        if chosen:
                            chosen_gains.setdefault(rule, []).append(100 * gain[e])
            for rule, values in outcome.items():
                per_pair.setdefault(rule, []).append(float(np.mean(values)))
        cases = len(seeds) * math.comb(len(seeds) - 1, n)
        print(f"  Δ on {n} seed{'s' if n > 1 else ''}, scored on another ({cases} cases a pair):")
        out[f"{n}_seeds"] = {}
        for rule, values in per_pair.items():
            held = chosen_gains.get(rule, [])
            m, _ = mean_ci(held) if held else (math.nan, math.nan)
            d, dh = mean_ci(values)
            out[f"{n}_seeds"][rule] = {
                "recommended": len(held),
                "gain_of_recommended": round(m, 2),
                "gain_per_decision": round(d, 3),
                "gain_per_decision_ci95": round(dh, 3),
            }
            print(
                f"    {rule:34s} recommends {len(held):4d}, they gain {m:+.2f} on the held-out "
                f"seed; per decision {d:+.3f} ± {dh:.3f} (CI over the pairs)"
            )
    return out


def summarise(folds: list[dict]) -> dict:
    """Each method's gain over the folds (mean ± 95% CI) and advise minus each, paired by fold."""
    mine = np.array([f["gain"]["advise"] for f in folds])
    names = list(dict.fromkeys(n for f in folds for n in f["gain"]))
    out: dict = {
        "folds": folds,
        "gain": {},
        "ci95": {},
        "advise_minus": {},
        "advise_minus_ci95": {},
    }
    print("  gain over all tasks (points; mean ± 95% CI over the held-out seeds), advise − it:")
    for n in names:
        values = np.array([f["gain"].get(n, np.nan) for f in folds])
        held = np.isfinite(values)  # all tasks in one model: only on the seeds that trained it
        m, h = mean_ci(values[held])
        dm, dh = mean_ci((mine - values)[held])
        out["gain"][n], out["ci95"][n] = round(m, 2), round(h, 2)
        if n != "advise":
            out["advise_minus"][n], out["advise_minus_ci95"][n] = round(dm, 2), round(dh, 2)
        shown = "" if n == "advise" else f"   advise − it {dm:+.2f} ± {dh:.2f}"
        print(f"    {n:26s} {m:+.2f} ± {h:.2f}{shown}")
    return out


if __name__ == "__main__":
    main()
