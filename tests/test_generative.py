"""Generative models on tiny random GPT-2 and T5 configs: batches, training, answers, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import keyword_rows, tiny_lm
from taskmix.config import GenerationConfig, ModelConfig, PromptConfig, TrainConfig
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import ModelError
from taskmix.models.generative import IGNORE, GenerativeModel, LanguageModel
from taskmix.train.generative import GenerativeTrainer, language_model_factory, mean_loss


def keyword_task(n: int = 24, name: str = "kw") -> Task:
    rows = keyword_rows(n, seed=5)
    split = TaskSplit(
        [(r["text"],) for r in rows],
        np.array([int(r["label"] == "pos") for r in rows]),
        [f"{name}:{i}" for i in range(n)],
    )
    return Task(
        name,
        "classification",
        {"train": split, "dev": split, "test": split},
        label_names=["neg", "pos"],
        description="Is the review positive?",
    )


def extraction_task(n: int = 24) -> Task:
    rows = keyword_rows(n, seed=6)
    answers = np.array(
        [r["text"].split()[3] for r in rows], dtype=object
    )  # the keyword is the span
    split = TaskSplit([(r["text"],) for r in rows], answers, [f"ex:{i}" for i in range(n)])
    return Task(
        "ex",
        "generation",
        {"train": split, "dev": split, "test": split},
        description="Find the keyword.",
    )


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_teacher_batch_masks_the_prompt(kind, lm_tokenizer):
    lm = tiny_lm(kind, lm_tokenizer, max_length=24)
    prompts = ["### Input:\nthe film was great overall\n### Response:\n", "short\n"]
    batch = lm.teacher_batch(prompts, ["pos", "a much longer answer here"])
    labels = batch["labels"]
    for row, answer in zip(labels, ["pos", "a much longer answer here"], strict=True):
        kept = [int(t) for t in row if t != IGNORE]
        assert kept == lm_tokenizer(answer, add_special_tokens=False)["input_ids"][:12] + [
            lm.stop_id
        ]
    if kind == "causal":  # prompt + answer in one row, cut from the left to fit max_length
        assert batch["input_ids"].shape[1] <= 24
        assert (batch["input_ids"][labels != IGNORE] == labels[labels != IGNORE]).all()
    assert batch["attention_mask"].sum() > 0

    # the same batch again: every text is met before, nothing is tokenised, the batch is the same
    calls, call = [], type(lm_tokenizer).__call__

    def counted(self, *a, **k):
        calls.append(a)
        return call(self, *a, **k)

    again = batch
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(lm_tokenizer), "__call__", counted)
        again = lm.teacher_batch(prompts, ["pos", "a much longer answer here"])
    assert calls == [] and all(torch.equal(again[k], batch[k]) for k in batch)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_training_lowers_the_loss_and_learns_the_answers(kind, lm_tokenizer):
    task, ex = keyword_task(), extraction_task()
    lm = tiny_lm(kind, lm_tokenizer)
    factory = language_model_factory(lm.config, template=lm)
    cfg = TrainConfig(
        max_steps=300, batch_size=16, lr=5e-3, sampler="equal", eval_every=100, patience=None
    )
    trainer = GenerativeTrainer(cfg, factory, GenerationConfig(max_new_tokens=6, eval_examples=12))
    items = [(k, "train", i) for k in range(2) for i in range(24)]
    before = mean_loss(GenerativeModel(factory(), [task, ex]), items)
    result = trainer.fit([task, ex], seed=1, keep_model=True)
    after = mean_loss(result.model, items)
    assert after < 0.5 * before, (before, after)
    assert [h["step"] for h in result.history] == [100, 200, 300]  # a checkpoint every 100
    assert result.steps == 300
    # the checkpoint kept is the one with the best dev score (mean of the tasks' main metrics)
    best = max(result.history, key=lambda h: h["dev_score"])
    assert best["step"] == result.best_step
    assert np.mean([result.dev["kw"]["macro_f1"], result.dev["ex"]["f1"]]) == pytest.approx(
        best["dev_score"]
    )
    # a memorisable toy task: the answers are right after 300 steps (at 150 they are on some
    # tokenizers, not on others: 19 of 24)
    assert result.test["kw"]["accuracy"] >= 0.8, result.test
    assert result.test["ex"]["f1"] >= 0.5, result.test
    kw = result.predictions["kw"]
    assert np.mean([p == y for p, y in zip(kw["prediction"], kw["label"], strict=True)]) >= 0.8
    assert set(kw["label"]) == {"neg", "pos"} and len(kw["text"]) == len(kw["id"])


def test_same_seed_same_run(lm_tokenizer):
    lm = tiny_lm("causal", lm_tokenizer)
    trainer = GenerativeTrainer(
        TrainConfig(max_steps=6, batch_size=4, eval_every=3, patience=None),
        language_model_factory(lm.config, template=lm),
        GenerationConfig(max_new_tokens=3, eval_examples=6),
    )
    a, b = (trainer.fit([keyword_task(12), extraction_task(12)], seed=3) for _ in range(2))
    assert a.test == b.test and a.history == b.history and a.predictions == b.predictions


def test_lora_trains_only_the_adapters(lm_tokenizer):
    pytest.importorskip("peft")
    lm = tiny_lm("causal", lm_tokenizer)
    factory = language_model_factory(lm.config, template=lm)
    cfg = TrainConfig(max_steps=4, batch_size=4, adaptation="lora", lora_r=4, patience=None)
    result = GenerativeTrainer(
        cfg, factory, GenerationConfig(max_new_tokens=3, eval_examples=4)
    ).fit([keyword_task(8)], seed=1, keep_model=True)
    names = [n for n, p in result.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert result.trainable_parameters < 0.1 * result.total_parameters
    t5 = tiny_lm("seq2seq", lm_tokenizer)
    result = GenerativeTrainer(
        cfg,
        language_model_factory(t5.config, template=t5),
        GenerationConfig(max_new_tokens=3, eval_examples=4),
    ).fit([keyword_task(8)], seed=1)
    assert 0 < result.trainable_parameters < 0.1 * result.total_parameters


def test_answer_logprobs_match_the_loss(lm_tokenizer):
    lm = tiny_lm("causal", lm_tokenizer)
    lm.model.eval()
    prompts, answers = ["### Input:\nthe film was great\n### Response:\n"], ["pos"]
    batch = lm.teacher_batch(prompts, answers, end=False)
    n = int((batch["labels"] != IGNORE).sum())
    with torch.no_grad():
        lp = lm.answer_logprobs(lm.model, prompts, answers)
        loss = lm.model(**batch).loss
    assert float(lp[0]) == pytest.approx(-float(loss) * n, rel=1e-4)


def test_an_encoder_is_refused(tiny_model_dir):
    with pytest.raises(ModelError, match="is an encoder"):
        LanguageModel.from_config(ModelConfig(name=str(tiny_model_dir)))


def test_load_from_a_folder_and_write(tiny_gpt2_dir):
    lm = LanguageModel.from_config(
        ModelConfig(name=str(tiny_gpt2_dir), device="cpu", precision="fp32")
    )
    assert not lm.is_seq2seq and lm.stop_id == lm.tokenizer.eos_token_id
    out = lm.generate(lm.model, ["### Input:\nhello\n", "x"], max_new_tokens=3)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    prompts = PromptConfig()
    assert "{input}" in prompts.input


def test_search_with_the_generative_trainer_end_to_end(
    tmp_path, monkeypatch, capsys, tiny_gpt2_dir
):
    """`taskmix search --trainer generative` on the demo suite with a tiny GPT-2 from a folder."""
    import json

    from conftest import run_cli
    from taskmix.store import RunStore

    config = tmp_path / "search.yaml"
    config.write_text(
        "generation: {max_new_tokens: 4, eval_examples: 16}\ntrain: {batch_size: 8}\n"
    )
    out = tmp_path / "runs"
    args = [
        "search",
        "demo",
        "--target",
        "negation_site_b",
        "--candidates",
        "negation_site_a,sentiment",
        "--trainer",
        "generative",
        "--model",
        tiny_gpt2_dir,
        "--budget",
        "3",
        "--initial",
        "2",
        "--max-steps",
        "4",
        "--config",
        config,
        "--out",
        out,
    ]
    code, stdout, stderr = run_cli(monkeypatch, capsys, *args)
    assert code == 0, stderr
    assert "best combination:" in stdout and "negation_site_b alone" in stdout
    summary = json.loads((out / "search" / "demo-negation_site_b.json").read_text())
    assert summary["trials"] == 3 and summary["config"]["trainer"] == "generative"
    with RunStore(out / "taskmix.db") as store:
        runs = store.runs(status="finished")
    assert len(runs) == 3 and all(
        r.kind == "trial" and r.config["trainer"] == "generative" for r in runs
    )
    assert all(0 <= r.metrics["score"] <= 1 and r.metrics["metric"] == "macro_f1" for r in runs)
    # the same command again trains nothing new
    code, stdout, _ = run_cli(monkeypatch, capsys, *args)
    assert code == 0
    with RunStore(out / "taskmix.db") as store:
        assert len(store.runs()) == 3
    # an encoder given as the model is refused with a clear message
    code, _, stderr = run_cli(
        monkeypatch,
        capsys,
        "search",
        "demo",
        "--target",
        "negation_site_b",
        "--trainer",
        "generative",
        "--out",
        tmp_path / "r2",
    )
    assert code == 2 and "is an encoder" in stderr and "--model" in stderr


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_ip_on_language_models_is_the_identity_at_init_and_trains(
    kind, lm_tokenizer, tiny_model_dir
):
    """IP on T5 (decoder blocks modified, its own encoder as form module) and GPT-2 (every layer,
    an auxiliary frozen encoder as form module): outputs unchanged at initialisation."""
    from taskmix.models.ip import GenerativeIPModel

    tasks = [keyword_task(12), extraction_task(12)]
    lm = tiny_lm(kind, lm_tokenizer)
    cfg = TrainConfig(
        adaptation="ip",
        ip_embedding_size=16,
        max_steps=8,
        batch_size=6,
        lr=1e-2,
        patience=None,
        ip_form_model=None if kind == "seq2seq" else str(tiny_model_dir),
    )
    factory = language_model_factory(lm.config, template=lm)
    trainer = GenerativeTrainer(cfg, factory, GenerationConfig(max_new_tokens=3, eval_examples=4))
    model = trainer.build(tasks)
    assert isinstance(model, GenerativeIPModel)
    if kind == "seq2seq":
        assert (
            model.layers == list(model.model.decoder.block)
            and model.form.model is model.model.get_encoder()
        )
    else:
        assert model.layers == list(model.model.transformer.h) and model.form.name == str(
            tiny_model_dir
        )
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"ip"}
    items = [(0, "train", 0), (1, "train", 1), (0, "train", 2)]
    prompts, targets = model.texts(items)
    batch = lm.teacher_batch(prompts, targets)
    model.eval()
    with torch.no_grad():
        plain = model.model(**batch).logits
        with model.context(items):
            hooked = model.model(**batch).logits
        assert torch.equal(plain, hooked)  # C's last layer starts at zero: I = 0
        plain_answers = lm.generate(model.model, prompts, 3)
        assert model.answers(0, "train", [0, 2]) == [
            model.prompts[0].cut(plain_answers[i]) for i in (0, 2)
        ]
    assert len(model.model._forward_hooks) == 0 and all(
        len(la._forward_hooks) == 0 for la in model.layers
    )
    # training moves only the pointer, and it changes the outputs
    result = trainer.fit(tasks, seed=1, keep_model=True)
    trained = result.model
    trained.eval()
    with torch.no_grad(), trained.context(items):
        after = trained.model(**batch).logits
    assert not torch.equal(after, plain)
    frozen = {n: p for n, p in trained.model.named_parameters()}
    assert all(
        torch.equal(frozen[n], p) for n, p in lm.model.named_parameters()
    )  # the LM did not change
    assert 0 < result.trainable_parameters == trained.ip_parameters()
