"""Does the combined advice beat every single signal? Checked on two ground truths, leave one task
out, every signal's figure reported.

    python bench/advise_eval.py --data-dir ../shared/data --gains bench/data/pair_gains.csv \
        --json bench/out/advise_eval.json

1. Measured transfer (TaskWeb, Kim et al. 2023): the mean TaskWeb score over its 7 model /
   adaptation settings for the 9 tasks whose data we have (boolq, cb, copa, mrpc, qnli,
   rotten_tomatoes = rt, rte, stsb, wic; 72 ordered pairs). Per target: Spearman between a
   signal's affinity source → target and the measured transfer, NDCG of its ranking of the
   sources, and Regret@3 (how much lower the target's T5-large score after transfer from the
   signal's top 3 sources is than from the best 3 of them, in %; TaskWeb's
   taskweb_t5l_target_scores.csv); mean over the targets.
2. Measured multi-task gains (bench/pair_gains.py): per pair, the mean over its two tasks of MTL −
   STL. Spearman of each signal's pair affinity with the measured gain, over all pairs and per
   task (the pairs that contain it); and the measured gain of the partition into pairs each one
   recommends, against random partitions with as many pairs and against all tasks in one model.

Signals (fp32): TextEmb, PVI (probe; STS-B cut into 5 bins), probe transfer, and TAG lookahead
affinity + gradient cosine from one multi-task run of the tasks (`taskmix advise`'s own code), and
on TaskWeb also the published Retrieval-of-Experts similarity and TaskShop (pivots through all 21
TaskWeb tasks, the target's own column held out). The combined advisor: `AffinityModel` (ridge
least squares with non-negative weights of the measured value on the standardised signals, and an
intercept), fitted leave one task out (per task t a model fitted on the entries without t ranks t's
sources or pairs; a pair's predicted gain, for the Spearman over all pairs and the partition, is
the mean of the model that never saw its first task and the one that never saw its second), and
equal weights beside it; on TaskWeb also the advisor `taskmix advise` ships (fitted on the pair
gains), out of its domain.

Each ground truth's own ceiling beside the signals: on TaskWeb, how well one of its settings'
measured transfer ranks a target's sources by the mean of the other settings'; on the pair
gains, how well two seeds agree and the noise ceiling of the mean over the seeds (Spearman–Brown)
— and the fitted advisor minus each signal, paired by held-out task. With one signal left out
(as `taskmix advise` does when it is not measured), the advisor refitted without it against the
rest with equal weights. Whether the advisor's predicted gain and its se are calibrated for
tasks it never saw (each pair predicted by the advisor fitted without both its tasks: the share
of pairs inside its 68/90/95% intervals, and its error in points beside each signal alone and no
signal); with --check-seeds, the advisor fitted on --seeds scored on seeds it never saw. The
pair-gain table and the signals are written to the package (src/taskmix/group/advisor_pairs.csv,
--advisor-table): what `taskmix advise` fits its advisor on.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
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
from taskmix.group.affinity import (  # noqa: E402
    Affinity,
    AffinityModel,
    combine,
    fitted_advisor,
    taskshop_affinity,
)
from taskmix.group.partition import random_partition  # noqa: E402
from taskmix.relate.matrix import TransferMatrix  # noqa: E402
from taskmix.relate.ranking import ndcg, rank, regret_at_k  # noqa: E402
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
        # fp32 on every CPU, as the advisor's table was first measured (auto: bf16 where fast)
        model=ModelConfig(max_length=64, precision="fp32"),
        train=TrainConfig(epochs=10, freeze_embeddings=True),  # as measured (TAG's cache key)
        group=GroupConfig(pvi=PVIConfig(bins=5)),
        seeds=[1],
        out=out,
        advise=AdviseConfig(tag_steps=tag_steps),
    )
    signals, notes = Advisor(run, show_progress=True).signals(suite)
    for n in notes:
        print("note:", n)
    return signals


def held_out(
    signals: list[Affinity], gold: pd.DataFrame, names, ridge: float = 1.0, without=()
) -> dict[str, Affinity]:
    """Leave one task out: per task t (not in ``without``, whose entries are left out too), the
    fitted advisor (`AffinityModel(ridge)`) fitted on the measured entries that do not involve
    t, and its prediction of every entry (with its se)."""
    out = {}
    for t in names:
        if t in without:
            continue
        held = gold.copy()
        held.loc[[t, *without], :] = np.nan
        held.loc[:, [t, *without]] = np.nan
        a = AffinityModel(ridge).fit(signals, held).predict(signals)
        out[t] = Affinity(a.name, a.matrix.loc[names, names], a.se.loc[names, names], 0.0)
    return out


def fitted(models: dict[str, Affinity], names, by: str) -> Affinity:
    """One matrix from the held-out models: by "target", column t from the model that never saw
    t; by "pair", entry (i, j) the mean of the models that never saw i and never saw j (its se
    too)."""
    pred = pd.DataFrame(np.nan, index=names, columns=names)
    se = pred.copy()
    for i, j in itertools.permutations(names, 2):
        by_model = [models[j]] if by == "target" else [models[i], models[j]]
        pred.loc[i, j] = np.mean([m.matrix.loc[i, j] for m in by_model])
        se.loc[i, j] = np.mean([m.se.loc[i, j] for m in by_model])
    return Affinity("combined (fitted, LOO)", pred, se, neutral=0.0)


def per_target(
    a: Affinity, gold: pd.DataFrame, names, after: pd.DataFrame, k: int = 3
) -> tuple[list[float], list[float], list[float]]:
    """Per target: Spearman(affinity s → t, measured s → t), NDCG of the ranking, and Regret@k
    of its top ``k`` sources against the best ``k`` by ``after`` (source × target: the target's
    score after transfer from the source)."""
    rhos, gains, regrets = [], [], []
    for t in names:
        src = [s for s in names if s != t and np.isfinite(gold.loc[s, t])]
        x = a.matrix.loc[src, t].astype(float)
        y = gold.loc[src, t].astype(float)
        rhos.append(float(stats.spearmanr(x, y).statistic))
        predicted, score = rank(x), after.loc[src, t].astype(float)
        gains.append(ndcg(predicted, rank(y)))
        regrets.append(regret_at_k(predicted, rank(score), score.to_dict(), k))
    return rhos, gains, regrets


def transfer_truth(data_dir: Path, tag_steps: int, out: str, train_rows: int) -> dict:
    d = data_dir / "taskweb"
    matrix = TransferMatrix.load(d / "taskweb_pairwise.csv", setting="ALL/ALL")
    ours = list(TASKWEB)
    scores = matrix.scores()  # target × source
    gold = pd.DataFrame(np.nan, index=ours, columns=ours)  # source × target
    for s, t in itertools.permutations(ours, 2):
        gold.loc[s, t] = scores.loc[TASKWEB[t], TASKWEB[s]]
    after = pd.read_csv(d / "taskweb_t5l_target_scores.csv")  # a target's score after transfer
    after = after.pivot(index="source", columns="target", values="mean_score")
    after = after.loc[[TASKWEB[t] for t in ours], [TASKWEB[t] for t in ours]]
    after.index, after.columns = ours, ours
    signals = measured_signals(ours, data_dir, out, tag_steps, train_rows)
    measured = list(signals)
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
    models = held_out(signals, gold, ours)
    shipped = fitted_advisor(a.name for a in measured).predict(measured, name="advise's fitted")
    everything = [*signals, combine(signals), fitted(models, ours, by="target"), shipped]
    out_fig["between_settings"] = settings_agreement(d / "taskweb_pairwise.csv", ours)
    for a in everything:
        a = Affinity(a.name, a.matrix.loc[ours, ours], neutral=a.neutral)
        rhos, gains, regrets = per_target(a, gold, ours, after)
        (rho, rh), (g, gh) = mean_ci(np.nan_to_num(rhos)), mean_ci(gains)
        r3, r3h = mean_ci(regrets)
        out_fig[a.name] = {
            "spearman": round(rho, 3),
            "spearman_ci95": round(rh, 3),
            "ndcg": round(100 * g, 2),
            "ndcg_ci95": round(100 * gh, 2),
            "regret3": round(r3, 2),
            "regret3_ci95": round(r3h, 2),
        }
        print(
            f"  {a.name:26s} Spearman {rho:+.3f} ± {rh:.3f}   NDCG {100 * g:6.2f} ± {100 * gh:.2f}"
            f"   Regret@3 {r3:5.2f} ± {r3h:.2f}%  (95% CI over the 9 targets)"
        )
    return out_fig


def settings_agreement(path: Path, ours: list[str]) -> dict:
    """The ceiling of the transfer ground truth: per target, the Spearman between one TaskWeb
    setting's measured transfer from the 8 sources and the mean of the other 6 settings' (each
    setting in turn); mean ± 95% CI over the targets — what fine-tuning one other model and
    measuring its transfer exactly would score against the mean, where a cheap signal scores."""
    full = TransferMatrix.load(path)
    settings = [x for x in full.settings if x != "ALL/ALL"]
    tw = [TASKWEB[t] for t in ours]
    mats = {x: full.select(x).scores().reindex(index=tw, columns=tw) for x in settings}
    per_setting: dict[str, list[float]] = {x: [] for x in settings}
    for t in tw:
        src = [x for x in tw if x != t]
        for x in settings:
            rest = np.nanmean([mats[o].loc[t, src].to_numpy(float) for o in settings if o != x], 0)
            rho = stats.spearmanr(mats[x].loc[t, src], rest, nan_policy="omit").statistic
            per_setting[x].append(float(rho))
    each = np.nanmean(np.array(list(per_setting.values())), axis=0)  # per target
    m, h = mean_ci(each)
    print(
        f"  one TaskWeb setting vs the other 6 (the ground truth's own agreement): Spearman "
        f"{m:+.3f} ± {h:.3f}; per setting "
        + ", ".join(f"{x} {np.nanmean(v):+.3f}" for x, v in per_setting.items())
    )
    return {
        "spearman": round(float(m), 3),
        "spearman_ci95": round(float(h), 3),
        "per_setting": {x: round(float(np.nanmean(v)), 3) for x, v in per_setting.items()},
    }


def seed_ceiling(per_pair_seed: pd.Series, names: list[str]) -> dict:
    """The ceiling of the pair-gain ground truth: how well its mean gain over k seeds can be
    ranked at all. r1 = the mean Spearman between two seeds' gains (over all pairs; per task,
    over the pairs that contain it, averaged); the reliability of the k-seed mean by
    Spearman–Brown, R = k·r1 / (1 + (k − 1)·r1); the noise ceiling √R: the Spearman a perfect
    predictor of the true gain would expect against the measured mean; and the seeds that a
    ceiling of 0.9 would need."""
    table = per_pair_seed.unstack()  # pair × seed
    k = table.shape[1]

    def r1(rows: pd.DataFrame) -> float:
        cols = list(rows.columns)
        return float(
            np.mean(
                [
                    stats.spearmanr(rows[a], rows[b]).statistic
                    for a, b in itertools.combinations(cols, 2)
                ]
            )
        )

    out = {}
    whole = r1(table)
    per_task = float(np.mean([r1(table[[t in p.split("+") for p in table.index]]) for t in names]))
    for key, r, label in (
        ("pairs", whole, "all pairs"),
        ("per_task", per_task, "each task's pairs"),
    ):
        rel = k * r / (1 + (k - 1) * r) if r > 0 else 0.0
        need = 0.81 * (1 - r) / (r * (1 - 0.81)) if r > 0 else math.inf
        out[key] = {
            "seed_spearman": round(r, 3),
            "reliability": round(rel, 3),
            "ceiling": round(math.sqrt(rel), 3),
            "seeds_for_ceiling_0.9": round(need, 1) if math.isfinite(need) else None,
        }
        print(
            f"  ground truth, {label}: two seeds agree at Spearman {r:+.3f}; "
            f"the {k}-seed mean's reliability {rel:.3f}, noise ceiling {math.sqrt(rel):.3f} "
            f"(a ceiling of 0.9 needs ≈{need:.0f} seeds)"
        )
    return out


def read_gains(
    path: Path, seeds: list[int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], pd.Series]:
    """bench/data/pair_gains.csv (the rows of ``seeds``, default all): all rows, the pair rows,
    the tasks in order, and the mean gain over each pair's two tasks per seed."""
    frame = pd.read_csv(path)
    if seeds:
        frame = frame[frame.seed.isin(seeds)]
    pairs = frame[frame.pair != "all"]
    per_pair_seed = pairs.groupby(["pair", "seed"]).gain.mean()
    return frame, pairs, list(dict.fromkeys(pairs.task)), per_pair_seed


