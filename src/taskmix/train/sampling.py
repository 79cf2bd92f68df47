"""Task samplers (which task each training example is drawn from) and batchers (the order in
which a task's examples are drawn).

Each is a small strategy object chosen by name from the config: a sampler turns training-set sizes
into probabilities, drawn for every example of a batch; a batcher orders each task's examples
either at random (``random``) or in runs of similar length (``length``: little padding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class TaskSampler:
    """Turns training-set sizes into the probability of drawing from each task."""

    def probabilities(self, sizes: Sequence[int]) -> np.ndarray:
        raise NotImplementedError

    def draw(self, sizes: Sequence[int], batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The task index of each of ``batch_size`` examples."""
        return rng.choice(len(sizes), size=batch_size, p=self.probabilities(sizes))


class ProportionalSampler(TaskSampler):
    """p_t ∝ n_t: every training example is equally likely (plain concatenation)."""

    def probabilities(self, sizes):
        n = np.asarray(sizes, dtype=float)
        return n / n.sum()


class TemperatureSampler(TaskSampler):
    """p_t ∝ n_t^(1/T): T=1 is proportional, T→∞ equal; small tasks are up-sampled."""

    def __init__(self, temperature: float = 2.0):
        self.temperature = temperature

    def probabilities(self, sizes):
        n = np.asarray(sizes, dtype=float) ** (1.0 / self.temperature)
        return n / n.sum()


class EqualSampler(TaskSampler):
    """p_t = 1/k: each task equally often, whatever its size (the combination-search paper)."""

    def probabilities(self, sizes):
        return np.full(len(sizes), 1.0 / len(sizes))


def make_sampler(name: str, temperature: float = 2.0) -> TaskSampler:
    if name == "proportional":
        return ProportionalSampler()
    if name == "temperature":
        return TemperatureSampler(temperature)
    if name == "equal":
        return EqualSampler()
    raise ValueError(f"unknown sampler {name!r}: use proportional, temperature or equal")


class _Streams:
    """An endless, seeded, reshuffled-every-epoch stream of example indices per task."""

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator):
        self.rng = rng
        self.sizes = list(sizes)
        self.perm = [rng.permutation(n) for n in self.sizes]
        self.pos = [0] * len(self.sizes)
        self.pass_order = lambda k: self.rng.permutation(self.sizes[k])  # a new pass over task k

    def next(self, k: int) -> int:
        if self.pos[k] >= self.sizes[k]:
            self.perm[k] = self.pass_order(k)
            self.pos[k] = 0
        i = int(self.perm[k][self.pos[k]])
        self.pos[k] += 1
        return i


class Batcher:
    """Turns the tasks' training sets into a stream of batches of (task index, example index)."""

    def next(self) -> list[tuple[int, int]]:
        raise NotImplementedError


class RandomBatches(Batcher):
    """Every example's task drawn by the sampler on its own (a batch mixes tasks and lengths), each
    task's examples in a reshuffled order (taskmix 0.1's batches)."""

    def __init__(
        self, sampler: TaskSampler, sizes: Sequence[int], batch_size: int, rng: np.random.Generator
    ):
        self.sampler, self.sizes, self.batch_size, self.rng = sampler, list(sizes), batch_size, rng
        self.streams = _Streams(sizes, rng)

    def next(self) -> list[tuple[int, int]]:
        draws = self.sampler.draw(self.sizes, self.batch_size, self.rng)
        return [(int(k), self.streams.next(int(k))) for k in draws]


class LengthBatches(RandomBatches):
    """Every example's task drawn by the sampler on its own, as in :class:`RandomBatches`, but each
    task's examples come in an order that keeps similar lengths together: every pass over a task
    shuffles its examples, sorts each run of ``group`` batches' worth by length bucket (lengths cut
    into steps of ``bucket``; within a bucket the order stays random, so a small task sorted whole
    does not line its examples up by whatever sets their exact length), cuts them into batch-sized
    blocks and shuffles the blocks (Hugging Face's length grouping, within a task). A single-task
    batch is then one block (little padding); a mixed batch holds a short run of similar lengths
    from each task it draws."""

    def __init__(
        self,
        sampler: TaskSampler,
        lengths: Sequence[np.ndarray],
        batch_size: int,
        rng: np.random.Generator,
        group: int = 50,
        bucket: int = 8,
    ):
        super().__init__(sampler, [len(x) for x in lengths], batch_size, rng)
        self.lengths, self.group = [np.asarray(x) // bucket for x in lengths], group
        self.streams.perm = [self._pass(k) for k in range(len(self.lengths))]
        self.streams.pass_order = self._pass  # each new pass over a task is grouped too

    def _pass(self, k: int) -> np.ndarray:
        order = self.rng.permutation(self.sizes[k])
        span = self.batch_size * self.group
        blocks = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(-self.lengths[k][chunk], kind="stable")]
            blocks += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        return np.concatenate([blocks[i] for i in self.rng.permutation(len(blocks))])


def make_batcher(
    name: str,
    sampler: TaskSampler,
    lengths: Sequence[np.ndarray],
    batch_size: int,
    rng: np.random.Generator,
) -> Batcher:
    """The batcher ``name`` names (``length`` or ``random``) over tasks whose training examples
    have ``lengths`` (tokens, or any proxy)."""
    if name == "length":
        return LengthBatches(sampler, lengths, batch_size, rng)
    if name == "random":
        return RandomBatches(sampler, [len(x) for x in lengths], batch_size, rng)
    raise ValueError(f"unknown batching {name!r}: use length or random")
