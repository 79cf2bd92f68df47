"""Round trip of every kind of model taskmix trains: train on the demo suite, ``save_pretrained``,
load in a fresh process, ``predict`` — identical labels, probabilities within 1e-5 — and the size of
each saved folder beside the fully fine-tuned one.

Encoders: the bundled MiniLM with full fine-tuning, BitFit, LoRA, (IA)³ and an Inspirational
Pointer, trained on two demo tasks (negation_site_a + topic, ``--steps`` steps). Generative: no
language model ships with taskmix and none can be downloaded here, so a small GPT-2 built from its
config (random weights, the MiniLM tokenizer) stands in — full, LoRA and IP — and the answers are
compared.

    python bench/saved_models.py --json bench/out/saved_models.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
from common import write_json  # noqa: E402

from taskmix.config import GenerationConfig, ModelConfig, TrainConfig  # noqa: E402
from taskmix.data.suite import demo_suite  # noqa: E402
from taskmix.train.generative import GenerativeTrainer  # noqa: E402
from taskmix.train.trainer import Trainer  # noqa: E402

ENCODER_KINDS = ["full", "bitfit", "lora", "ia3", "ip"]
GENERATIVE_KINDS = ["full", "lora", "ip"]
LOADER = """
import json, sys
from taskmix import load_model
out = {}
for name, (folder, task, texts) in json.loads(sys.argv[1]).items():
    m = load_model(folder, device="cpu")
    out[name] = [type(m).__name__, m.predict(texts, task=task).to_dict("list")]
print(json.dumps(out))
"""


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def tiny_gpt2(tmp: Path) -> str:
    """A 2-layer GPT-2 from its config with MiniLM's tokenizer, saved as a model folder."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from taskmix.models.backbone import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        eos_token_id=tok.sep_token_id,
        bos_token_id=tok.cls_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(tmp / "gpt2")
    tok.save_pretrained(tmp / "gpt2")
    return str(tmp / "gpt2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    suite = demo_suite()
    tasks = [suite["negation_site_a"], suite["topic"]]
    texts = [t[0] for t in suite["topic"].splits["test"].texts[:200]]
    tmp = Path(tempfile.mkdtemp())
    before, jobs, sizes = {}, {}, {}
    for kind in ENCODER_KINDS:
        lr = 1e-3 if kind in ("ip", "bitfit", "ia3", "lora") else 5e-5
        trainer = Trainer(
            TrainConfig(max_steps=a.steps, adaptation=kind, lr=lr), ModelConfig(device="cpu")
        )
        model = trainer.fit(tasks, seed=1, keep_model=True).model
        folder = model.save_pretrained(tmp / f"encoder-{kind}")
        before[f"encoder/{kind}"] = model.predict(texts, task="topic")
        jobs[f"encoder/{kind}"] = (str(folder), "topic", texts)
        sizes[f"encoder/{kind}"] = size_mb(folder)
    gpt2 = tiny_gpt2(tmp)
    gen_texts = [t[0] for t in suite["negation_site_a"].splits["test"].texts[:20]]
    for kind in GENERATIVE_KINDS:
        trainer = GenerativeTrainer(
            TrainConfig(max_steps=a.steps, adaptation=kind, lr=1e-3, eval_every=a.steps),
            ModelConfig(name=gpt2, device="cpu", max_length=96),
            GenerationConfig(eval_examples=8, max_new_tokens=4),
        )
        model = trainer.fit([suite["negation_site_a"]], seed=1, keep_model=True).model
        folder = model.save_pretrained(tmp / f"generative-{kind}")
        before[f"generative/{kind}"] = model.predict(gen_texts)
        jobs[f"generative/{kind}"] = (str(folder), "negation_site_a", gen_texts)
        sizes[f"generative/{kind}"] = size_mb(folder)

    done = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(jobs)], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    figures: dict = {"same_labels": {}, "max_prob_diff": {}, "size_mb": sizes, "size_vs_full": {}}
    head = ["model", "class", "same labels", "max |Δp|", "MB", "vs full"]
    print(f"{head[0]:22s} {head[1]:18s} " + " ".join(f"{h:>11s}" for h in head[2:]))
    for name, pred in before.items():
        cls, after = loaded[name]
        key = "answer" if name.startswith("generative") else "prediction"
        same = list(after[key]) == list(pred[key])
        probs = [c for c in pred.columns if c.startswith("prob_")]
        diff = max(
            (np.abs(np.array(after[c]) - pred[c].to_numpy()).max() for c in probs), default=0.0
        )
        full = sizes[name.split("/")[0] + "/full"]
        figures["same_labels"][name] = same
        figures["max_prob_diff"][name] = float(diff)
        figures["size_vs_full"][name] = sizes[name] / full
        print(
            f"{name:22s} {cls:18s} {str(same):>11s} {diff:10.1e} {sizes[name]:8.2f} "
            f"{sizes[name] / full:8.3f}"
        )
    write_json(a.json, {"saved_models": figures})


if __name__ == "__main__":
    main()
