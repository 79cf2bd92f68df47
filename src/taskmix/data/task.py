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
from pathlib import Path
from typing import Any

import numpy as np

from taskmix.config import TaskConfig
from taskmix.data import loaders
from taskmix.data.split import SPLITS, TaskSplit
from taskmix.errors import ConfigError, DataError

__all__ = ["SPLITS", "Task", "TaskSplit", "load_examples", "load_task"]


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

    # ------------------------------------------------------------ making tasks
    @classmethod
    def from_config(cls, config: TaskConfig, base_dir: str | Path = ".", **options) -> Task:
        """A task of a suite file, read from its files (see :func:`load_task`)."""
        return cls(**loaders.read_task(config, Path(base_dir), **options))

    @classmethod
    def from_frame(
        cls,
        train: Any,
        name: str,
        *,
        dev: Any = None,
        test: Any = None,
        text: str | list[str] = "text",
        label: str = "label",
        kind: str = "classification",
        seed: int = 13,
        dev_size: float = 0.15,
        test_size: float = 0.15,
        **options,
    ) -> Task:
        """A task from pandas DataFrames, read, checked and split exactly as the same records in a
        suite's files would be (the same errors, the same label encoding, the same fingerprint and
        so the same run ids). ``dev`` / ``test`` not given are made from train (seeded);
        ``options``: the other keys of a suite file's task (``labels``, ``choices``,
        ``description``, ``verbalizer``, ``limit``, ``sample``, ...).

        >>> import pandas as pd
        >>> df = pd.DataFrame({"text": ["good", "bad"] * 10, "label": ["pos", "neg"] * 10})
        >>> task = Task.from_frame(df, "polarity")
        >>> task.label_names, sum(len(split) for split in task.splits.values())
        (['neg', 'pos'], 20)
        """
        frames = {
            s: f for s, f in (("train", train), ("dev", dev), ("test", test)) if f is not None
        }
        try:
            config = TaskConfig(
                name=name,
                kind=kind,
                splits={s: f"<{s} data frame>" for s in frames},
                text=text,
                label=label,
                **options,
            )
        except ValueError as e:  # pydantic's ValidationError
            raise ConfigError(f"task {name!r}: {e}") from None
        return cls(
            **loaders.read_task(
                config, Path("."), seed=seed, dev_size=dev_size, test_size=test_size, frames=frames
            )
        )

    @classmethod
    def from_dataset(
        cls, train: Any, name: str, *, dev: Any = None, test: Any = None, **kw
    ) -> Task:
        """A task from Hugging Face ``datasets.Dataset`` splits (or a ``DatasetDict`` with train and
        optionally validation/dev and test): as :meth:`from_frame`."""
        if hasattr(train, "keys") and "train" in train and dev is None and test is None:
            splits = train
            train = splits["train"]
            dev = next((splits[k] for k in ("validation", "dev") if k in splits), None)
            test = splits["test"] if "test" in splits else None
        frames = {}
        for split, ds in (("train", train), ("dev", dev), ("test", test)):
            if ds is None:
                continue
            if not hasattr(ds, "to_pandas"):
                raise DataError(
                    f"{name} {split}: expected a datasets.Dataset, got {type(ds).__name__}",
                    hint="pass a Dataset (or DatasetDict), or use Task.from_frame for a DataFrame",
                )
            frames[split] = ds.to_pandas()
        return cls.from_frame(
            frames["train"], name, dev=frames.get("dev"), test=frames.get("test"), **kw
        )

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


def load_task(
    config: TaskConfig,
    base_dir: str | Path,
    seed: int = 13,
    dev_size: float = 0.15,
    test_size: float = 0.15,
    check_leaks: bool = True,
) -> Task:
    """Read, validate and split one task of a suite (see :func:`taskmix.data.loaders.read_task`)."""
    return Task.from_config(
        config,
        base_dir,
        seed=seed,
        dev_size=dev_size,
        test_size=test_size,
        check_leaks=check_leaks,
    )


def load_examples(
    path: str | Path, text: str | Sequence[str] = "text", label: str = "label"
) -> Task:
    """A task known only from a file of its examples (e.g. ~32 of a new target): every row serves
    as train, dev and test alike, since the examples describe the task and are never scored.
    ``text``: its text field, or two for pairs (a comma-separated string is split)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: no such file" if not path.exists() else f"{path} is a folder, not a data file"
        )
    fields = (
        [f.strip() for f in text.split(",") if f.strip()] if isinstance(text, str) else list(text)
    )
    config = TaskConfig(
        name=loaders._task_name(path.stem),
        splits={"train": str(path), "dev": str(path), "test": str(path)},
        text=fields if len(fields) > 1 else fields[0],
        label=label,
    )
    return load_task(config, base_dir=Path("."), check_leaks=False)
