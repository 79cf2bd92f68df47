"""Shared fixtures: tiny random encoders (built here, no download) and suite files on disk."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's feature cache."""
    monkeypatch.setenv("TASKMIX_CACHE", str(tmp_path_factory.getbasetemp() / "feature-cache"))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from taskmix.models.backbone import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("minilm"))


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return BertModel(cfg, add_pooling_layer=False)


@pytest.fixture
def tiny_backbone(tokenizer):
    from taskmix.config import ModelConfig
    from taskmix.models.backbone import Backbone

    return Backbone(
        tiny_bert(),
        tokenizer,
        name="tiny-bert",
        config=ModelConfig(name="tiny-bert", max_length=32, device="cpu", precision="fp32"),
    )


@pytest.fixture
def tiny_factory(tiny_backbone):
    from taskmix.models.backbone import BackboneFactory

    return BackboneFactory(tiny_backbone.config, template=tiny_backbone)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer):
    """A tiny random BERT saved as a local model folder, as a user's own model would be."""
    path = tmp_path_factory.mktemp("tiny-bert")
    tiny_bert().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_suite(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def keyword_rows(n: int, seed: int = 0, pair: bool = False) -> list[dict]:
    """An easy sentiment-like task: the label is decided by a keyword."""
    import random

    rng = random.Random(seed)
    pos, neg = ["great", "excellent", "lovely"], ["awful", "terrible", "boring"]
    rows = []
    for i in range(n):
        y = i % 2
        word = rng.choice(pos if y else neg)
        row = {"text": f"the film was {word} overall", "label": "pos" if y else "neg"}
        if pair:
            row["text2"] = rng.choice(["I saw it on friday", "we went together", "it was long"])
        rows.append(row)
    return rows


@pytest.fixture
def keyword_suite(tmp_path):
    """A two-task suite on disk (single text and pair), made by writing real jsonl files."""
    write_jsonl(tmp_path / "a" / "train.jsonl", keyword_rows(60, 1))
    write_jsonl(tmp_path / "a" / "dev.jsonl", keyword_rows(20, 2))
    write_jsonl(tmp_path / "a" / "test.jsonl", keyword_rows(20, 3))
    write_jsonl(tmp_path / "b" / "train.jsonl", keyword_rows(80, 4, pair=True))
    return write_suite(
        tmp_path / "suite.yaml",
        {
            "name": "kw",
            "tasks": [
                {
                    "name": "a",
                    "format": "jsonl",
                    "text": "text",
                    "label": "label",
                    "splits": {
                        "train": "a/train.jsonl",
                        "dev": "a/dev.jsonl",
                        "test": "a/test.jsonl",
                    },
                },
                {
                    "name": "b",
                    "text": ["text", "text2"],
                    "label": "label",
                    "splits": {"train": "b/train.jsonl"},
                },
            ],
        },
    )


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the `taskmix` command line in-process; (exit code, stdout, stderr)."""
    from taskmix import cli

    monkeypatch.setattr(sys, "argv", ["taskmix", *map(str, args)])
    cli._state["debug"] = False
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- tiny generative models
@pytest.fixture(scope="session")
def lm_tokenizer():
    """A byte-level BPE tokenizer trained here on prompt-like text (GPT-2's kind of vocabulary:
    spaces and newlines survive the round trip), with an end-of-text and a padding token."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    from taskmix.data.suite import demo_suite

    corpus = [
        "### Instruction:\n",
        "### Input:\n",
        "### Response:\n",
        "Answer with one of: ",
        *[" ".join(t) for task in demo_suite() for t in task.splits["train"].texts[:40]],
        *[" ".join(r.values()) for r in keyword_rows(40)],
    ]
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(
        corpus,
        vocab_size=600,
        min_frequency=1,
        special_tokens=["<eos>", "<pad>"],
        show_progress=False,
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok._tokenizer, eos_token="<eos>", pad_token="<pad>"
    )


def tiny_gpt2(vocab: int, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocab,
            n_positions=256,
            n_embd=48,
            n_layer=2,
            n_head=2,
            bos_token_id=0,
            eos_token_id=0,
        )
    )


def tiny_t5(vocab: int, seed: int = 0):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    return T5ForConditionalGeneration(
        T5Config(
            vocab_size=vocab,
            d_model=48,
            d_kv=16,
            d_ff=96,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=3,
            pad_token_id=1,
            eos_token_id=0,
            decoder_start_token_id=1,
        )
    )


def tiny_lm(kind: str, tokenizer, max_length: int = 160):
    """A tiny random GPT-2 ('causal') or T5 ('seq2seq') as a LanguageModel on the CPU."""
    from taskmix.config import ModelConfig
    from taskmix.models.generative import LanguageModel

    model = (tiny_gpt2 if kind == "causal" else tiny_t5)(len(tokenizer))
    return LanguageModel(
        model,
        tokenizer,
        name=f"tiny-{kind}",
        config=ModelConfig(
            name=f"tiny-{kind}", max_length=max_length, device="cpu", precision="fp32"
        ),
    )


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, lm_tokenizer):
    """A tiny random GPT-2 saved as a local model folder, as a user's own model would be."""
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tiny_gpt2(len(lm_tokenizer)).save_pretrained(path)
    lm_tokenizer.save_pretrained(path)
    return path


# ---------------------------------------------------------------- finished runs, as a store holds
# them
STL_SCORES = {
    ("a", 1): 0.50,
    ("a", 2): 0.60,
    ("a", 3): 0.55,
    ("b", 1): 0.70,
    ("b", 2): 0.65,
    ("b", 3): 0.80,
}
MTL_SCORES = {1: {"a": 0.58, "b": 0.71}, 2: {"a": 0.61, "b": 0.70}, 3: {"a": 0.50, "b": 0.86}}


def run_record(run_id: str, tasks: list[str], seed: int, scores: dict[str, float]):
    """A finished run's record: macro-F1 = accuracy = the score of each task, trained with
    max_steps 200 on 80/20/20 examples per task."""
    from taskmix.store import RunRecord

    kind = "stl" if len(tasks) == 1 else "mtl"
    return RunRecord(
        id=run_id,
        suite="s",
        setting=f"{kind}:{'+'.join(tasks)}",
        kind=kind,
        tasks=tasks,
        seed=seed,
        status="finished",
        config={
            "kinds": {t: "classification" for t in tasks},
            "model": {"name": "tiny", "max_length": 64},
            "train": {
                "max_steps": 200,
                "batch_size": 16,
                "lr": 1e-4,
                "sampler": "proportional",
                "patience": 4,
                "adaptation": "full",
            },
        },
        metrics={
            "test": {t: {"accuracy": v, "macro_f1": v} for t, v in scores.items()},
            "trainable_parameters": 10,
            "steps": 150,
            "rows": {t: {"train": 80, "dev": 20, "test": 20} for t in tasks},
        },
        error=None,
        created=0.0,
        started=0.0,
        finished=1.0,
        duration=1.0,
        artifacts=None,
    )


def stl_mtl_records() -> list:
    """STL runs of tasks a and b and MTL runs of a+b, seeds 1-3 (STL_SCORES, MTL_SCORES)."""
    out = [run_record(f"stl-{t}-{s}", [t], s, {t: v}) for (t, s), v in STL_SCORES.items()]
    return out + [run_record(f"mtl-{s}", ["a", "b"], s, v) for s, v in MTL_SCORES.items()]
