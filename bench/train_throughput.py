"""Training throughput: taskmix's trainer against a Hugging Face Trainer configured at its best.

Same model (bundled all-MiniLM-L6-v2), same data (real GLUE/SuperGLUE training rows), same batch
size, max length and number of steps; throughput is training examples per second of the training
loop (no evaluation in either). The baseline is HF `Trainer` as a competent user sets it up:
length-grouped batches (`train_sampling_strategy="group_by_length"`, `group_by_length=True` before
transformers 5), dynamic padding (`DataCollatorWithPadding`), fused AdamW
(`optim="adamw_torch_fused"`), pre-tokenised data, and bf16 autocast (`bf16=True`) — run in fp32
too, since a CPU without AVX512-BF16 / AMX runs bf16 several times slower than fp32: the faster of
the two counts. taskmix runs with its defaults (precision auto: bf16 autocast only where the
hardware has it; length-bucketed batches; token cache; fused AdamW) and, as another row, with
taskmix 0.1's random batches. Rounds alternate the trainers (the machine is noisy); the median of
the rounds is reported. The bench also measures the machine's bf16 and fp32 matmul rates and
reports the share of the faster one each trainer achieves in useful work (6 FLOPs per weight per
real, unpadded token, plus attention).

    python bench/train_throughput.py --data-dir ../shared/data --steps 40 --rounds 3 \
        --json bench/out/throughput.json
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import glue_suite_config, matmul_rate, write_json  # noqa: E402

from taskmix.config import ModelConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.models.backbone import BackboneFactory, resolve_model_path  # noqa: E402
from taskmix.train.trainer import Trainer  # noqa: E402


def useful_flops_per_example(backbone, task) -> float:
    """Training FLOPs of one example's real tokens: 6 per encoder weight per token (forward and
    backward) and the attention products, 12·L·d per token and layer."""
    cfg = backbone.model.config
    weights = sum(p.numel() for n, p in backbone.model.named_parameters() if "embeddings" not in n)
    lengths = backbone.lengths(task.splits["train"])
    per_token = 6 * weights
    attention = 12 * cfg.num_hidden_layers * cfg.hidden_size * (lengths**2).mean()
    return float(per_token * lengths.mean() + attention)


def hf_throughput(task, steps: int, batch: int, max_length: int, bf16: bool) -> float:
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers import Trainer as HFTrainer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    class _Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    path = resolve_model_path("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=task.num_labels)
    split = task.splits["train"]
    first = [t[0] for t in split.texts]
    second = [t[1] for t in split.texts] if task.is_pair else None
    enc = tok(first, second, truncation=True, max_length=max_length)
    ds = datasets.Dataset.from_dict({**enc, "labels": split.labels.tolist()})
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            bf16=bf16,
            train_sampling_strategy="group_by_length",
            optim="adamw_torch_fused",
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
            data_collator=DataCollatorWithPadding(tok),
        )
        clock = _Clock()  # HF's training loop from its first to its last step, as taskmix's figure
        trainer.add_callback(clock)
        trainer.train()
        return steps * batch / clock.seconds


def ours_throughput(factory, task, steps: int, batch: int, batching: str) -> float:
    cfg = TrainConfig(
        max_steps=steps, batch_size=batch, eval_every=10**9, patience=None, batching=batching
    )
    return Trainer(cfg, factory).fit([task], seed=1).examples_per_s


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--tasks", default="rte,sst2")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--json", type=Path, help="write the figures here as nested JSON")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    suite = Suite.from_config(
        glue_suite_config(a.data_dir, a.tasks.split(","), train_rows=4000), base_dir=a.data_dir
    )
    factory = BackboneFactory(ModelConfig(max_length=a.max_length))
    rates = {d: matmul_rate(d) for d in ("bfloat16", "float32")}
    rate = max(rates.values())
    ours_dtype = "bf16" if factory.template.use_bf16 else "fp32"
    print(
        f"matmul rate of this machine: bf16 {rates['bfloat16'] / 1e9:.1f}, fp32 "
        f"{rates['float32'] / 1e9:.1f} GFLOP/s; taskmix's precision auto chose {ours_dtype}"
    )
    results: dict = {}
    print(
        f"{'task':6} {'hf bf16':>8} {'hf fp32':>8} {'taskmix':>8} {'tm 0.1':>8} {'vs best hf':>10}"
        f" {'hf %peak':>9} {'ours %peak':>10}  (examples/s, median of {a.rounds} rounds)"
    )
    for task in suite:
        runs: dict[str, list[float]] = {
            k: [] for k in ("hf_bf16", "hf_fp32", "taskmix", "taskmix_random")
        }
        for _ in range(a.rounds):  # interleaved: a noisy moment hits every trainer
            runs["hf_bf16"].append(hf_throughput(task, a.steps, a.batch_size, a.max_length, True))
            runs["hf_fp32"].append(hf_throughput(task, a.steps, a.batch_size, a.max_length, False))
            runs["taskmix"].append(ours_throughput(factory, task, a.steps, a.batch_size, "length"))
            runs["taskmix_random"].append(
                ours_throughput(factory, task, a.steps, a.batch_size, "random")
            )
        r = {k: statistics.median(v) for k, v in runs.items()}
        flops = useful_flops_per_example(factory.template, task)
        r["hf_best"] = max(r["hf_bf16"], r["hf_fp32"])  # a competent user picks the faster
        r["ratio_vs_hf_best"] = r["taskmix"] / r["hf_best"]
        r["share_of_matmul_rate_hf"] = r["hf_best"] * flops / rate
        r["share_of_matmul_rate_taskmix"] = r["taskmix"] * flops / rate
        r["rounds"] = runs
        results[task.name] = r
        print(
            f"{task.name:6} {r['hf_bf16']:8.1f} {r['hf_fp32']:8.1f} {r['taskmix']:8.1f}"
            f" {r['taskmix_random']:8.1f} {r['ratio_vs_hf_best']:9.2f}x"
            f" {100 * r['share_of_matmul_rate_hf']:8.1f}%"
            f" {100 * r['share_of_matmul_rate_taskmix']:9.1f}%"
        )
    out = {
        "train_throughput": {
            metric: {t: results[t][metric] for t in results}
            for metric in next(iter(results.values()))
            if metric != "rounds"
        },
        "rounds": {t: results[t]["rounds"] for t in results},
        "matmul_rate_gflops": {d: v / 1e9 for d, v in rates.items()},
        "taskmix_precision": ours_dtype,
        "settings": {
            "steps": a.steps,
            "batch_size": a.batch_size,
            "max_length": a.max_length,
            "model": "minilm",
            "hf": "bf16=True or False (the faster), train_sampling_strategy=group_by_length, "
            "DataCollatorWithPadding, optim=adamw_torch_fused, pre-tokenised",
        },
    }
    write_json(a.json, out)


if __name__ == "__main__":
    main()
