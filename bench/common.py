"""Suite configs for the real public data sets in ../shared/data (used by the bench scripts only)."""

from __future__ import annotations

import json
from pathlib import Path

from taskmix.config import SuiteConfig, TaskConfig

# name → suite task entry, with paths relative to the data dir (see ../shared/data/README.md)
GLUE_TASKS: dict[str, dict] = {
    "rte": {"format": "jsonl", "splits": {"train": "superglue/rte/train.jsonl", "test": "superglue/rte/val.jsonl"},
            "text": ["premise", "hypothesis"], "label": "label"},
    "cb": {"format": "jsonl", "splits": {"train": "superglue/cb/train.jsonl", "test": "superglue/cb/val.jsonl"},
           "text": ["premise", "hypothesis"], "label": "label"},
    "mrpc": {"format": "tsv", "splits": {"train": "glue/mrpc/msr_paraphrase_train.txt",
                                         "test": "glue/mrpc/msr_paraphrase_test.txt"},
             "text": ["#1 String", "#2 String"], "label": "Quality"},
    "sst2": {"format": "tsv", "splits": {"train": "glue/sst2/train.tsv", "test": "glue/sst2/test.tsv"},
             "text": "sentence", "label": "label"},
    "copa": {"kind": "multiple_choice", "format": "jsonl",
             "splits": {"train": "superglue/copa/train.jsonl", "test": "superglue/copa/val.jsonl"},
             "text": ["premise", "question"], "choices": ["choice1", "choice2"], "label": "label"},
    "stsb": {"kind": "regression", "format": "tsv",
             "splits": {"train": "glue/stsb/train.tsv", "test": "glue/stsb/dev.tsv"},
             "text": ["sentence1", "sentence2"], "label": "score"},
}


def glue_suite_config(data_dir: str | Path, names: list[str], train_rows: int | None = None,
                      seed: int = 13) -> SuiteConfig:
    """A suite of the named real tasks; ``train_rows`` takes a seeded sample of each training set."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise SystemExit(f"data folder {data_dir} not found: pass --data-dir (default ../shared/data)")
    tasks = []
    for n in names:
        if n not in GLUE_TASKS:
            raise SystemExit(f"unknown bench task {n!r}; known: {', '.join(GLUE_TASKS)}")
        tasks.append(TaskConfig(name=n, sample=train_rows, **GLUE_TASKS[n]))
    return SuiteConfig(name="glue-bench", tasks=tasks, seed=seed, dev_size=0.1, test_size=0.1)


def write_json(path: Path | None, figures: dict) -> None:
    """Write the figures as nested JSON (method → metric → task) when --json was given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    print(f"wrote {path}")