def gold_matrix(per_pair_seed: pd.Series, names: list[str]) -> pd.DataFrame:
    """The measured gain of every pair (mean over its seeds), task × task, in points: the fitted
    advisor predicts a gain in points of the main metric."""
    gold = pd.DataFrame(np.nan, index=names, columns=names)
    for p in per_pair_seed.index.unique(level="pair"):
        a, b = p.split("+")
        gold.loc[a, b] = gold.loc[b, a] = 100 * float(per_pair_seed[p].mean())
    return gold


def gains_of(pairs: pd.DataFrame) -> dict[tuple, float]:
    """(pair, task, seed) → the task's gain in the pair, from the pair rows of the table."""
    return {(r.pair, r.task, r.seed): r.gain for r in pairs.itertuples()}


def partition_gains(part, gain_of: dict[tuple, float], names: list[str], seeds) -> np.ndarray:
    """The measured gain of a partition into pairs on each of ``seeds``: the gain of every task
    in a pair (``gain_of``: :func:`gains_of`), summed, over all tasks (a task left alone counts
    0)."""
    return np.array(
        [
            sum(gain_of[("+".join(_order(g, names)), t, s)] for g in part if len(g) == 2 for t in g)
            / len(names)
            for s in seeds
        ]
    )


def loo_rhos(
    signals: list[Affinity], gold: pd.DataFrame, names, ridge: float, without=()
) -> np.ndarray:
    """Per task t not in ``without``: Spearman of the model that never saw t (:func:`held_out`)
    with the measured gain over t's pairs with the other tasks not in ``without``."""
    out = []
    for t, a in held_out(signals, gold, names, ridge, without).items():
        others = [s for s in names if s != t and s not in without]
        rho = stats.spearmanr([a.pair(t, s) for s in others], gold.loc[t, others]).statistic
        out.append(np.nan_to_num(rho))
    return np.array(out)


