"""Tasks and suites: the user's labelled data sets, loaded, validated and split.

A :class:`Task` holds its splits as plain Python lists and numpy arrays, so that every later
stage (features, training, PVI, selection) reads the same objects. Labels of classification
and multiple-choice tasks are integer ids into ``label_names``; regression labels are floats.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from taskmix.errors import ConfigError

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


@dataclass
class Task:
    """A labelled data set with its kind, label names and splits.

    >>> from taskmix.data.suite import demo_suite
    >>> task = demo_suite()["negation_site_a"]
    >>> task.kind, task.label_names, len(task.splits["train"]) > 0
    ('classification', ['affirmed', 'negated'], True)
    """

    name: str
    kind: str
    splits: dict[str, TaskSplit]
    label_names: list[str] | None = None
    description: str | None = None
    text_fields: list[str] = field(default_factory=lambda: ["text"])
    split_info: dict[str, str] = field(default_factory=dict)
    n_choices: int | None = None
    verbalizer: dict[str, str] | None = None
    # dev / test examples whose input text is also a training example's (a leak), by split
    overlap: dict[str, int] = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def num_labels(self) -> int:
        """Output size of this task's head: classes, 1 for regression and multiple choice."""
        if self.kind == "classification":
            return len(self.label_names or [])
        return 1

    @property
    def is_pair(self) -> bool:
        return self.kind != "multiple_choice" and len(self.text_fields) == 2

    @property
    def main_metric(self) -> str:
        return {
            "classification": "macro_f1",
            "multiple_choice": "accuracy",
            "regression": "pearson",
            "generation": "f1",
        }[self.kind]

    def require_encoder_kind(self, what: str) -> None:
        """Refuse a generation task where only fixed label sets are understood."""
        if self.kind == "generation":
            raise ConfigError(
                f"task {self.name!r} is a generation task (free-text answers); {what} needs "
                "classification, multiple-choice or regression tasks",
                hint="generation tasks are trained by `taskmix search --trainer generative` and "
                "evaluated by `taskmix fewshot`",
            )

    def fingerprint(self) -> str:
        """A hash of the task's content: splits, labels and kind (not of file paths); computed
        once."""
        if self._fingerprint is None:
            self._fingerprint = self._content_hash()
        return self._fingerprint

    def _content_hash(self) -> str:
        h = hashlib.sha256(f"{self.name}|{self.kind}|{self.label_names}".encode())
        for name in SPLITS:
            s = self.splits.get(name)
            if s is None:
                continue
            h.update(name.encode())
            for t in s.texts:
                h.update("\x1f".join(t).encode())
                h.update(b"\x1e")
            if s.choices is not None:
                for c in s.choices:
                    h.update("\x1f".join(c).encode())
            if s.labels.dtype == object:  # answers as text
                h.update("\x1e".join(map(str, s.labels)).encode())
            else:
                h.update(np.ascontiguousarray(s.labels).tobytes())
        return h.hexdigest()[:16]

    def readable_predictions(
        self, split: str, predicted: Sequence, n: int | None = None
    ) -> dict[str, list]:
        """The first ``n`` (default: all) examples of ``split`` with ``predicted`` as a person reads
        them: id, text (fields joined by ' | '), gold label and prediction — label names for
        classification, values for regression, the choice index for multiple choice, the answer
        text for generation (a generative model's answer is kept as it wrote it)."""
        data = self.splits[split]
        n = len(data) if n is None else n

        def shown(v):
            if isinstance(v, str):
                return v
            if self.kind == "classification" and self.label_names:
                return self.label_names[int(v)]
            return float(v) if self.kind == "regression" else int(v)

        return {
            "id": data.ids[:n],
            "text": [" | ".join(t) for t in data.texts[:n]],
            "label": [shown(v) for v in data.labels[:n]],
            "prediction": [shown(v) for v in predicted],
        }

    def describe(self) -> dict:
        """Sizes, label distribution and text lengths, for `taskmix tasks`."""
        out: dict = {"task": self.name, "kind": self.kind + (" (pair)" if self.is_pair else "")}
        for name in SPLITS:
            out[name] = len(self.splits[name]) if name in self.splits else 0
        train = self.splits["train"]
        if self.kind == "regression":
            out["labels"] = f"mean {train.labels.mean():.2f}, sd {train.labels.std():.2f}"
        elif self.kind == "generation":
            words_ = np.array([len(str(a).split()) for a in train.labels])
            out["labels"] = f"answers of {np.median(words_):.0f} words (max {words_.max()})"
        else:
            names = self.label_names or []
            counts = Counter(int(x) for x in train.labels)
            out["labels"] = ", ".join(
                f"{names[k]} {100 * counts.get(k, 0) / len(train):.0f}%" for k in range(len(names))
            )
        words = np.array([sum(len(t.split()) for t in x) for x in train.texts])
        out["words"] = f"{np.median(words):.0f} (max {words.max()})"
        out["made splits"] = "; ".join(f"{k}: {v}" for k, v in self.split_info.items()) or "-"
        out["also in train"] = ", ".join(f"{s} {n}" for s, n in self.overlap.items()) or "-"
        return out
