"""A suite: the user's tasks under one name and default model, loaded from a suite file (or the
built-in synthetic demo), with the groups of tasks parsed from the command line."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from taskmix.config import SuiteConfig, read_yaml, validate
from taskmix.data.synthetic import demo_tasks
from taskmix.data.task import Task, load_task
from taskmix.errors import ConfigError


class Suite:
    """An ordered collection of tasks sharing one default model.

    >>> suite = Suite.load("demo")
    >>> [t.name for t in suite][:2]
    ['negation_site_a', 'negation_site_b']
    """

    def __init__(
        self,
        name: str | Sequence[Task],
        tasks: Sequence[Task] | None = None,
        model: str = "minilm",
        groups: dict[str, list[str]] | None = None,
        source: str | None = None,
    ):
        if not isinstance(name, str):  # Suite([task, ...]): tasks made in Python
            name, tasks = "suite", name if tasks is None else [*name, *tasks]
        tasks = list(tasks or [])
        bad = [type(t).__name__ for t in tasks if not isinstance(t, Task)]
        if bad:
            raise ConfigError(
                f"suite {name!r}: expected Task objects, got {bad[0]}",
                hint="make tasks with Task.from_frame, Task.from_dataset or Suite.load",
            )
        names = [t.name for t in tasks]
        dup = [n for n, c in Counter(names).items() if c > 1]
        if dup:
            raise ConfigError(
                f"suite {name!r}: task name(s) {', '.join(dup)} used twice",
                hint="give every task a unique name",
            )
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
            raise ConfigError(
                f"suite {self.name!r} has no task {name!r}",
                hint=f"tasks are: {', '.join(self.tasks)}",
            ) from None

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
            return demo_suite()
        return cls.from_yaml(spec)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Suite:
        data, text = read_yaml(path)
        config = validate(SuiteConfig, data, source=str(path), text=text)
        return cls.from_config(config, base_dir=Path(path).resolve().parent, source=str(path))

    @classmethod
    def from_config(
        cls, config: SuiteConfig, base_dir: str | Path = ".", source: str | None = None
    ) -> Suite:
        if config.suite == "demo":
            suite = demo_suite(seed=config.seed)
            suite.model = config.model
            if config.tasks:
                raise ConfigError(
                    f"{source}: 'suite: demo' takes no 'tasks'",
                    hint="remove 'tasks', or remove 'suite: demo'",
                )
            return suite
        tasks = [
            load_task(
                t,
                base_dir=Path(base_dir),
                seed=config.seed,
                dev_size=config.dev_size,
                test_size=config.test_size,
            )
            for t in config.tasks
        ]
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


def demo_suite(seed: int = 13, scale: float = 1.0) -> Suite:
    """The synthetic demo suite (clinical-style notes, reviews, headlines; planted related groups
    in ``groups``). Same seed → identical suite.

    >>> a, b = demo_suite(seed=1), demo_suite(seed=1)
    >>> a.fingerprint() == b.fingerprint()
    True
    """
    tasks, groups = demo_tasks(seed, scale)
    return Suite("demo", tasks, model="minilm", groups=groups, source="demo")