def ridge_choice(signals: list[Affinity], gold: pd.DataFrame, names, grid: list[float]) -> dict:
    """Would another ridge strength let the advisor beat PVI? Spearman per held-out task for each
    fixed ridge of ``grid`` (chosen after seeing them: optimistic) and for the ridge chosen inside
    each fold by leave one task out over the fold's own tasks (nested: the held-out task takes
    no part in the choice), each beside PVI's, paired by task."""
    pvi = next(a for a in signals if a.name == "pvi")
    base = loo_rhos([pvi], gold, names, 1.0)  # one signal: its ranking, whatever the ridge
    fixed = {r: loo_rhos(signals, gold, names, r) for r in grid}
    nested = []
    for i, t in enumerate(names):
        best = max(grid, key=lambda r: loo_rhos(signals, gold, names, r, without=(t,)).mean())
        nested.append(fixed[best][i])  # t held out, at the ridge its fold chose
    rows = {f"ridge {r:g}": v for r, v in fixed.items()}
    rows["ridge chosen in each fold"] = np.array(nested)
    out = {}
    for k, v in rows.items():
        (m, h), (dm, dh) = mean_ci(v), mean_ci(v - base)
        out[k] = {
            "spearman_per_task": _r3(m),
            "spearman_per_task_ci95": _r3(h),
            "minus_pvi": _r3(dm),
            "minus_pvi_ci95": _r3(dh),
        }
        print(f"  advisor, {k:26s} per task {m:+.3f} ± {h:.3f}   − PVI {dm:+.3f} ± {dh:.3f}")
    return out


