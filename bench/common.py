"""Suite configs for the real public data sets in ../shared/data (used by the bench scripts
only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Set before taskmix/transformers are imported by the bench scripts (they import this module first).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from taskmix.config import ModelConfig, SuiteConfig, TaskConfig, TrainConfig
from taskmix.execute import LocalExecutor, ProcessExecutor

# name → suite task entry, with paths relative to the data dir (see ../shared/data/README.md)
GLUE_TASKS: dict[str, dict] = {
    "rte": {
        "format": "jsonl",
        "splits": {"train": "superglue/rte/train.jsonl", "test": "superglue/rte/val.jsonl"},
        "text": ["premise", "hypothesis"],
        "label": "label",
    },
    "cb": {
        "format": "jsonl",
        "splits": {"train": "superglue/cb/train.jsonl", "test": "superglue/cb/val.jsonl"},
        "text": ["premise", "hypothesis"],
        "label": "label",
    },
    "mrpc": {
        "format": "tsv",
        "splits": {
            "train": "glue/mrpc/msr_paraphrase_train.txt",
            "test": "glue/mrpc/msr_paraphrase_test.txt",
        },
        "text": ["#1 String", "#2 String"],
        "label": "Quality",
    },
    "sst2": {
        "format": "tsv",
        "splits": {"train": "glue/sst2/train.tsv", "test": "glue/sst2/test.tsv"},
        "text": "sentence",
        "label": "label",
    },
    "copa": {
        "kind": "multiple_choice",
        "format": "jsonl",
        "splits": {"train": "superglue/copa/train.jsonl", "test": "superglue/copa/val.jsonl"},
        "text": ["premise", "question"],
        "choices": ["choice1", "choice2"],
        "label": "label",
    },
    "wic": {
        "format": "jsonl",
        "splits": {"train": "derived/wic/train.jsonl", "test": "derived/wic/val.jsonl"},
        "text": ["word_sentence1", "sentence2"],
        "label": "label",
    },
    "boolq": {
        "format": "jsonl",
        "splits": {"train": "superglue/boolq/val.jsonl"},
        "text": ["question", "passage"],
        "label": "label",
    },
    "qnli": {
        "format": "tsv",
        "splits": {"train": "glue/qnli/dev.tsv"},  # dev only: split by the suite
        "text": ["question", "sentence"],
        "label": "label",
    },
    "cola": {
        "format": "tsv",
        "splits": {"train": "glue/cola/in_domain_train.tsv", "test": "glue/cola/in_domain_dev.tsv"},
        "columns": ["source", "label", "mark", "sentence"],
        "text": "sentence",
        "label": "label",
    },
    "stsb": {
        "kind": "regression",
        "format": "tsv",
        "splits": {"train": "glue/stsb/train.tsv", "test": "glue/stsb/dev.tsv"},
        "text": ["sentence1", "sentence2"],
        "label": "score",
    },
}


# "label text" files (one example a line) and AG News, converted to jsonl by prepare_lines
LINE_TASKS = {
    "rt": "sentiment/rt-polarity.all",
    "custrev": "sentiment/custrev.all",
    "mpqa": "sentiment/mpqa.all",
    "subj": "topic/subj.all",
}
for _name in [*LINE_TASKS, "agnews"]:
    GLUE_TASKS[_name] = {
        "format": "jsonl",
        "splits": {"train": f"derived/{_name}/all.jsonl"},  # split by the suite (seeded)
        "text": "text",
        "label": "label",
    }


def prepare_lines(data_dir: Path, out: Path, name: str) -> None:
    """The sentiment / topic files as jsonl (text, label): ``label text`` lines, or AG News's
    ``text<TAB>label`` rows."""
    dst = out / "derived" / name / "all.jsonl"
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    if name == "agnews":
        for line in (data_dir / "topic" / "agnews" / "alps_dev.tsv").open(encoding="utf-8"):
            text, _, label = line.rstrip("\n").rpartition("\t")
            if text:
                rows.append({"text": text, "label": label})
    else:
        for line in (data_dir / LINE_TASKS[name]).open(encoding="utf-8", errors="replace"):
            label, _, text = line.strip().partition(" ")
            if text:
                rows.append({"text": text, "label": label})
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows))


def prepare_wic(data_dir: Path, out: Path) -> None:
    """WiC asks whether ``word`` means the same in two sentences: the word is put in front of the
    first sentence ("bank: ..."), since a suite task has at most two text fields."""
    for split in ("train", "val"):
        dst = out / "derived" / "wic" / f"{split}.jsonl"
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            json.loads(line) for line in (data_dir / "superglue" / "wic" / f"{split}.jsonl").open()
        ]
        dst.write_text(
            "".join(
                json.dumps(
                    {
                        "word_sentence1": f"{r['word']}: {r['sentence1']}",
                        "sentence2": r["sentence2"],
                        "label": r["label"],
                    }
                )
                + "\n"
                for r in rows
            )
        )


def glue_suite_config(
    data_dir: str | Path,
    names: list[str],
    train_rows: int | None = None,
    seed: int = 13,
    derived_dir: str | Path = "bench/out",
) -> SuiteConfig:
    """A suite of the named real tasks (absolute paths); ``train_rows`` takes a seeded sample of
    each training set. Derived files (WiC) are written to ``derived_dir``."""
    data_dir = Path(data_dir).resolve()
    if not data_dir.exists():
        raise SystemExit(
            f"data folder {data_dir} not found: pass --data-dir (default ../shared/data)"
        )
    derived_dir = Path(derived_dir).resolve()
    if "wic" in names:
        prepare_wic(data_dir, derived_dir)
    for n in names:
        if n in LINE_TASKS or n == "agnews":
            prepare_lines(data_dir, derived_dir, n)
    tasks = []
    for n in names:
        if n not in GLUE_TASKS:
            raise SystemExit(f"unknown bench task {n!r}; known: {', '.join(GLUE_TASKS)}")
        entry = dict(GLUE_TASKS[n])
        entry["splits"] = {
            k: str((derived_dir if v.startswith("derived/") else data_dir) / v)
            for k, v in entry["splits"].items()
        }
        tasks.append(TaskConfig(name=n, sample=train_rows, **entry))
    return SuiteConfig(name="glue-bench", tasks=tasks, seed=seed, dev_size=0.1, test_size=0.1)


def sampled_suite(
    data_dir: str | Path,
    names: list[str],
    train_rows: int,
    dev_rows: int = 500,
    test_rows: int = 1000,
):
    """The suite of the named real tasks with seeded samples of every split: ``train_rows``
    training examples, dev and test capped so that scoring stays a small part of a run."""
    from taskmix.data.suite import Suite

    config = glue_suite_config(data_dir, names)
    sample = {"train": train_rows, "dev": dev_rows, "test": test_rows}
    return Suite.from_config(
        config.model_copy(
            update={"tasks": [t.model_copy(update={"sample": sample}) for t in config.tasks]}
        )
    )


def add_training_args(ap, train_rows: int, steps_per_task: int) -> None:
    """The options every STL/MTL bench shares (data, seeds, budget), with this script's defaults."""
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument(
        "--train-rows", type=int, default=train_rows, help="seeded sample of each training set"
    )
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--steps-per-task", type=int, default=steps_per_task)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument(
        "--as-0.1",
        dest="as_01",
        action="store_true",
        help="train as taskmix 0.1 did: random batches, every evaluation on all of dev",
    )
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")


