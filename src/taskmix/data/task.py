"""Tasks and suites: the user's labelled data sets, loaded, validated and split.

A :class:`Task` holds its splits as plain Python lists and numpy arrays, so that every later
stage (features, training, PVI, selection) reads the same objects. Labels of classification
and multiple-choice tasks are integer ids into ``label_names``; regression labels are floats.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taskmix.config import SuiteConfig, read_yaml, validate
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

    >>> from taskmix.data.synthetic import demo_suite
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
        return {"classification": "macro_f1", "multiple_choice": "accuracy",
                "regression": "pearson", "generation": "f1"}[self.kind]

    def require_encoder_kind(self, what: str) -> None:
        """Refuse a generation task where only fixed label sets are understood."""
        if self.kind == "generation":
            raise ConfigError(f"task {self.name!r} is a generation task (free-text answers); {what} needs "
                              "classification, multiple-choice or regression tasks",
                              hint="generation tasks are trained by `taskmix search --trainer generative` and "
                                   "evaluated by `taskmix fewshot`")

    def fingerprint(self) -> str:
        """A hash of the task's content: splits, labels and kind (not of file paths); computed once."""
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

    def readable_predictions(self, split: str, predicted: Sequence, n: int | None = None) -> dict[str, list]:
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

        return {"id": data.ids[:n], "text": [" | ".join(t) for t in data.texts[:n]],
                "label": [shown(v) for v in data.labels[:n]], "prediction": [shown(v) for v in predicted]}

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
                f"{names[k]} {100 * counts.get(k, 0) / len(train):.0f}%" for k in range(len(names)))
        words = np.array([sum(len(t.split()) for t in x) for x in train.texts])
        out["words"] = f"{np.median(words):.0f} (max {words.max()})"
        out["made splits"] = "; ".join(f"{k}: {v}" for k, v in self.split_info.items()) or "-"
        out["also in train"] = ", ".join(f"{s} {n}" for s, n in self.overlap.items()) or "-"
        return out


class Suite:
    """An ordered collection of tasks sharing one default model.

    >>> suite = Suite.load("demo")
    >>> [t.name for t in suite][:2]
    ['negation_site_a', 'negation_site_b']
    """

    def __init__(self, name: str, tasks: Sequence[Task], model: str = "minilm",
                 groups: dict[str, list[str]] | None = None, source: str | None = None):
        names = [t.name for t in tasks]
        dup = [n for n, c in Counter(names).items() if c > 1]
        if dup:
            raise ConfigError(f"suite {name!r}: task name(s) {', '.join(dup)} used twice",
                              hint="give every task a unique name")
        self.name = name
        self.model = model
        self.tasks = {t.name: t for t in tasks}
        # Known related groups (the demo suite plants some); used by `taskmix demo`.
        self.groups = groups or {}
        self.source = source

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, name: str) -> bool:
        return name in self.tasks

    def __getitem__(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise ConfigError(f"suite {self.name!r} has no task {name!r}",
                              hint=f"tasks are: {', '.join(self.tasks)}") from None

    @property
    def names(self) -> list[str]:
        return list(self.tasks)

    def subset(self, names: Sequence[str]) -> Suite:
        return Suite(self.name, [self[n] for n in names], self.model, source=self.source)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in self:
            h.update(t.fingerprint().encode())
        return h.hexdigest()[:16]

    @classmethod
    def load(cls, spec: str | Path) -> Suite:
        """Load ``'demo'`` (the built-in synthetic suite) or a suite YAML file."""
        if str(spec) == "demo":
            from taskmix.data.synthetic import demo_suite
            return demo_suite()
        return cls.from_yaml(spec)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Suite:
        data, text = read_yaml(path)
        config = validate(SuiteConfig, data, source=str(path), text=text)
        return cls.from_config(config, base_dir=Path(path).resolve().parent, source=str(path))

    @classmethod
    def from_config(cls, config: SuiteConfig, base_dir: str | Path = ".",
                    source: str | None = None) -> Suite:
        from taskmix.data.loaders import load_task

        if config.suite == "demo":
            from taskmix.data.synthetic import demo_suite
            suite = demo_suite(seed=config.seed)
            suite.model = config.model
            if config.tasks:
                raise ConfigError(f"{source}: 'suite: demo' takes no 'tasks'",
                                  hint="remove 'tasks', or remove 'suite: demo'")
            return suite
        tasks = [load_task(t, base_dir=Path(base_dir), seed=config.seed, dev_size=config.dev_size,
                           test_size=config.test_size)
                 for t in config.tasks]
        return cls(config.name, tasks, model=config.model, source=source)


def parse_groups(spec: str, suite: Suite) -> list[list[str]]:
    """Parse ``"a,b;c,d"`` into groups of task names, checking each name is in the suite."""
    groups = []
    for part in spec.split(";"):
        names = [n.strip() for n in part.split(",") if n.strip()]
        if not names:
            continue
        for n in names:
            suite[n]  # raises a clear error for an unknown task
        if len(set(names)) != len(names):
            raise ConfigError(f"group {part!r} names a task twice")
        groups.append(names)
    if not groups:
        raise ConfigError(f"no groups in {spec!r}", hint='write groups as "a,b;c,d"')
    return groups