def seed_sigma(per_pair_seed: pd.Series) -> float:
    """How far one seed's gain of a pair falls from its mean (points), pooled over the pairs."""
    return 100 * math.sqrt(per_pair_seed.groupby(level="pair").var().mean())


def coverage(z: np.ndarray, label: str) -> dict:
    """The share of the standardised errors ``z`` inside the 68, 90 and 95% normal intervals."""
    z = np.abs(np.asarray(z))
    shares = {f"{q}": _r3(np.mean(z <= stats.norm.ppf(0.5 + q / 200))) for q in (68, 90, 95)}
    shown = ", ".join(f"{v:.2f} in the {q}% interval" for q, v in shares.items())
    print(f"  {label}: {shown}")
    return shares


def calibration(signals: list[Affinity], gold: pd.DataFrame, per_pair_seed: pd.Series, names):
    """Is the fitted advisor's predicted gain, with its se, calibrated for tasks it never saw?
    Per pair, the advisor fitted without either of its tasks (as on a user's suite, where neither
    is in its table) predicts the pair's gain; the measured mean over n seeds should fall from it
    by a z = (measured − predicted) / √(se² + σ²/n) that is standard normal (σ: the seed spread of
    one pair's gain, pooled; se: the model's own). Reported: the share of pairs inside the 68, 90
    and 95% intervals, and the root mean squared error of the point prediction beside the same
    model on each signal alone and the mean gain of the other pairs (no signal)."""
    pairs = [p.split("+") for p in per_pair_seed.index.unique(level="pair")]
    seeds = per_pair_seed.groupby(level="pair").size()
    sigma = seed_sigma(per_pair_seed)
    errors: dict[str, list[float]] = {}
    z = []
    for a, b in pairs:
        held = gold.copy()
        held.loc[[a, b], :] = np.nan
        held.loc[:, [a, b]] = np.nan
        truth = gold.loc[a, b]
        errors.setdefault("no signal (mean gain)", []).append(truth - np.nanmean(held.to_numpy()))
        for name, used in [("combined (fitted)", signals), *[(s.name, [s]) for s in signals]]:
            model = AffinityModel().fit(used, held)
            predicted = model.predict(used).pair(a, b)
            errors.setdefault(name, []).append(truth - predicted)
            if used is signals:
                n = seeds[f"{a}+{b}"]
                z.append((truth - predicted) / math.sqrt(model.residual_sd_**2 + sigma**2 / n))
    shares = coverage(z, f"calibration, both tasks held out ({len(pairs)} pairs)")
    rms = {k: _r3(np.sqrt(np.mean(np.square(v)))) for k, v in errors.items()}
    base = np.square(errors["combined (fitted)"])
    out = {"coverage": shares, "rms_error": rms, "mse_minus_advisor": {}}
    for k, v in errors.items():
        if k == "combined (fitted)":
            print(f"  {k:26s} rms error {rms[k]:.3f} points")
            continue
        m, h = mean_ci(np.square(v) - base)
        out["mse_minus_advisor"][k] = {"mean": _r3(m), "ci95": _r3(h)}
        print(f"  {k:26s} rms error {rms[k]:.3f} points; MSE − advisor's {m:+.3f} ± {h:.3f}")
    return out


