"""Generative training on the demo suite: the target alone vs with an auxiliary data set.

No trained generative model can be downloaded here, so by default a tiny GPT-2 is initialised at
random (with a byte-level tokenizer trained on the suite's text) and trained from scratch — the
figures show the pipeline at work (prompts → training → exact-match answers), not what a real
LLM reaches. Give ``--model`` (a local folder or a Hugging Face name) to measure a real model.

    python bench/generative.py --json bench/out/generative.json
    python bench/generative.py --model t5-small --steps 500 --adaptation lora
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from taskmix.config import GenerationConfig, ModelConfig, TrainConfig
from taskmix.data.suite import demo_suite
from taskmix.train.generative import GenerativeTrainer

OUT = Path(__file__).parent / "out"


def tiny_gpt2(folder: Path, suite) -> Path:
    """A randomly initialised 4-layer GPT-2 (d = 128) and a byte-level BPE vocabulary of 2,000
    tokens trained on the suite's training text and the prompt template."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    if (folder / "config.json").exists():
        return folder
    corpus = ["### Instruction:\n", "### Input:\n", "### Response:\n", "Answer with one of: "]
    corpus += [" ".join(t) for task in suite for t in task.splits["train"].texts]
    corpus += [n for task in suite for n in task.label_names or []]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus,
        vocab_size=2000,
        min_frequency=2,
        special_tokens=["<eos>", "<pad>"],
        show_progress=False,
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<eos>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_positions=512,
            n_embd=128,
            n_layer=4,
            n_head=4,
            bos_token_id=0,
            eos_token_id=0,
        )
    )
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model",
        help="a causal or seq2seq model (folder or HF name) [default: a tiny random GPT-2]",
    )
    ap.add_argument("--target", default="negation_site_b")
    ap.add_argument("--aux", default="negation_site_a", help="comma-separated auxiliary data sets")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--adaptation", default="full", choices=["full", "lora", "ip"])
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    suite = demo_suite()
    model = args.model or str(tiny_gpt2(OUT / "tiny-gpt2", suite))
    seeds = [int(s) for s in args.seeds.split(",")]
    train = TrainConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        sampler="equal",
        patience=None,
        adaptation=args.adaptation,
    )
    trainer = GenerativeTrainer(
        train,
        ModelConfig(name=model, max_length=160),
        GenerationConfig(max_new_tokens=6, eval_examples=80),
    )
    settings = {"alone": [args.target], "with aux": [args.target, *args.aux.split(",")]}
    results: dict = {}
    for name, tasks in settings.items():
        scores, step_s = [], []
        for seed in seeds:
            t0 = time.perf_counter()
            r = trainer.fit([suite[t] for t in tasks], seed, focus=[args.target])
            step_s.append((time.perf_counter() - t0) / r.steps)
            scores.append(r.test[args.target])
            print(
                f"{name:9} seed {seed}: test macro-F1 {r.test[args.target]['macro_f1']:.4f}, "
                "accuracy "
                f"{r.test[args.target]['accuracy']:.4f}, invalid "
                f"{r.test[args.target]['invalid']:.3f}, "
                f"best step {r.best_step}, {step_s[-1]:.3f} s/step (evaluation included)",
                flush=True,
            )
        results[name] = {
            m: float(np.mean([s[m] for s in scores])) for m in ("macro_f1", "accuracy", "invalid")
        }
        results[name]["s_per_step"] = float(np.mean(step_s))
    a, w = results["alone"], results["with aux"]
    print(
        f"\n{args.target}: alone {a['macro_f1']:.4f} vs with {args.aux} {w['macro_f1']:.4f} "
        "macro-F1 "
        f"(difference {w['macro_f1'] - a['macro_f1']:+.4f}); model {model}, {args.steps} steps, "
        f"{args.adaptation}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "generative": {
                "macro_f1": {f"{args.target} {k}": v["macro_f1"] for k, v in results.items()},
                "accuracy": {f"{args.target} {k}": v["accuracy"] for k, v in results.items()},
                "invalid": {f"{args.target} {k}": v["invalid"] for k, v in results.items()},
                "s_per_step": {f"{args.target} {k}": v["s_per_step"] for k, v in results.items()},
            },
            "settings": {
                "model": model,
                "steps": args.steps,
                "seeds": seeds,
                "adaptation": args.adaptation,
            },
        }
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
