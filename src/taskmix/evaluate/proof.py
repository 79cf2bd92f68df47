"""The proof by training: STL and MTL models of a suite's groups trained over seeds (through the run
store) and compared, for given groups or for a grouping method with its baselines."""

from __future__ import annotations

from collections.abc import Sequence

from taskmix.config import RunConfig
from taskmix.data.suite import Suite
from taskmix.evaluate.compare import MARGIN, Comparison
from taskmix.experiment.groupers import BASELINES, training_groupings
from taskmix.experiment.groupings import save_groupings
from taskmix.experiment.groups import GroupTrainer


class MultiTaskTrainer(GroupTrainer):
    """Train STL and MTL models over seeds and compare them.

    >>> from taskmix import Suite, MultiTaskTrainer
    >>> suite = Suite.load("demo")  # doctest: +SKIP
    >>> trainer = MultiTaskTrainer(seeds=[1, 2])
    >>> result = trainer.compare(suite, [["negation_site_a", "negation_site_b"]])  # doctest: +SKIP
    >>> result.table()  # doctest: +SKIP
    """

    def compare(
        self,
        suite: Suite,
        groups: Sequence[Sequence[str]] | dict[str, Sequence[Sequence[str]]],
        margin: float = MARGIN,
    ) -> Comparison:
        """Run (or reuse) every STL and MTL run, then build the comparison.

        ``groups`` is one grouping (a list of task groups) or several named ones, e.g.
        ``{"pvi": grouper.groups_, "all": [suite.names]}``; every group of every grouping is trained
        once, and the comparison summarises each grouping (``Comparison.by_grouping``), its
        verdicts judged with the equivalence ``margin``.
        """
        groupings = dict(groups) if isinstance(groups, dict) else {}
        flat = [g for part in groupings.values() for g in part] if groupings else list(groups)
        return Comparison(self.run(suite, flat), suite, groupings=groupings, margin=margin)


def prove_grouping(
    suite: Suite,
    run: RunConfig,
    baselines: Sequence[str] = BASELINES,
    *,
    pvi=None,
    executor=None,
    show_progress: bool = True,
):
    """The proof by training of a grouping method: fit ``run.group``'s grouper, form its baselines,
    remember the groupings beside the run store, and train every STL and MTL model over the seeds.
    Returns (grouper, groupings, comparison)."""
    grouper, groupings = training_groupings(
        suite,
        run.group,
        baselines,
        pvi=pvi,
        model=run.model,
        out=run.out,
        executor=executor,
        show_progress=show_progress,
    )
    save_groupings(run.out, suite.name, groupings, grouper.record())
    trainer = MultiTaskTrainer(
        run.train,
        run.model,
        seeds=run.seeds,
        out=run.out,
        executor=executor,
        show_progress=show_progress,
    )
    return grouper, groupings, trainer.compare(suite, groupings, run.margin)