def fresh_seeds(
    signals: list[Affinity], gold: pd.DataFrame, per_pair_seed: pd.Series, fresh: pd.Series, names
) -> dict:
    """The advisor as shipped (fitted on every pair of ``gold``, the mean over the seeds of
    ``per_pair_seed``) and each signal, scored on seeds the advisor was not fitted on
    (``fresh``: their per pair and seed gains): Spearman with their mean gain over all pairs and
    per task, the advisor minus each signal paired by task, and the share of pairs whose fresh
    mean falls inside the advisor's 68, 90 and 95% intervals (its se and the fit seeds' spread
    over the fresh seeds' number). The tasks are the advisor's own: this checks how far it
    fitted the noise of its seeds, not how it ranks new tasks."""
    new = gold_matrix(fresh, names)
    pairs = list(itertools.combinations(names, 2))
    truth = np.array([new.loc[p] for p in pairs])
    model = AffinityModel().fit(signals, gold)
    shipped = model.predict(signals, "combined (fitted, all pairs)")
    out: dict = {}
    rhos = {}
    mine = {t: [i for i, p in enumerate(pairs) if t in p] for t in names}
    for a in [*signals, shipped]:
        predicted = np.array([a.pair(*p) for p in pairs])
        rho = stats.spearmanr(predicted, truth).statistic
        rhos[a.name] = np.nan_to_num(
            [stats.spearmanr(predicted[mine[t]], truth[mine[t]]).statistic for t in names]
        )
        m, h = mean_ci(rhos[a.name])
        out[a.name] = {
            "spearman_pairs": _r3(rho),
            "spearman_per_task": _r3(m),
            "spearman_per_task_ci95": _r3(h),
        }
        print(f"  {a.name:28s} Spearman pairs {rho:+.3f}  per task {m:+.3f} ± {h:.3f}")
    out["advisor_minus"] = {}
    for name, r in rhos.items():
        if name != shipped.name:
            m, h = mean_ci(rhos[shipped.name] - r)
            out["advisor_minus"][name] = {
                "spearman_per_task": _r3(m),
                "spearman_per_task_ci95": _r3(h),
            }
            print(f"  advisor (all pairs) − {name:19s} Spearman per task {m:+.3f} ± {h:.3f}")
    n = fresh.groupby(level="pair").size()
    n = np.array([n["+".join(p)] for p in pairs])
    predicted = np.array([shipped.pair(*p) for p in pairs])
    spread = np.sqrt(model.residual_sd_**2 + seed_sigma(per_pair_seed) ** 2 / n)
    out["coverage"] = coverage((truth - predicted) / spread, "the fresh seeds' mean gain")
    return out


