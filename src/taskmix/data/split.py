"""One split of a task (train, dev or test): its inputs, labels and example ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "dev", "test")


@dataclass
class TaskSplit:
    """One split of a task: inputs, labels and stable example ids.

    ``texts[i]`` is a tuple of one or two strings (single text or pair; for multiple choice the
    context fields). ``choices[i]`` lists the candidate answers of a multiple-choice example.
    """

    texts: list[tuple[str, ...]]
    labels: np.ndarray
    ids: list[str]
    choices: list[list[str]] | None = None
    _texts_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    def texts_hash(self) -> str:
        """A hash of the encoder inputs (texts and choices), computed once: splits are not changed
        after loading (``subset`` makes a new one)."""
        if self._texts_hash is None:
            h = hashlib.sha256()
            for i in range(len(self)):
                for seq in self.sequences(i):
                    h.update("\x1f".join(seq).encode())
                    h.update(b"\x1e")
            self._texts_hash = h.hexdigest()[:16]
        return self._texts_hash

    def subset(self, index: Sequence[int] | np.ndarray) -> TaskSplit:
        idx = [int(i) for i in index]
        return TaskSplit(
            texts=[self.texts[i] for i in idx],
            labels=self.labels[idx],
            ids=[self.ids[i] for i in idx],
            choices=None if self.choices is None else [self.choices[i] for i in idx],
        )

    def sequences(self, i: int) -> list[tuple[str, ...]]:
        """The encoder inputs of example ``i``: one (text[, text_pair]), or one per choice."""
        if self.choices is None:
            return [self.texts[i]]
        context = " ".join(self.texts[i])
        return [(context, c) for c in self.choices[i]]
