"""From scored candidate groups to a partition of the suite: disjoint groups, the rest alone.

A partition here is a list of task-name lists; groups of two or more are trained together and
singletons alone. Its score is Σ |g| · e(g) over its groups, where e(g) ∈ [0, 1] is the evidence
that the group's tasks are similar (a p-value, or one minus the effect size over its bound): a
large group counts for more, but only with the evidence to back it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

import numpy as np

from taskmix.errors import ConfigError

EXHAUSTIVE_MAX_TASKS = 14


def candidate_groups(names: Sequence[str], max_size: int) -> list[tuple[str, ...]]:
    """Every group of 2 … ``max_size`` tasks, in suite order."""
    return [
        g for k in range(2, min(max_size, len(names)) + 1) for g in itertools.combinations(names, k)
    ]


def _complete(names: Sequence[str], groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """The groups in suite order of their first task, then every other task alone."""
    pos = {n: i for i, n in enumerate(names)}
    chosen = sorted(([*g] for g in groups), key=lambda g: pos[g[0]])
    used = {t for g in chosen for t in g}
    return chosen + [[n] for n in names if n not in used]


def greedy_partition(
    names: Sequence[str], evidence: dict[tuple[str, ...], float]
) -> list[list[str]]:
    """Take the candidate with the strongest evidence (ties: the larger), then the next disjoint
    one."""
    order = sorted(evidence, key=lambda g: (-evidence[g], -len(g)))
    chosen: list[tuple[str, ...]] = []
    used: set[str] = set()
    for g in order:
        if used.isdisjoint(g):
            chosen.append(g)
            used.update(g)
    return _complete(names, chosen)


def exhaustive_partition(
    names: Sequence[str], evidence: dict[tuple[str, ...], float]
) -> list[list[str]]:
    """The partition with the highest Σ |g| · e(g) over all partitions into candidate groups."""
    if len(names) > EXHAUSTIVE_MAX_TASKS:
        raise ConfigError(
            f"exhaustive search is limited to {EXHAUSTIVE_MAX_TASKS} tasks; this suite has "
            f"{len(names)}",
            hint="use search: greedy (or auto)",
        )
    by_first: dict[str, list[tuple[str, ...]]] = {n: [] for n in names}
    pos = {n: i for i, n in enumerate(names)}
    for g in evidence:
        by_first[min(g, key=pos.__getitem__)].append(g)

    @functools.cache
    def best(remaining: frozenset[str]) -> tuple[float, tuple[tuple[str, ...], ...]]:
        if not remaining:
            return 0.0, ()
        first = min(remaining, key=pos.__getitem__)
        rest = remaining - {first}
        top = best(rest)  # first task alone
        for g in by_first[first]:
            if remaining.issuperset(g):
                score, groups = best(remaining - set(g))
                score += len(g) * evidence[g]
                if score > top[0] + 1e-12:
                    top = (score, (g, *groups))
        return top

    return _complete(names, best(frozenset(names))[1])


def choose_partition(
    names: Sequence[str], evidence: dict[tuple[str, ...], float], search: str = "auto"
) -> list[list[str]]:
    """``search``: greedy, exhaustive, or auto (exhaustive up to 14 tasks)."""
    if search == "exhaustive" or (search == "auto" and len(names) <= EXHAUSTIVE_MAX_TASKS):
        return exhaustive_partition(names, evidence)
    return greedy_partition(names, evidence)


def sized_partition(
    names: Sequence[str], sizes: Sequence[int], score: Callable[[tuple[str, ...]], float]
) -> list[list[str]]:
    """Groups of the given sizes, largest first, each the best-scoring among the tasks left."""
    _check_sizes(names, sizes)
    left = list(names)
    chosen = []
    for k in sorted(sizes, reverse=True):
        if k < 2:
            continue
        g = max(itertools.combinations(left, k), key=score)
        chosen.append(g)
        left = [n for n in left if n not in g]
    return _complete(names, chosen)


def random_partition(names: Sequence[str], sizes: Sequence[int], seed: int) -> list[list[str]]:
    """Groups of the given sizes drawn at random (seeded) from the tasks."""
    _check_sizes(names, sizes)
    perm = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    chosen, at = [], 0
    for k in sizes:
        if k >= 2:
            chosen.append(perm[at : at + k])
        at += k
    return _complete(names, chosen)


def group_sizes(partition: Sequence[Sequence[str]]) -> list[int]:
    """Sizes of the multi-task groups of a partition."""
    return [len(g) for g in partition if len(g) > 1]


def _check_sizes(names: Sequence[str], sizes: Sequence[int]) -> None:
    if sum(sizes) > len(names):
        raise ConfigError(
            f"groups of sizes {list(sizes)} need {sum(sizes)} tasks; the suite has {len(names)}",
            hint="give smaller or fewer group sizes",
        )