def pair_truth(
    gains_csv: Path,
    data_dir: Path,
    tag_steps: int,
    out: str,
    train_rows: int,
    table: Path,
    seeds: list[int] | None = None,
    check_seeds: list[int] | None = None,
    ridges: list[float] | None = None,
):
    frame, pairs, names, per_pair_seed = read_gains(gains_csv, seeds)
    seeds = sorted(set(frame.seed))
    gold = gold_matrix(per_pair_seed, names)
    signals = measured_signals(names, data_dir, out, tag_steps, train_rows)

    gain_of = gains_of(pairs)

    def partition_gain(part) -> np.ndarray:
        return partition_gains(part, gain_of, names, seeds)

    figures: dict = {"ceiling": seed_ceiling(per_pair_seed, names)}
    task_rhos: dict[str, np.ndarray] = {}
    truth = pd.Series({p: gold.loc[tuple(p.split("+"))] for p in pairs.pair.unique()})

    def per_task(a: Affinity, held: dict[str, Affinity]) -> np.ndarray:
        """Spearman of ``a`` with the measured gain over each task's pairs (``held[t]``: the
        fitted advisor that never saw t)."""

        def rho(t: str) -> float:
            mine = [p for p in truth.index if t in p.split("+")]
            src = held.get(t, a)
            return stats.spearmanr([src.pair(*p.split("+")) for p in mine], truth[mine]).statistic

        return np.nan_to_num([rho(t) for t in names])

    def loo_advisor(signals: list[Affinity]) -> tuple[Affinity, dict[str, Affinity]]:
        models = held_out(signals, gold, names)
        loo = fitted(models, names, by="pair")
        return loo, {t: Affinity(loo.name, models[t].matrix, neutral=0.0) for t in names}

    loo, by_task = loo_advisor(signals)
    everything = [(a, {}) for a in [*signals, combine(signals)]] + [(loo, by_task)]
    for a, held in everything:
        sym = pd.Series({p: a.pair(*p.split("+")) for p in truth.index})
        rho_all = stats.spearmanr(sym, truth).statistic
        task_rhos[a.name] = per_task(a, held)
        rho_task, rho_task_ci = mean_ci(task_rhos[a.name])
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
    # the advisor against each signal, paired by held-out task
    figures["advisor_minus"] = {}
    for name, rhos in task_rhos.items():
        if name == loo.name:
            continue
        m, h = mean_ci(task_rhos[loo.name] - rhos)
        figures["advisor_minus"][name] = {
            "spearman_per_task": round(float(m), 3),
            "spearman_per_task_ci95": round(float(h), 3),
        }
        print(
            f"  fitted advisor − {name:22s} Spearman per task {m:+.3f} ± {h:.3f} (paired by task)"
        )
    # a signal that is not measured (`advise --signals`, PVI it cannot measure): the advisor
    # refitted without it against the rest with equal weights, paired by held-out task
    figures["without"] = {}
    for left in signals:
        rest = [a for a in signals if a is not left]
        refit, equal = per_task(*loo_advisor(rest)), per_task(combine(rest), {})
        row = {}
        for k, v in [("refitted", refit), ("equal_weights", equal), ("difference", refit - equal)]:
            m, h = mean_ci(v)
            row[k] = {"spearman_per_task": _r3(m), "spearman_per_task_ci95": _r3(h)}
        figures["without"][left.name] = row
        shown = {
            k: f"{v['spearman_per_task']:+.3f} ± {v['spearman_per_task_ci95']:.3f}"
            for k, v in row.items()
        }
        print(
            f"  without {left.name:16s} per task: advisor refitted (LOO) {shown['refitted']}   "
            f"equal weights {shown['equal_weights']}   difference {shown['difference']}"
        )
    figures["calibration"] = calibration(signals, gold, per_pair_seed, names)
    if ridges:
        figures["ridge_choice"] = ridge_choice(signals, gold, names, ridges)
    # random partitions with 1 … n/2 pairs (compare each method with its own number of pairs)
    figures["random"] = {}
    for k in range(1, len(names) // 2 + 1):
        draws = [partition_gain(random_partition(names, [2] * k, i)) for i in range(500)]
        m, h = mean_ci(np.stack(draws).mean(axis=0))
        figures["random"][f"{k}_pairs"] = {
            "partition_gain": round(100 * m, 2),
            "partition_gain_ci95": round(100 * h, 2),
        }
        print(f"  random, {k} pairs (500 draws)  partition gain {100 * m:+.2f} ± {100 * h:.2f}")
    # the advisor `taskmix advise` ships: fitted on every pair of this table
    write_advisor_table(signals, gold, per_pair_seed, names, table)
    model = AffinityModel().fit(signals, gold)
    figures["fitted_model"] = {**model.to_dict(), "pairs": model.n_pairs_ // 2, "tasks": names}
    print(f"  fitted on all {model.n_pairs_ // 2} pairs: {model.to_dict()}")
    own = model.predict(signals).partition(max_size=3)  # in sample: not a held-out figure
    figures["fitted_model"]["partition_in_sample"] = "; ".join("+".join(g) for g in own)
    everything_gain = frame[frame.pair == "all"].groupby("seed").gain.mean().to_numpy()
    if len(everything_gain):
        m, h = mean_ci(everything_gain)
        figures["all_tasks"] = {
            "partition_gain": round(100 * m, 2),
            "partition_gain_ci95": round(100 * h, 2),
        }
        print(f"  all tasks in one model        partition gain {100 * m:+.2f} ± {100 * h:.2f}")
    if check_seeds:
        if set(check_seeds) & set(seeds):
            raise SystemExit(f"--check-seeds {check_seeds} overlap the seeds fitted on {seeds}")
        print(f"  seeds {', '.join(map(str, check_seeds))}, not fitted on:")
        fresh = read_gains(gains_csv, check_seeds)[3]
        figures["fresh_seeds"] = fresh_seeds(signals, gold, per_pair_seed, fresh, names)
    return figures


def write_advisor_table(
    signals: list[Affinity], gold: pd.DataFrame, per_pair_seed: pd.Series, names, path: Path
) -> None:
    """What `taskmix advise` fits its advisor on (:func:`taskmix.group.affinity.fitted_advisor`,
    on whichever of these signals a suite has): every ordered pair's measured gain (points), its
    standard deviation over the seeds (``gain_sd``: how far one seed falls from the mean,
    :func:`taskmix.group.affinity.advisor_seed_sd`) and each signal standardised on these tasks."""
    z = {a.name: a.standardised().loc[names, names] for a in signals}
    sd = 100 * per_pair_seed.groupby(level="pair").std()
    rows = [
        {
            "source": i,
            "target": j,
            "gain": round(float(gold.loc[i, j]), 6),
            "gain_sd": round(float(sd["+".join(_order((i, j), names))]), 6),
        }
        | {k: round(float(m.loc[i, j]), 6) for k, m in z.items()}
        for i, j in itertools.permutations(names, 2)
        if np.isfinite(gold.loc[i, j])
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    print(f"  wrote {path} ({len(rows)} ordered pairs, signals {', '.join(z)})")


def _r3(x: float) -> float:
    return round(float(x), 3)


def _r(x: float) -> float:
    return round(100 * float(x), 2)


def add_gains_args(ap: argparse.ArgumentParser) -> None:
    """The data and the pair-gain table (and which of its seeds) a script reads."""
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--gains", type=Path, default=Path("bench/data/pair_gains.csv"))
    ap.add_argument(
        "--seeds",
        type=lambda v: [int(x) for x in v.split(",")],
        help="the seeds of the pair gains used, e.g. 1,2,3 (default: every seed in --gains)",
    )


def _order(group, names) -> list[str]:
    return sorted(group, key=names.index)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_gains_args(ap)
    ap.add_argument("--tag-steps", type=int, default=300)
    ap.add_argument("--train-rows", type=int, default=500)
    ap.add_argument("--out", default="bench/out/advise_eval")
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument(
        "--advisor-table",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "src/taskmix/group/advisor_pairs.csv",
        help="where the shipped advisor's table is written (the pair gains and the signals)",
    )
    ap.add_argument(
        "--ceilings-only",
        action="store_true",
        help="only each ground truth's own ceiling (seconds: no signal is measured)",
    )
    ap.add_argument(
        "--check-seeds",
        type=lambda v: [int(x) for x in v.split(",")],
        help="seeds of --gains the advisor is not fitted on, to score it on (give --seeds too)",
    )
    ap.add_argument(
        "--ridges",
        type=lambda v: [float(x) for x in v.split(",")],
        help="ridge strengths to try the advisor with, fixed and chosen inside each fold",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.time()
    figures = {}
    if a.ceilings_only:
        print("TaskWeb measured transfer, 9 tasks:")
        path = a.data_dir / "taskweb" / "taskweb_pairwise.csv"
        figures["transfer"] = {"between_settings": settings_agreement(path, list(TASKWEB))}
        print(f"measured pair gains ({a.gains}):")
        _, _, names, per_pair_seed = read_gains(a.gains, a.seeds)
        figures["pair_gain"] = {"ceiling": seed_ceiling(per_pair_seed, names)}
        write_json(a.json, figures)
        return
    if not a.skip_transfer:
        print("TaskWeb measured transfer, 9 tasks (mean over targets):")
        figures["transfer"] = transfer_truth(a.data_dir, a.tag_steps, a.out, a.train_rows)
    if a.gains.exists():
        print("measured pair gains (bench/pair_gains.py):")
        figures["pair_gain"] = pair_truth(
            a.gains,
            a.data_dir,
            a.tag_steps,
            a.out,
            a.train_rows,
            a.advisor_table,
            a.seeds,
            a.check_seeds,
            a.ridges,
        )
    figures["settings"] = {
        "tag_steps": a.tag_steps,
        "train_rows": a.train_rows,
        "minutes": round((time.time() - t0) / 60, 1),
    }
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
