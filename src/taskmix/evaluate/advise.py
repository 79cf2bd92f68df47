"""`taskmix advise`: one recommendation of which tasks to train together, checked by training.

1. The cheap signals, each a task × task :class:`~taskmix.group.affinity.Affinity`: TextEmb and
   PVI from one encoder pass over the data; probe transfer between every ordered pair from the
   same cached features (a small MLP trained on the source, then on 32 examples of the target,
   against the target alone: it sees how the tasks' labels relate, as TextEmb cannot); TAG's
   lookahead affinity and the gradient cosine from one multi-task run of all tasks (kept under
   ``out/affinity/``: a rerun reads them). Transfer runs are runs in the store; under a time
   budget they are measured seed by seed within ``transfer_share`` of it (they grow with the
   square of the tasks), and TAG's run stops at ``tag_share`` of it.
2. One predicted affinity: the signals standardised and combined by the fitted advisor
   (:func:`~taskmix.group.affinity.fitted_advisor`: the predicted gain in points, fitted on
   measured pair gains with the signals the suite has), by equal weights or by given ones, and
   the partition that maximises it (TAG's objective).
3. The budget checks it: the candidate groups are those of the combined partition and of each
   signal's own partition; each is trained (with its tasks' STL models) on ``min_seeds`` seeds —
   the proposed groups on all of theirs before the others on any, then the others one group
   at a time, the least certain prediction first (with the fitted advisor, the predicted gain
   fewest standard errors from 0; else the group the signals split on most). After each group,
   the inconclusive verdicts that a few more seeds could settle (≈N ≤ ``max_seeds``) get them,
   the fewest first, before the budget goes to a new group, and a group shown to help that is
   smaller than ``max_size`` is grown by the one task the most signals put with it (checked
   next: does a third task join?); at the end, one seed at a time the least certain verdict
   left. A check is made only if its verdict could change the recommendation (the partition of
   step 4 differs between the group helping — by the top of its CI — being equivalent and
   hurting); the checks stop when none could (the recommendation is settled) or the budget is
   spent. Every training is a run in the store (resumable, never repeated).
4. The recommendation: the partition of the candidates with the strongest evidence — the
   largest total measured gain (tasks × mean Δ) of groups shown to help, then as many tasks as
   can be in groups shown equivalent (one model, no loss), then in those not settled whose
   expected gain — the prediction, weighed with what the checks measured — is above 0; groups
   that hurt or whose STL models had not converged are left out (a grown group thus replaces
   its smaller group only if its tasks gain more in all).

The advice per group: *together* (helps), *together: one model, no loss* (equivalent), *apart*
(hurts), *train STL longer first* (its STL models had not converged), *together, unverified*
(inconclusive, or not checked, and recommended on its expected gain: the seeds it would need
are said), or *unsettled* / *-* (inconclusive / not checked, and not recommended).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from taskmix.config import AdviseConfig, RunConfig, config_hash
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError, DataError
from taskmix.evaluate.compare import Comparison
from taskmix.evaluate.proof import MultiTaskTrainer
from taskmix.files import atomic_file, inside
from taskmix.group.affinity import (
    Affinity,
    advisor_seed_sd,
    advisor_signals,
    combine,
    fitted_advisor,
    lookahead_affinities,
    pvi_affinity,
    textemb_affinity,
    transfer_affinity,
)
from taskmix.group.partition import choose_partition
from taskmix.progress import make_progress
from taskmix.stats import Looks
from taskmix.store import RunRecord

log = logging.getLogger(__name__)

#: quantile bins of a regression task's labels for its PVI, unless ``group.pvi.bins`` is set (as
#: the advisor's ground truth was measured: bench/advise_eval.py)
REGRESSION_BINS = 5

Z_95 = NormalDist().inv_cdf(0.975)  # a two-sided 95% normal interval: 1.96 standard errors
GAIN_RESOLUTION = 0.01  # points of total gain that one more task in a helping group weighs
#: the degrees of freedom the advisor's ground truth's seed spread (:func:`advisor_seed_sd`)
#: weighs as in a suite's own (:func:`seed_sd`): as much as one group checked on three seeds
PRIOR_DF = 2
PREDICTED = ("predicted", "predicted_se")  # a group's predicted gain (or affinity) and its se
# a candidate group: proposed (in the combined partition), grown_from (the group shown to help
# that it adds one task to, "+"-joined; "" for the signals' own candidates)
CANDIDATE_COLUMNS = ["group", "proposed", "grown_from", "signals_for", "uncertainty", *PREDICTED]
ADVICE = {
    "helps": "together",
    "equivalent": "together: one model, no loss",
    "hurts": "apart",
}


@dataclass
class Advice:
    """What `advise` found: the signals, the combined affinity, the groups it proposed, the
    comparison of the runs that checked them, and the advice per group."""

    signals: list[Affinity]
    combined: Affinity
    proposed: list[list[str]]  # the partition the combined affinity predicts best
    recommended: list[list[str]]  # after the checks
    comparison: Comparison | None
    groups: pd.DataFrame  # one row per candidate group checked or considered
    runs: int = 0  # distinct runs the checks used
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def pairs(self) -> pd.DataFrame:
        """Each signal's symmetrised pair affinity (above its neutral value), side by side, and
        the combined one."""
        pairs = list(itertools.combinations(self.combined.tasks, 2))  # whatever each's order
        frame = pd.DataFrame(
            {a.name: [a.pair(*p) for p in pairs] for a in [*self.signals, self.combined]},
            index=["+".join(p) for p in pairs],
        )
        return frame.rename_axis("pair").reset_index()

    def save(self, folder: str | Path) -> Path:
        """advice.json (groups, signals' matrices and their standard errors where they have
        them, notes) in ``folder``; returns its path."""
        path = Path(folder) / "advice.json"
        body = {
            "proposed": self.proposed,
            "recommended": self.recommended,
            "groups": json.loads(self.groups.to_json(orient="records")),
            "signals": {
                a.name: {
                    "matrix": json.loads(a.matrix.to_json(orient="split")),
                    "neutral": a.zero,
                    "description": a.description,
                    **({} if a.se is None else {"se": json.loads(a.se.to_json(orient="split"))}),
                }
                for a in [*self.signals, self.combined]
            },
            "runs": self.runs,
            "seconds": self.seconds,
            "notes": self.notes,
        }
        with atomic_file(path) as f:
            f.write(json.dumps(body, indent=2, default=float))
        return path


class Advisor:
    """Recommend groups from the cheap signals and check them by training within a budget.

    >>> advice = Advisor(RunConfig(out="runs")).advise(suite)          # doctest: +SKIP
    >>> advice.groups   # predicted, measured Δ ± CI, verdict, advice per group  # doctest: +SKIP
    """

    def __init__(self, run: RunConfig | None = None, executor=None, show_progress: bool = True):
        self.run = run or RunConfig()
        self.executor = executor
        self.show_progress = show_progress

    @property
    def config(self) -> AdviseConfig:
        return self.run.advise

    @property
    def slots(self) -> int:
        """How many runs the executor carries out at once (one in this process, the default)."""
        return 1 if self.executor is None else self.executor.slots

    # ------------------------------------------------------------ the signals
    def signals(self, suite: Suite) -> tuple[list[Affinity], list[str]]:
        """The affinities the config names, and notes on any that could not be measured."""
        wanted, out, notes = self.config.signals, [], []
        if "textemb" in wanted:
            from taskmix.relate.textemb import TextEmb

            out.append(textemb_affinity(TextEmb(model=self.run.model).fit(suite).scores_))
        if "pvi" in wanted:
            from taskmix.relate.pvi import measure

            config = self.run.group.pvi
            regression = [t.name for t in suite if t.kind == "regression"]
            if regression and not config.bins:  # PVI needs classes: quantile bins of the labels
                config = config.model_copy(update={"bins": REGRESSION_BINS})
                notes.append(
                    f"pvi: the labels of {', '.join(regression)} cut into {REGRESSION_BINS} "
                    "quantile bins (group.pvi.bins in a --config file sets another number)"
                )
            try:
                pvi, _ = measure(
                    suite,
                    config,
                    self.run.model,
                    self.run.out,
                    show_progress=self.show_progress,
                )
                out.append(pvi_affinity(pvi.values()))
            except (ConfigError, DataError) as e:  # e.g. a task PVI cannot measure
                notes.append(f"pvi left out: {e}")
        if "transfer" in wanted:
            found, note = self.transfer(suite)
            out += [found] if found is not None else []
            notes += [note] if note else []
        if {"tag", "gradient_cosine"} & set(wanted):
            found, note = self.lookahead(suite)
            out += [a for a in found if a.name.replace(" ", "_") in wanted]
            notes += [note] if note else []
        if not out:
            raise ConfigError("no affinity signal could be measured", hint="check advise.signals")
        return out, notes

    def transfer(self, suite: Suite) -> tuple[Affinity | None, str | None]:
        """Probe transfer between every ordered pair, over the transfer config's seeds; under a
        time budget over those of them that fit its share (:meth:`transfer_seeds`: None when
        not even one does), with a note when not all of them did."""
        seeds, note = list(self.config.transfer.seeds), None
        if self.config.budget_minutes is not None:
            seeds, note = self.transfer_seeds(suite)
        if not seeds:
            return None, note
        pt = self._pairwise(suite, seeds).fit(suite)  # a rerun reads the runs from the store
        scores = pt.matrix_.scores().reindex(index=suite.names, columns=suite.names)
        return transfer_affinity(scores), note

    def transfer_seeds(self, suite: Suite) -> tuple[list[int], str | None]:
        """The transfer seeds measured within ``transfer_share`` of the time budget, one seed's
        grid at a time: the first seed only if its grid is predicted to fit (from the first
        source's runs: the time so far, and its pair runs' time once for every other source,
        spread over the executor's :attr:`slots`), each further seed only if it is predicted to
        (at the mean time of a seed so far). The choice is kept under ``out/affinity/``, keyed
        by the share, so a rerun (its runs now in the store, quick) measures the same seeds."""
        c = self.config
        seeds, seconds = list(c.transfer.seeds), 60 * c.budget_minutes * c.transfer_share
        path = self._kept(suite, "transfer", transfer=c.transfer, seconds=round(seconds, 3))
        if not path.exists():
            start, used = time.monotonic(), []
            first = self._pairwise(suite, seeds[:1], sources=suite.names[:1]).fit(suite)
            pairs = first.runs_.loc[first.runs_.source != "", "seconds"].sum()
            predicted = time.monotonic() - start + pairs * (len(suite) - 1) / self.slots
            while len(used) < len(seeds):
                spent = time.monotonic() - start  # the next seed ends at the mean time a seed
                ends = spent * (len(used) + 1) / len(used) if used else predicted
                if ends > seconds:
                    break
                self._pairwise(suite, [seeds[len(used)]]).fit(suite)
                used.append(seeds[len(used)])
            with atomic_file(path) as f:
                f.write(json.dumps({"seeds": used, "predicted": predicted}, indent=2))
        saved = json.loads(path.read_text())
        used, share = saved["seeds"], f"{c.transfer_share:.0%} of the time budget, {seconds:.0f} s"
        if not used:
            return [], (
                f"transfer left out: one seed of its probe runs was predicted to take "
                f"{saved['predicted']:.0f} s, more than its share ({share})"
            )
        if len(used) < len(seeds):
            return used, (
                f"transfer measured on {len(used)} of its {len(seeds)} seeds: another was "
                f"predicted to end past its share ({share})"
            )
        return used, None

    def _kept(self, suite: Suite, kind: str, **identity) -> Path:
        """Where a signal measured once is kept: keyed by the suite's tasks, the model and
        ``identity`` (what else it depends on)."""
        identity |= {"tasks": {t.name: t.fingerprint() for t in suite}, "model": self.run.model}
        return inside(self.run.out, "affinity", f"{suite.name}-{kind}-{config_hash(identity)}.json")

    def _pairwise(self, suite: Suite, seeds: list[int], sources=None):
        from taskmix.experiment.transfer import PairwiseTransfer

        return PairwiseTransfer(
            self.config.transfer.model_copy(update={"seeds": seeds}),
            sources=sources,
            model=self.run.model,
            out=self.run.out,
            executor=self.executor,
            show_progress=self.show_progress,
        )

    def lookahead(self, suite: Suite) -> tuple[list[Affinity], str | None]:
        """TAG's affinity and the gradient cosine from one MTL run of all tasks (seed: the first
        of the run config's), read from ``out/affinity/`` when measured before; and a note when
        the run stopped at its share of a time budget (``tag_share``) before its step cap."""
        from taskmix.train.lookahead import auto_every
        from taskmix.train.trainer import step_budget

        c = self.config
        train = self.run.train
        if c.tag_steps and c.tag_steps < step_budget(train, list(suite)):
            train = train.model_copy(update={"max_steps": c.tag_steps, "steps_per_task": False})
        seed = self.run.seeds[0]
        every = auto_every(len(suite), c.tag_per_task, train.batch_size * train.grad_accum)
        identity = {"train": train, "seed": seed, "per_task": c.tag_per_task, "every": every}
        seconds = None if c.budget_minutes is None else 60 * c.budget_minutes * c.tag_share
        if seconds is not None:  # stopped by the clock: a rerun reads what was measured
            identity["seconds"] = round(seconds, 3)
        path = self._kept(suite, "lookahead", **identity)
        if not path.exists():
            self._measure_lookahead(suite, train, seed, every, seconds, path)
        saved = json.loads(path.read_text())
        tasks = saved["tasks"]
        found = [
            Affinity(
                a["name"],
                pd.DataFrame(a["matrix"], index=tasks, columns=tasks),
                pd.DataFrame(a["se"], index=tasks, columns=tasks),
                0.0,
                a["description"],
            )
            for a in saved["affinities"]
        ]
        note = None
        if saved.get("stopped_by_clock"):
            note = (
                f"the TAG run stopped at its share of the time budget ({c.tag_share:.0%}) after "
                f"{saved['steps']} of {saved['planned']} steps ({saved['samples']} "
                f"measurement{'s' if saved['samples'] != 1 else ''})"
            )
        return found, note

    def _measure_lookahead(self, suite, train, seed, every, seconds, path: Path) -> None:
        """One MTL run of all tasks with the lookahead hook; its affinities saved at ``path``.
        The run's model is not scored: its tasks carry only their training examples, so no
        time goes to dev or test."""
        from taskmix.models.backbone import BackboneFactory
        from taskmix.train.lookahead import LookaheadAffinity
        from taskmix.train.trainer import TimeLimit, Trainer

        hook = LookaheadAffinity(every=every, per_task=self.config.tag_per_task, seed=seed)
        trainer = Trainer(train, BackboneFactory(self.run.model))
        tasks = [replace(t, splits={"train": t.splits["train"]}) for t in suite]
        with make_progress(self.show_progress) as bar:
            steps = bar.add_task("TAG run: all tasks, lookahead affinity", total=1)

            def tick(done: int, total: int) -> None:
                bar.update(steps, completed=done, total=total)

            limit = TimeLimit(math.inf if seconds is None else seconds)
            result = trainer.fit(tasks, seed, progress=tick, hooks=[hook, limit])
        with atomic_file(path) as f:
            f.write(
                json.dumps(
                    {
                        "tasks": hook.names,
                        "steps": result.steps,
                        "planned": trainer.total_steps(tasks),
                        "stopped_by_clock": limit.stop,
                        "samples": hook.samples,
                        "train_seconds": result.train_seconds,
                        "hook_seconds": result.hook_seconds,
                        "affinities": [
                            {
                                "name": a.name,
                                "matrix": a.matrix.to_numpy().tolist(),
                                "se": a.se.fillna(0.0).to_numpy().tolist(),
                                "description": a.description,
                            }
                            for a in lookahead_affinities(hook)
                        ],
                    },
                    indent=2,
                )
            )

    # ------------------------------------------------------------ the advice
    def advise(self, suite: Suite, signals: Sequence[Affinity] | None = None) -> Advice:
        """The advice for ``suite``: from ``signals`` if given (e.g. a measured transfer matrix
        as :func:`~taskmix.group.affinity.transfer_affinity`), else from those the config
        names, measured here."""
        start = time.monotonic()
        signals, notes = (list(signals), []) if signals is not None else self.signals(suite)
        combined, note = self.combination(signals)
        notes += [note] if note else []
        proposed = combined.partition(self.config.max_size)
        candidates = self.candidates(signals, combined, proposed)
        comparison, runs, candidates = self.check(suite, signals, combined, candidates, start)
        table = self.table(candidates, comparison)
        left = [  # unsettled, but no verdict of theirs could change the recommendation
            r.group
            for r in table.itertuples()
            if _unsettled(r.verdict) and not could_change(suite.names, table, r.group, self.decide)
        ]
        if left:
            table.loc[table.group.isin(left) & (table.seeds == 0), "verdict"] = (
                "not checked (cannot change the advice)"
            )
            notes.append(
                f"more checks of {', '.join(left)} cannot change the recommendation: no verdict "
                "of theirs would"
            )
        # how a Δ measured on one seed was weighed against a prediction with an se (fitted)
        if comparison is not None and ((table.seeds == 1) & (table.predicted_se > 0)).any():
            notes.append(_one_seed_note(zip(table.seeds, table.delta_se, strict=True)))
        looked = int((table.seeds > self.config.min_seeds).sum())
        if looked or (comparison is not None and isinstance(self.looks(), Looks)):
            notes.append(_looks_note(looked, self.looks()))
        recommended = self.decide(suite.names, table)
        table["recommended"] = [tuple(g.split("+")) in map(tuple, recommended) for g in table.group]
        table["advice"] = [  # an unsettled group recommended on its expected gain: unverified
            _advice(r.verdict, r.recommended) for r in table.itertuples()
        ]
        if not len(table):
            notes.append("no group is predicted to help by any signal: train every task alone")
        return Advice(
            signals,
            combined,
            proposed,
            recommended,
            comparison,
            table,
            runs=runs,
            seconds=time.monotonic() - start,
            notes=notes,
        )

    def combination(self, signals: Sequence[Affinity]) -> tuple[Affinity, str | None]:
        """The combined affinity the config's ``weights`` name, and a note when the fitted
        advisor is fitted on fewer signals than it knows (one could not be measured here) or
        cannot be used (a signal it does not know: equal weights instead)."""
        w = self.config.weights
        if w == "fitted":
            names = [a.name for a in signals]
            known = advisor_signals()
            if set(names) <= set(known):
                missing = [k for k in known if k not in names]
                note = (
                    f"the fitted advisor is refitted without {', '.join(missing)} (not measured "
                    "here) on the pair gains it was fitted on"
                )
                return fitted_advisor(names).predict(signals), note if missing else None
            return combine(signals), (
                f"the fitted advisor knows the signals {', '.join(known)}, not "
                f"{', '.join(n for n in names if n not in known)}; the signals are combined "
                "with equal weights instead"
            )
        return combine(signals, None if w == "equal" else w), None

    def candidates(
        self, signals: list[Affinity], combined: Affinity, proposed: list[list[str]]
    ) -> pd.DataFrame:
        """The groups worth checking: those of the combined partition and of each signal's own
        partition (rows of :func:`candidate_row`: the group whose check is likeliest to change
        the recommendation has uncertainty 1 — with the fitted advisor, the chance of a
        predicted gain at least that far from 0 if the true gain were 0). The proposed ones
        first, then the others, each the most uncertain first (then the best predicted)."""
        found: dict[tuple, None] = {}
        for part in [proposed, *(a.partition(self.config.max_size) for a in signals)]:
            for g in part:
                if len(g) > 1:
                    found.setdefault(tuple(g))
        mine = {tuple(g) for g in proposed}
        rows = [candidate_row(g, signals, combined, g in mine) for g in found]
        frame = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
        # the proposed groups first (their verdicts change the recommendation), each part the
        # most uncertain first, then the best predicted
        return frame.sort_values(
            ["proposed", "uncertainty", "predicted"],
            ascending=False,
            kind="stable",
            ignore_index=True,
        )

    def _in_time(self, start: float, seconds: float) -> bool:
        """Would work of ``seconds`` that starts now end within the time budget (if any)?"""
        minutes = self.config.budget_minutes
        return minutes is None or time.monotonic() - start + seconds <= 60 * minutes

    def check(
        self,
        suite: Suite,
        signals: Sequence[Affinity],
        combined: Affinity,
        candidates: pd.DataFrame,
        start: float,
    ) -> tuple[Comparison | None, int, pd.DataFrame]:
        """Train the ``candidates`` (the frame of :meth:`candidates`, in its order) and their
        tasks' STL models within the budget, in rounds (:func:`first_checks`): the proposed
        groups on ``min_seeds`` seeds each, then each other group on its ``min_seeds``. After
        each round, the inconclusive verdicts that a few more seeds could settle (their
        ``≈N seeds`` at most ``max_seeds``) get them, the fewest seeds first — a promising
        group is settled before the budget goes to new ones — and a group shown to help that
        is smaller than ``max_size`` is grown by the task the signals put with it most
        (:func:`grown`), checked next. When the rounds are done, one seed at a time for the
        least certain verdict left. Each check is made only if its verdict could change the
        recommendation (:func:`could_change`) and it fits the budget: its runs, and under a
        time budget their predicted wall time (:func:`check_seconds`). Returns the comparison
        of every run used, how many runs that was, and the candidates with the grown groups
        added."""
        c = self.config
        budget = math.inf if c.budget_runs is None else c.budget_runs
        pool = list(self.run.seeds)
        while len(pool) < c.max_seeds:
            pool.append(max(pool) + 1)
        order = [tuple(g.split("+")) for g in candidates.group]
        first = [g for g, p in zip(order, candidates.proposed, strict=True) if p]
        seeds = dict.fromkeys(order, 0)
        planned: set[tuple] = set()
        records: dict[str, object] = {}
        tried: set[tuple] = set()  # groups grown (or found not to grow)

        def cost(g: tuple, k: int) -> set[tuple]:
            return {(g, pool[k])} | {((t,), pool[k]) for t in g}

        def affordable(g: tuple, k: int) -> bool:
            new = cost(g, k) - planned
            if len(planned) + len(new) > budget:
                return False
            seconds = check_seconds([h for h, _ in new], records.values(), self.slots)
            return self._in_time(start, seconds)

        def state() -> pd.DataFrame:
            return self.table(candidates, self._comparison(suite, records, seeds))

        def matters(table: pd.DataFrame, g: tuple) -> bool:
            return could_change(suite.names, table, "+".join(g), self.decide)

        def train(g: tuple, k: int) -> None:
            trainer = MultiTaskTrainer(
                self.run.train,
                self.run.model,
                seeds=[pool[k]],
                out=self.run.out,
                executor=self.executor,
                show_progress=self.show_progress,
            )
            for r in trainer.run(suite, [list(g)]):
                records[r.id] = r
            planned.update(cost(g, k))
            seeds[g] = k + 1

        def more_seeds(settle_only: bool) -> None:
            while True:
                comp = self._comparison(suite, records, seeds)
                if comp is None:
                    return
                measured = comp.by_grouping()
                table = self.table(candidates, comp, measured)
                g = next_seed(
                    measured,
                    seeds,
                    c.max_seeds,
                    settle_only,
                    lambda g, t=table: affordable(g, seeds[g]) and matters(t, g),
                    order,
                )
                if g is None:
                    return
                train(g, seeds[g])

        def grow() -> list[list[tuple[tuple, int]]]:
            """Rounds for the groups shown to help, each grown by one task (new candidates)."""
            nonlocal candidates
            table = state()
            helping = [tuple(r.group.split("+")) for r in table.itertuples() if helps(r.verdict)]
            taken = {t for g in helping for t in g}
            rounds = []
            for g in helping:
                if len(g) >= c.max_size or g in tried:
                    continue
                tried.add(g)
                bigger = grown(g, suite.names, signals, combined, exclude=taken)
                if bigger is None or bigger in seeds:
                    continue
                row = candidate_row(bigger, signals, combined, False, grown_from="+".join(g))
                candidates = pd.concat(
                    [candidates, pd.DataFrame([row], columns=candidates.columns)],
                    ignore_index=True,
                )
                order.append(bigger)
                seeds[bigger] = 0
                rounds.append([(bigger, k) for k in range(min(c.min_seeds, c.max_seeds))])
            return rounds

        rounds = deque(first_checks(order, first, c))
        while rounds:
            table = state()  # rebuilt only after a run is trained
            for g, k in rounds.popleft():
                if seeds[g] == k and affordable(g, k) and matters(table, g):
                    train(g, k)
                    table = state()
            more_seeds(settle_only=True)
            rounds.extendleft(reversed(grow()))  # a group shown to help: grown next
            if not rounds:
                more_seeds(settle_only=False)
                rounds.extend(grow())
        return self._comparison(suite, records, seeds), len(planned), candidates

    def _comparison(self, suite: Suite, records: dict, seeds: dict) -> Comparison | None:
        if not records:
            return None
        groupings = {"+".join(g): [list(g)] for g, k in seeds.items() if k > 0}
        return Comparison(
            list(records.values()),
            suite,
            groupings=groupings,
            margin=self.run.margin,
            alpha=self.looks(),
        )

    def looks(self) -> Looks | float:
        """The level of the checks' verdicts: α = 0.05 spent over the looks from the first
        seeds to ``max_seeds`` (``looks: spend``), or 0.05 at each look (``each``)."""
        c = self.config
        if c.looks == "each":
            return 0.05
        return Looks(min(c.min_seeds, c.max_seeds), c.max_seeds)

    def table(
        self,
        candidates: pd.DataFrame,
        comp: Comparison | None,
        by_grouping: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """The candidates with what the checks measured: seeds, Δ ± CI, verdict, expected gain."""
        if by_grouping is None and comp is not None:  # ``by_grouping``: comp's, when at hand
            by_grouping = comp.by_grouping()
        if by_grouping is None:
            measured = pd.DataFrame(columns=["seeds", "delta_grouped_se"])
        else:
            measured = by_grouping.set_index("grouping")
        rows, sd = [], seed_sd(zip(measured.seeds, measured.delta_grouped_se, strict=True))
        for c in candidates.to_dict("records"):
            if c["group"] in measured.index:
                m = measured.loc[c["group"]]
                c.update(
                    seeds=int(m.seeds),
                    delta=m.delta_grouped,
                    delta_ci=m.delta_grouped_ci,
                    delta_se=m.delta_grouped_se,
                    verdict=m.verdict,
                )
            else:
                c.update(
                    seeds=0,
                    delta=np.nan,
                    delta_ci=np.nan,
                    delta_se=np.nan,
                    verdict="not checked (budget)",
                )
            c["expected"] = _expected(c, sd)
            rows.append(c)
        return pd.DataFrame(
            rows,
            columns=[
                *candidates.columns,
                *("seeds", "delta", "delta_ci", "delta_se", "verdict", "expected"),
            ],
        )

    def decide(self, names: Sequence[str], table: pd.DataFrame) -> list[list[str]]:
        """The partition to train, from the candidates, by the strength of the evidence: the
        largest total measured gain (tasks × mean Δ, summed) of groups shown to help — one more
        task in them weighs :data:`GAIN_RESOLUTION` points, so it breaks ties — then as many
        tasks as can be in groups shown equivalent (one model for several tasks at no loss),
        then in groups whose verdict is not settled (inconclusive, or not checked) and whose
        expected gain (``_expected``) is positive, weighed by it. Groups that hurt, or whose
        STL models had not converged, are left out. (The tiers' evidence is spaced so that no
        number of groups of a lower tier outweighs one group of a higher; a grown group thus
        replaces the group it grew from only if its tasks gain more in all: its added task
        brings a gain of its own rather than riding on theirs.)"""
        n = len(names)
        top = max([p for p in table.expected if p > 0], default=1.0)
        evidence = {}
        for r in table.itertuples():
            word = r.verdict.split(",")[0]
            if word == "helps":  # per task: 1 + its gain in units of the resolution
                gain = 100 * max(np.nan_to_num(r.delta), 0.0) / GAIN_RESOLUTION
                e = (n + 1) ** 2 * (1.0 + gain)
            elif word == "equivalent":
                e = n + 1.0
            elif _unsettled(word) and r.expected > 0:
                e = r.expected / top  # in (0, 1]
            else:
                continue
            evidence[tuple(r.group.split("+"))] = e
        return choose_partition(list(names), evidence)


def check_seconds(
    groups: Iterable[Sequence[str]], runs: Iterable[RunRecord], slots: int = 1
) -> float:
    """The predicted wall time of one run of each of ``groups`` (a group of one task: its STL
    model), carried out ``slots`` at a time (the executor's) in the order a grid starts them
    (the STL runs first), each run taken by the first slot to be free. A run's time, from the
    ``runs`` trained so far: a group's mean duration over its earlier runs; one never trained,
    the mean duration per task of the runs of its kind (STL or multi-task) times its tasks; 0
    where no run of its kind has ended (the first checks are not held back)."""
    own: dict[frozenset, list[float]] = {}
    per_task: dict[bool, list[float]] = {}
    for r in runs:
        if r.duration is not None:
            own.setdefault(frozenset(r.tasks), []).append(r.duration)
            per_task.setdefault(len(r.tasks) > 1, []).append(r.duration / len(r.tasks))
    ends = [0.0] * max(1, slots)  # when each slot is free: a heap
    for g in sorted(groups, key=lambda g: (len(g), tuple(g))):  # deterministic, whatever order
        kind, seconds = len(g) > 1, 0.0
        if frozenset(g) in own:
            seconds = float(np.mean(own[frozenset(g)]))
        elif kind in per_task:
            seconds = float(np.mean(per_task[kind])) * len(g)
        heapq.heapreplace(ends, ends[0] + seconds)
    return max(ends)


def first_checks(
    order: Sequence[tuple], first: Sequence[tuple], config: AdviseConfig
) -> list[list[tuple[tuple, int]]]:
    """The rounds of (group, seed index) pairs trained before the open verdicts get more seeds:
    the ``first`` groups on ``min_seeds`` seeds (at most ``max_seeds``) in one round, seed by
    seed in ``order`` — so that a small budget settles the proposal rather than spreads one seed
    over every candidate — then each other group on its seeds, a round each, in ``order``."""
    seeds = range(min(config.min_seeds, config.max_seeds))
    proposed = [(g, k) for k in seeds for g in order if g in first]
    others = [[(g, k) for k in seeds] for g in order if g not in first]
    return [proposed, *others] if proposed else others


def next_seed(
    by_grouping: pd.DataFrame,
    seeds: dict[tuple, int],
    max_seeds: int,
    settle_only: bool,
    allowed: Callable[[tuple], bool],
    order: Sequence[tuple],
) -> tuple | None:
    """The group whose open verdict gets the next seed (None: none): of the inconclusive rows
    of ``by_grouping`` (:meth:`Comparison.by_grouping`) checked on fewer than ``max_seeds``
    and ``allowed`` (affordable, and its verdict could change the advice), first those that
    ≈N ≤ ``max_seeds`` seeds could settle, the fewest more seeds first; unless
    ``settle_only``, then the others, the least certain (largest p of a difference) first."""
    open_ = []
    for row in by_grouping.itertuples():
        g = tuple(row.groups.split("+"))
        k = seeds[g]
        reachable = row.seeds_needed <= max_seeds  # NaN: not reachable
        if (
            row.verdict.startswith("inconclusive")
            and k < max_seeds
            and (reachable or not settle_only)
            and allowed(g)
        ):
            p = 1.0 if math.isnan(row.p_difference) else row.p_difference
            more = row.seeds_needed - k if reachable else math.inf
            open_.append((more, -p, order.index(g), g))
    return min(open_)[-1] if open_ else None


def could_change(
    names: Sequence[str],
    table: pd.DataFrame,
    group: str,
    decide: Callable[[Sequence[str], pd.DataFrame], list[list[str]]],
) -> bool:
    """Whether checking ``group`` (a row of ``table``, 'a+b') could change the recommendation:
    the partition ``decide`` makes from the table differs between the group's possible verdicts
    — helps (by as much as it still could: the top of its measured Δ's CI, or, with no CI
    yet, the whole metric), equivalent, hurts — the others' as they stand (one group's verdict
    at a time: two groups that could change it only together are not looked for)."""
    at = table.index[table.group == group][0]
    most = table.loc[at, "delta"] + table.loc[at, "delta_ci"]
    outcomes = set()
    for verdict in ("helps", "equivalent", "hurts"):
        t = table.copy()
        t.loc[at, "verdict"] = verdict
        if verdict == "helps":
            t.loc[at, "delta"] = most if np.isfinite(most) else 1.0
        outcomes.add(tuple(map(tuple, decide(names, t))))
    return len(outcomes) > 1


def candidate_row(
    group: Sequence[str],
    signals: Sequence[Affinity],
    combined: Affinity,
    proposed: bool,
    grown_from: str = "",
) -> dict:
    """A candidate's row (:data:`CANDIDATE_COLUMNS`): how many signals predict it to help and
    how uncertain the prediction is — with a predicted gain and its se 2·Φ(−|predicted| / se),
    otherwise how evenly the signals split (0: all agree)."""
    votes = _votes(group, signals)
    predicted, se = combined.group_score(group), _group_se(combined, group)
    if se > 0:
        uncertainty = math.erfc(abs(predicted) / se / math.sqrt(2))  # 2·Φ(−|z|)
    else:
        uncertainty = 1 - abs(2 * float(np.mean(votes)) - 1)
    return {
        "group": "+".join(group),
        "proposed": proposed,
        "grown_from": grown_from,
        "signals_for": f"{sum(votes)}/{len(votes)}",
        "uncertainty": uncertainty,
        "predicted": predicted,
        "predicted_se": se,
    }


def grown(
    group: Sequence[str],
    names: Sequence[str],
    signals: Sequence[Affinity],
    combined: Affinity,
    exclude: set[str],
) -> tuple[str, ...] | None:
    """``group`` with the one task (of ``names``, not in it or in ``exclude``) that the most
    signals predict the larger group to help (:func:`_votes`; ties: the combined prediction,
    then suite order), in suite order; None when no signal predicts any."""
    best, top = None, (0, -math.inf)
    for t in names:
        if t in group or t in exclude:
            continue
        g = tuple(n for n in names if n in group or n == t)
        predicted = combined.group_score(g)
        score = (sum(_votes(g, signals)), predicted if math.isfinite(predicted) else -math.inf)
        if score[0] > 0 and score > top:
            best, top = g, score
    return best


def _votes(group: Sequence[str], signals: Sequence[Affinity]) -> list[bool]:
    """Per signal: does it predict ``group`` to help — its group score above neutral, and
    for a signal with a standard error (PVI, TAG, gradient cosine) above it by more than
    :data:`Z_95` of them (a value inside its own noise predicts nothing)?"""
    votes = []
    for a in signals:
        score, se = a.group_score(group), _group_se(a, group)
        votes.append(score > (Z_95 * se if se > 0 else 0))  # NaN se: no noise known
    return votes


def _group_se(affinity: Affinity, group: Sequence[str]) -> float:
    """The standard error of a group's score: its pairs' mean (NaN without one)."""
    if affinity.se is None:
        return math.nan
    return float(np.nanmean([affinity.se.loc[i, j] for i in group for j in group if i != j]))


def seed_sd(checked: Iterable[tuple[int, float]]) -> float:
    """How far one seed's gain of a group falls from its mean in this suite (points): the spread
    over seeds of the groups ``checked`` (each: its seeds and its Δ's standard error, a fraction
    of the main metric: sd / √seeds) on ≥ 2,
    pooled with the advisor's ground truth's (:func:`advisor_seed_sd`), which weighs as
    :data:`PRIOR_DF` degrees of freedom — so a suite whose seeds agree more (more data, another
    model) or less than the ground truth's moves toward its own as it is checked."""
    var, df = PRIOR_DF * advisor_seed_sd() ** 2, PRIOR_DF
    for n, se in checked:
        if n >= 2 and np.isfinite(se):
            var += (n - 1) * (100 * se) ** 2 * n
            df += n - 1
    return math.sqrt(var / df)


def _one_seed_note(checked: Iterable[tuple[int, float]]) -> str:
    """How a Δ measured on one seed was weighed (:func:`seed_sd`; ``checked`` as there)."""
    checked = list(checked)
    prior, groups = advisor_seed_sd(), sum(n >= 2 for n, _ in checked)
    if not groups:
        return (
            f"a Δ measured on one seed weighs in with a spread of {prior:.2f} points a seed (the "
            "advisor's ground truth's; no group here was checked on 2 or more seeds)"
        )
    return (
        f"a Δ measured on one seed weighs in with a spread of {seed_sd(checked):.2f} points a "
        f"seed (the {groups} group{'s' if groups > 1 else ''} here checked on 2 or more seeds "
        f"pooled with the advisor's ground truth's {prior:.2f})"
    )


def _looks_note(groups: int, looks: Looks | float) -> str:
    """What looking at a verdict after every added seed (``groups`` got more than the first
    seeds) does to its error rate, and how it is kept."""
    if not isinstance(looks, Looks):
        return (
            f"{groups} group{'s' if groups > 1 else ''} got more seeds, the verdict looked at "
            f"after each: every look is a test at α = {looks:g}, so a group with no true "
            f"difference ends 'helps' or 'hurts' more often than {100 * looks:g}% of the time "
            "(simulated for 2 to 6 seeds: ≈14%; a verdict reached late deserves another seed "
            "or two; advise.looks: spend keeps it at 5%)"
        )
    first, last = looks.first, looks.last
    return (
        f"a verdict is looked at again after every seed a group gets: α = {looks.alpha:g} is "
        f"spent over the looks at {first} to {last} seeds (each look a test at "
        f"α = {100 * looks(first):.1f}% on {first} seeds … {100 * looks(last):.1f}% on {last}, "
        "a measured Δ's ± at that level), so a group with no true difference ends 'helps' or "
        f"'hurts' at most {100 * looks.alpha:g}% of the time, however many seeds it gets"
    )


def _expected(row: dict, seed_sd: float) -> float:
    """What a group is expected to gain, in the units of the prediction: with a prediction in
    points and its se (the fitted advisor) and a measured Δ, the two weighed by their precision
    — the measurement's se on ≥ 2 seeds; on one seed, ``seed_sd`` (points: how
    far one seed's gain of a group falls from its mean, :func:`seed_sd`); otherwise the
    prediction."""
    pred, pred_se, seeds = row["predicted"], row["predicted_se"], row["seeds"]
    delta = 100 * row["delta"]  # a fraction of the main metric → points
    if not (pred_se > 0 and seeds >= 1 and np.isfinite(delta)):
        return pred
    if seeds == 1:
        se = seed_sd
    elif np.isfinite(row["delta_se"]):
        se = 100 * row["delta_se"]
    else:
        return pred
    if se <= 0:
        return delta
    w_pred, w_meas = pred_se**-2, se**-2
    return float((w_pred * pred + w_meas * delta) / (w_pred + w_meas))


def helps(verdict: str) -> bool:
    return verdict.split(",")[0] == "helps"


def _unsettled(verdict: str) -> bool:
    """Inconclusive, or not checked."""
    return verdict.startswith(("inconclusive", "not checked"))


def _advice(verdict: str, recommended: bool) -> str:
    """A group's advice from its verdict; an unsettled one is *together, unverified* only if
    the recommendation takes it (on its expected gain), whether or not it was proposed."""
    word = verdict.split(",")[0]
    if word in ADVICE:
        return ADVICE[word]
    if verdict.startswith("STL not converged"):
        return "train STL longer first"
    if verdict.startswith("not checked"):
        return "together, unverified" if recommended else "-"
    return "together, unverified" if recommended else "unsettled"
