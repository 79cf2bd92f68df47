"""Inspirational Pointer: hooks, initial identity, frozen backbone, parameter formula, saving,
descriptions; (IA)³ and the shared-weight start of few-shot transfer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import tiny_bert
from taskmix.config import TrainConfig
from taskmix.data.prompt import describe, template_description
from taskmix.data.suite import demo_suite
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import ModelError
from taskmix.models.adapt import make_adaptation
from taskmix.models.hps import HardSharingModel, make_batch
from taskmix.models.ip import IPModel, find_layers, intervene
from taskmix.train.trainer import Trainer


@pytest.fixture(scope="module")
def suite():
    return demo_suite(seed=0, scale=0.2)


def _tasks(suite, *names):
    return [suite[n] for n in names]


def _batch(backbone, tasks, n=6):
    items = [(k % len(tasks), "train", i) for k, i in zip(range(n), range(n), strict=True)]
    return make_batch(backbone, tasks, items)


def test_at_initialisation_ip_outputs_equal_the_frozen_backbones(tiny_backbone, suite):
    tasks = _tasks(suite, "negation_site_a", "topic")
    ip = IPModel(tiny_backbone, tasks, TrainConfig(adaptation="ip", ip_embedding_size=8)).eval()
    plain = HardSharingModel(tiny_backbone, tasks).eval()
    plain.heads.load_state_dict(ip.heads.state_dict())
    batch = _batch(tiny_backbone, tasks)
    with torch.no_grad():
        a, b = ip(batch), plain(batch)
        assert (
            ip.ip.vectors(ip.task_embeddings(batch)).abs().max() == 0
        )  # C's last layer starts at zero
    for t in a:
        assert torch.allclose(a[t]["outputs"], b[t]["outputs"], atol=1e-6)


def test_hooks_change_the_hidden_states_and_are_removed_after_the_block(tiny_backbone, suite):
    model = tiny_backbone.model.eval()
    layers = find_layers(model)
    assert len(layers) == 2
    batch = tiny_backbone.tokenize([("no fever today",), ("denies pain",)])
    with torch.no_grad():
        base = model(**batch).last_hidden_state
        vectors = torch.full((2, 2, tiny_backbone.hidden_size), 0.5)
        with intervene(layers, vectors):
            changed = model(**batch).last_hidden_state
            assert all(len(layer._forward_hooks) == 1 for layer in layers)
        assert all(len(layer._forward_hooks) == 0 for layer in layers)
        again = model(**batch).last_hidden_state
        with pytest.raises(RuntimeError), intervene(layers, vectors):  # removed after an error, too
            raise RuntimeError("boom")
    assert all(len(layer._forward_hooks) == 0 for layer in layers)
    assert not torch.allclose(base, changed) and torch.equal(base, again)


def test_training_moves_ip_and_heads_but_not_the_backbone(tiny_factory, suite):
    tasks = _tasks(suite, "negation_site_a", "sentiment")
    before = {k: v.clone() for k, v in tiny_factory.template.model.state_dict().items()}
    cfg = TrainConfig(
        adaptation="ip", ip_embedding_size=8, max_steps=6, batch_size=8, lr=1e-2, patience=None
    )
    result = Trainer(cfg, tiny_factory).fit(tasks, seed=0, keep_model=True)
    model = result.model
    assert isinstance(model, IPModel)
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.ip.C2.weight.abs().sum() > 0  # the pointer learned something
    assert result.trainable_parameters == model.ip_parameters() + sum(
        p.numel() for p in model.heads.parameters()
    )
    assert all(not p.requires_grad for p in model.encoder.parameters())


@pytest.mark.parametrize("combine,extra", [("sum", 0), ("concat", 1)])
def test_parameter_count_matches_the_papers_formula(tiny_backbone, suite, combine, extra):
    t = 12
    model = IPModel(
        tiny_backbone,
        _tasks(suite, "topic"),
        TrainConfig(adaptation="ip", ip_embedding_size=t, ip_combine=combine),
    )
    d1 = d2 = tiny_backbone.hidden_size
    n1, n2 = 2 + 1, 2  # tiny BERT: embeddings + 2 layers read, 2 layers modified
    formula = t * (d1 + d2 + t + n2) + n1
    assert model.ip.formula() == formula
    biases = t + t + d2  # T, C1, C2
    assert model.ip_parameters() == formula + biases + extra * t * t


def test_ip_weights_round_trip_through_safetensors(tiny_backbone, suite, tmp_path):
    tasks = _tasks(suite, "negation_site_a", "topic")
    cfg = TrainConfig(adaptation="ip", ip_embedding_size=8)
    a = IPModel(tiny_backbone, tasks, cfg)
    with torch.no_grad():
        for p in a.ip.parameters():
            p.normal_()
    a.save_ip(tmp_path / "ip")
    assert (tmp_path / "ip" / "ip.safetensors").exists()
    b = IPModel(tiny_backbone, tasks, cfg).load_ip(tmp_path / "ip")
    for (k, v), (k2, v2) in zip(a.ip.state_dict().items(), b.ip.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
    batch = _batch(tiny_backbone, tasks)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.allclose(a(batch)["topic"]["outputs"], b(batch)["topic"]["outputs"])
    # a model for another task takes the shared parts only with strict=False
    other = IPModel(tiny_backbone, _tasks(suite, "sentiment"), cfg)
    with pytest.raises(ModelError, match="do not fit"):
        other.load_ip(tmp_path / "ip")
    other.load_ip(tmp_path / "ip", strict=False)
    assert torch.equal(other.ip.L, a.ip.L)
    with pytest.raises(ModelError, match="sizes"):
        IPModel(tiny_backbone, tasks, TrainConfig(adaptation="ip", ip_embedding_size=4)).load_ip(
            tmp_path / "ip"
        )


def test_a_task_without_description_gets_the_template_one(suite):
    assert describe(suite["topic"]) == suite["topic"].description  # the suite's own
    topic = dataclasses.replace(suite["topic"], description=None)
    assert describe(topic) == template_description(topic)
    assert "Tell me the label of the text:" in describe(topic)
    assert all(name in describe(topic) for name in topic.label_names)
    pair = Task(
        "nli_x",
        "classification",
        {},
        label_names=["yes", "no"],
        text_fields=["premise", "hypothesis"],
    )
    assert "Determine the relationship between the premise and hypothesis from nli x:" in describe(
        pair
    )
    sts = Task("sts", "regression", {}, text_fields=["s1", "s2"])
    assert "Evaluate the semantic similarity of the s1 and s2:" in describe(sts)
    own = Task(
        "mine", "classification", {}, label_names=["a", "b"], description="Is the patient febrile?"
    )
    assert describe(own) == "Is the patient febrile?"


def test_long_descriptions_are_cut_with_a_warning_and_inputs_truncated_first(tiny_backbone):
    split = TaskSplit(texts=[("word " * 200,)], labels=np.array([0]), ids=["0"])
    long = Task(
        "long",
        "classification",
        {"train": split},
        label_names=["a", "b"],
        description="describe " * 100,
    )
    with pytest.warns(UserWarning, match="description of long"):
        model = IPModel(tiny_backbone, [long], TrainConfig(adaptation="ip", ip_embedding_size=4))
    enc = model.form_inputs([("word " * 200,)], [0])
    limit = tiny_backbone.config.max_length
    assert enc["input_ids"].shape[1] == limit
    ids = enc["input_ids"][0].tolist()
    sep = tiny_backbone.tokenizer.sep_token_id
    n_desc = ids.index(sep) - 1  # [CLS] description [SEP] input [SEP]
    assert n_desc == limit - 3 - 16  # the description leaves MIN_INPUT_TOKENS for the input
    # a short description is kept whole; the input side is the one truncated
    short = Task(
        "short",
        "classification",
        {"train": split},
        label_names=["a", "b"],
        description="Say a or b.",
    )
    model = IPModel(tiny_backbone, [short], TrainConfig(adaptation="ip", ip_embedding_size=4))
    ids = model.form_inputs([("word " * 200,)], [0])["input_ids"][0].tolist()
    assert tiny_backbone.tokenizer.decode(ids[1 : ids.index(sep)]) == "say a or b."
    assert len(ids) == limit


def test_without_descriptions_the_task_embedding_reads_only_the_input(tiny_backbone, suite):
    tasks = _tasks(suite, "negation_site_a", "negation_site_b")
    cfg = TrainConfig(adaptation="ip", ip_embedding_size=8, ip_descriptions=False)
    model = IPModel(tiny_backbone, tasks, cfg)
    same = [("no fever",), ("no fever",)]
    enc = model.form_inputs(same, [0, 1])
    assert torch.equal(enc["input_ids"][0], enc["input_ids"][1])
    with_desc = IPModel(tiny_backbone, tasks, TrainConfig(adaptation="ip", ip_embedding_size=8))
    enc = with_desc.form_inputs(same, [0, 1])
    assert not torch.equal(enc["input_ids"][0], enc["input_ids"][1])


@pytest.mark.parametrize("descriptions", [True, False])
def test_form_inputs_are_tokenised_once_and_equal_a_direct_call(
    tiny_backbone, suite, monkeypatch, descriptions
):
    tasks = _tasks(suite, "negation_site_a", "negation_site_b")
    cfg = TrainConfig(adaptation="ip", ip_embedding_size=8, ip_descriptions=descriptions)
    model = IPModel(tiny_backbone, tasks, cfg)
    batch = [("no fever today",), ("a much longer input " * 3,), ("no fever today",)]
    task_of = [0, 1, 1]
    tok = tiny_backbone.tokenizer
    inputs = [s[0] for s in batch]
    kw = {"padding": "longest", "return_tensors": "pt"}
    kw["max_length"] = tiny_backbone.config.max_length
    if descriptions:
        described = [model.descriptions[tasks[k].name] for k in task_of]
        want = tok(described, inputs, truncation="only_second", **kw)
    else:
        want = tok(inputs, truncation=True, **kw)
    got = model.form_inputs(batch, task_of)
    assert set(got) == set(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    calls, call = [], type(tok).__call__

    def counted(self, *a, **k):
        calls.append(a)
        return call(self, *a, **k)

    monkeypatch.setattr(type(tok), "__call__", counted)
    again = model.form_inputs(batch[::-1], task_of[::-1])  # every (task, input) met before
    assert calls == [] and torch.equal(again["input_ids"], want["input_ids"].flip(0))


def test_find_layers_refuses_a_model_without_layers():
    with pytest.raises(ModelError, match="cannot find the encoder layers"):
        find_layers(torch.nn.Linear(2, 2))


def test_ia3_trains_only_its_scaling_vectors():
    model = make_adaptation(TrainConfig(adaptation="ia3")).apply(tiny_bert())
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("ia3_" in n for n in names)
    assert any("key" in n for n in names) and any("value" in n for n in names)
    assert any(
        ".output.dense" in n and "attention" not in n for n in names
    )  # the feed-forward output layer


@pytest.mark.parametrize("adaptation", ["ip", "full", "lora"])
def test_few_shot_run_starts_from_the_trained_shared_weights(tiny_factory, suite, adaptation):
    cfg = TrainConfig(
        adaptation=adaptation,
        ip_embedding_size=8,
        max_steps=3,
        batch_size=8,
        lr=1e-2,
        patience=None,
    )
    trainer = Trainer(cfg, tiny_factory)
    source = trainer.fit(_tasks(suite, "negation_site_a"), seed=0, keep_model=True).model
    new = suite["topic"]
    zero = Trainer(cfg.model_copy(update={"max_steps": 1, "lr": 1e-12}), tiny_factory)
    started = zero.fit([new], seed=1, keep_model=True, init=source).model
    shared = [k for k in source.state_dict() if not k.startswith("heads.")]
    moved = [
        k
        for k in shared
        if not torch.allclose(started.state_dict()[k], source.state_dict()[k], atol=1e-6)
    ]
    assert not moved, moved[:3]
    fresh = zero.fit([new], seed=1, keep_model=True).model
    assert any(not torch.equal(fresh.state_dict()[k], source.state_dict()[k]) for k in shared)


def test_train_method_ip_from_the_command_line(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    from conftest import run_cli
    from taskmix.store import RunStore

    out = tmp_path / "runs"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        keyword_suite,
        "--groups",
        "a,b",
        "--method",
        "ip",
        "--max-steps",
        "2",
        "--seeds",
        "1",
        "--model",
        str(tiny_model_dir),
        "--out",
        str(out),
    )
    assert code == 0, err
    with RunStore(out / "taskmix.db") as store:
        runs = {r.setting: r for r in store.runs()}
    assert set(runs) == {"stl:a", "stl:b", "mtl:a+b"}
    run = runs["mtl:a+b"]
    assert run.config["train"]["adaptation"] == "ip" and run.status == "finished"
    # the trainable parameters reported are IP's and the heads', far fewer than the backbone's
    assert run.metrics["trainable_parameters"] < run.metrics["total_parameters"] / 5
    code, _, err = run_cli(
        monkeypatch, capsys, "train", keyword_suite, "--method", "ip", "--adaptation", "lora"
    )
    assert code == 2 and "disagree" in err
    # the MTL run left its task-embedding similarities, and the report draws them
    sim = pd.read_csv(out / run.id / "task_embeddings.csv", index_col=0)
    assert list(sim.index) == ["a", "b"] and np.allclose(np.diag(sim.to_numpy()), 1.0, atol=1e-4)
    code, _, err = run_cli(monkeypatch, capsys, "report", "--out", str(out))
    assert code == 0, err
    html = (out / "report" / "index.html").read_text()
    assert (
        "Inspirational Pointer: task embeddings" in html
        and (out / "report" / "ip-mtl-a_b-s1.png").exists()
    )


def test_task_embeddings_do_not_depend_on_dropout(tiny_backbone, suite):
    """The tiny encoder has dropout 0.1: in training mode two passes would differ."""
    tasks = _tasks(suite, "negation_site_a", "topic")
    model = IPModel(tiny_backbone, tasks, TrainConfig(adaptation="ip", ip_embedding_size=8)).train()
    batch = _batch(tiny_backbone, tasks)
    with torch.no_grad():
        assert torch.equal(model.task_embeddings(batch), model.task_embeddings(batch))
    assert model.encoder.training  # the main pass keeps its training mode