def training_setup(a) -> tuple[list[int], TrainConfig, ModelConfig, dict]:
    """(seeds, train config, model config, settings for the JSON) from ``add_training_args``
    options: a step budget per task, no early stopping, word embeddings frozen."""
    seeds = [int(s) for s in a.seeds.split(",")]
    train = TrainConfig(
        max_steps=a.steps_per_task,
        steps_per_task=True,
        batch_size=a.batch_size,
        lr=a.lr,
        patience=None,
        freeze_embeddings=True,
        **({"batching": "random", "eval_examples": None} if a.as_01 else {}),
    )
    settings = {
        "seeds": seeds,
        "train_rows": a.train_rows,
        "steps_per_task": a.steps_per_task,
        "batch_size": a.batch_size,
        "lr": a.lr,
        "max_length": a.max_length,
        "model": "minilm",
        "as_0.1": a.as_01,
    }
    return seeds, train, ModelConfig(max_length=a.max_length), settings


def write_json(path: Path | None, figures: dict) -> None:
    """Write the figures as nested JSON (method → metric → task) when --json was given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    print(f"wrote {path}")


def matmul_rate(dtype: str, size: int = 1024, repeats: int = 20) -> float:
    """The machine's matrix-multiply rate (FLOP/s) in ``dtype`` (bfloat16 or float32), measured."""
    import time

    import torch

    a = torch.randn(size, size, dtype=getattr(torch, dtype))
    b = torch.randn(size, size, dtype=getattr(torch, dtype))
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - t0)


def add_workers_arg(ap) -> None:
    ap.add_argument(
        "--workers", type=int, default=1, help="training processes (1 torch thread each if > 1)"
    )


def bench_executor(workers: int):
    """``--workers``: a pool of 1-thread training processes, or this process."""
    return ProcessExecutor(workers=workers, threads=1) if workers > 1 else LocalExecutor()
