"""Training throughput: taskmix's trainer vs a plain Hugging Face Trainer, same run, side by side.

Same model (bundled all-MiniLM-L6-v2), same data (real GLUE/SuperGLUE training rows), same batch
size and max length, same number of steps. Throughput is training examples per second of the
training loop (no evaluation in either). The HF baseline is `Trainer` with its defaults
(fp32, no bf16), fed as the GLUE example scripts do by default: inputs padded to max_length.
A second baseline gives HF dynamic padding (DataCollatorWithPadding) to separate the two effects.

    python bench/train_throughput.py --data-dir ../shared/data --steps 40 \
        --json bench/out/throughput.json
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import glue_suite_config, write_json  # noqa: E402

from taskmix.config import ModelConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.models.backbone import (
    BackboneFactory,  # noqa: E402
    resolve_model_path,  # noqa: E402
)
from taskmix.train.trainer import Trainer  # noqa: E402


def hf_throughput(task, steps: int, batch: int, max_length: int, dynamic: bool) -> float:
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainingArguments,
    )
    from transformers import Trainer as HFTrainer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = resolve_model_path("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=task.num_labels)
    split = task.splits["train"]
    first = [t[0] for t in split.texts]
    second = [t[1] for t in split.texts] if task.is_pair else None
    enc = tok(
        first,
        second,
        truncation=True,
        max_length=max_length,
        padding=False if dynamic else "max_length",
    )
    ds = datasets.Dataset.from_dict({**enc, "labels": split.labels.tolist()})
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
            seed=1,
        )
        trainer = HFTrainer(
            model=model,
            args=args,
            train_dataset=ds,
            data_collator=DataCollatorWithPadding(tok) if dynamic else None,
        )
        t0 = time.perf_counter()
        trainer.train()
        return steps * batch / (time.perf_counter() - t0)


def ours_throughput(task, steps: int, batch: int, max_length: int, precision: str) -> float:
    factory = BackboneFactory(ModelConfig(max_length=max_length, precision=precision))
    cfg = TrainConfig(max_steps=steps, batch_size=batch, eval_every=10**9, patience=None)
    return Trainer(cfg, factory).fit([task], seed=1).examples_per_s


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default="rte,sst2")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    suite = Suite.from_config(
        glue_suite_config(a.data_dir, a.tasks.split(","), train_rows=4000), base_dir=a.data_dir
    )
    results: dict = {}
    print(
        f"{'task':8} {'hf default':>12} {'hf dynamic':>12} {'ours fp32':>12} {'ours':>12} "
        f"{'ours/hf':>8}  (examples/s)"
    )
    for task in suite:
        r = {
            "hf_default": hf_throughput(task, a.steps, a.batch_size, a.max_length, dynamic=False),
            "hf_dynamic_padding": hf_throughput(
                task, a.steps, a.batch_size, a.max_length, dynamic=True
            ),
            "taskmix_fp32": ours_throughput(task, a.steps, a.batch_size, a.max_length, "fp32"),
            "taskmix": ours_throughput(task, a.steps, a.batch_size, a.max_length, "auto"),
        }
        r["speedup_vs_hf_default"] = r["taskmix"] / r["hf_default"]
        r["speedup_vs_hf_dynamic_padding"] = r["taskmix"] / r["hf_dynamic_padding"]
        results[task.name] = r
        print(
            f"{task.name:8} {r['hf_default']:12.1f} {r['hf_dynamic_padding']:12.1f} "
            f"{r['taskmix_fp32']:12.1f} "
            f"{r['taskmix']:12.1f} {r['speedup_vs_hf_default']:7.2f}x"
        )
    out = {
        "train_throughput": {
            metric: {t: results[t][metric] for t in results}
            for metric in next(iter(results.values()))
        },
        "settings": {
            "steps": a.steps,
            "batch_size": a.batch_size,
            "max_length": a.max_length,
            "model": "minilm",
        },
    }
    write_json(a.json, out)


if __name__ == "__main__":
    main()
