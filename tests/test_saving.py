"""Trained models kept and used again: save_pretrained, loading in a fresh process, predict."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tests.test_hps import _task

from taskmix.config import GenerationConfig, ModelConfig, TrainConfig
from taskmix.data.suite import demo_suite
from taskmix.errors import ModelError
from taskmix.models.load import load_model
from taskmix.train.trainer import Trainer

KINDS = ["full", "bitfit", "lora", "ia3", "ip"]


@pytest.fixture(scope="module")
def demo():
    return demo_suite(scale=0.2)


def _texts(task, n=12):
    return [t[0] for t in task.splits["test"].texts[:n]]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model_dir, demo):
    """One trained model per adaptation, saved; with its predictions before saving."""
    tasks = [demo["negation_site_a"], demo["topic"]]
    model = ModelConfig(name=str(tiny_model_dir), device="cpu", precision="fp32", max_length=32)
    out = {}
    for kind in KINDS:
        trainer = Trainer(TrainConfig(max_steps=3, adaptation=kind, batch_size=8), model)
        result = trainer.fit(tasks, seed=1, keep_model=True)
        folder = tmp_path_factory.mktemp(kind) / "model"
        result.model.save_pretrained(folder)
        before = result.model.predict(_texts(tasks[1]), task="topic")
        out[kind] = (folder, before)
    return out


def test_every_kind_predicts_the_same_after_loading_in_a_fresh_process(saved, demo):
    """The acceptance round trip: identical labels, probabilities within 1e-5."""
    texts = _texts(demo["topic"])
    script = (
        "import json, sys\n"
        "from taskmix import load_model\n"
        "out = {}\n"
        "for kind, folder in json.loads(sys.argv[1]).items():\n"
        "    m = load_model(folder, device='cpu')\n"
        "    out[kind] = [type(m).__name__, m.predict(json.loads(sys.argv[2]), task='topic')"
        ".to_dict('list')]\n"
        "print(json.dumps(out))\n"
    )
    folders = {k: str(f) for k, (f, _) in saved.items()}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(folders), json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for kind, (_, before) in saved.items():
        cls, after = loaded[kind]
        assert cls == ("IPModel" if kind == "ip" else "HardSharingModel")
        after = pd.DataFrame(after)
        assert list(after["prediction"]) == list(before["prediction"]), kind
        probs = [c for c in before.columns if c.startswith("prob_")]
        assert len(probs) == len(demo["topic"].label_names)
        np.testing.assert_allclose(after[probs].values, before[probs].values, atol=1e-5)


def test_only_what_is_not_the_base_model_is_saved(saved):
    size = {
        k: sum(p.stat().st_size for p in f.rglob("*") if p.is_file()) for k, (f, _) in saved.items()
    }
    names = {k: {p.name for p in f.iterdir()} for k, (f, _) in saved.items()}
    assert "encoder" in names["full"] and "adapter" in names["lora"] and "adapter" in names["ia3"]
    assert "trainable.safetensors" in names["bitfit"] and "ip.safetensors" in names["ip"]
    for kind in ("bitfit", "lora", "ia3", "ip"):
        assert "encoder" not in names[kind]
        assert size[kind] < size["full"], kind
    meta = json.loads((saved["lora"][0] / "taskmix_model.json").read_text())
    assert meta["train"]["adaptation"] == "lora"
    assert [t["name"] for t in meta["tasks"]] == ["negation_site_a", "topic"]
    assert meta["tasks"][1]["label_names"]


def test_predict_probabilities_sum_to_one_and_name_labels(saved, demo):
    pred = saved["full"][1]
    probs = pred[[c for c in pred.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    names = demo["topic"].label_names
    assert [names[i] for i in probs.argmax(1)] == list(pred["prediction"])


def test_predict_is_the_evaluation_forward_pass(tiny_backbone):
    """predict gives the outputs evaluation scores: same logits as the test split's."""
    from taskmix.models.hps import HardSharingModel

    tasks = [_task("r", "regression", n=6), _task("m", "multiple_choice", n=6, choices=3, seed=1)]
    model = HardSharingModel(tiny_backbone, tasks).eval()
    reg = model.predict([t[0] for t in tasks[0].splits["test"].texts], task="r")
    np.testing.assert_allclose(reg["prediction"], model.outputs("test", ["r"])["r"], atol=1e-5)
    mc = model.predict(
        [t[0] for t in tasks[1].splits["test"].texts],
        task="m",
        choices=tasks[1].splits["test"].choices,
    )
    assert list(mc["prediction"]) == list(model.outputs("test", ["m"])["m"].argmax(1))
    assert "predict" not in tasks[0].splits  # the inputs were given for a moment only


def test_predict_errors_say_what_to_give(tiny_backbone):
    from taskmix.models.hps import HardSharingModel

    pair = _task("p", "classification", pair=True)
    mc = _task("m", "multiple_choice", choices=3)
    model = HardSharingModel(tiny_backbone, [pair, mc])
    with pytest.raises(ModelError, match="say which"):
        model.predict(["a"])
    with pytest.raises(ModelError, match="no task 'x'"):
        model.predict(["a"], task="x")
    with pytest.raises(ModelError, match="reads a and b"):
        model.predict(["only one text"], task="p")
    assert len(model.predict([("one", "two")], task="p")) == 1
    with pytest.raises(ModelError, match="give choices"):
        model.predict(["ctx"], task="m")
    with pytest.raises(ModelError, match="nothing to predict"):
        model.predict([], task="p")


def test_loading_what_is_not_a_model_folder(tmp_path, saved):
    from taskmix.models.generative import GenerativeModel

    with pytest.raises(ModelError, match="not a saved taskmix model"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="holds a IPModel"):
        GenerativeModel.from_pretrained(saved["ip"][0])


@pytest.mark.parametrize("kind", ["full", "lora", "ip"])
def test_generative_models_answer_the_same_after_loading(tmp_path, tiny_gpt2_dir, demo, kind):
    from taskmix.train.generative import GenerativeTrainer

    task = demo["negation_site_a"]
    trainer = GenerativeTrainer(
        TrainConfig(max_steps=4, adaptation=kind, batch_size=4, eval_every=4, lr=1e-3),
        ModelConfig(name=str(tiny_gpt2_dir), device="cpu", precision="fp32", max_length=96),
        GenerationConfig(eval_examples=4, max_new_tokens=4),
    )
    model = trainer.fit([task], seed=1, keep_model=True).model
    model.save_pretrained(tmp_path / "m")
    texts = _texts(task, 5)
    loaded = load_model(tmp_path / "m", device="cpu")
    assert type(loaded) is type(model)
    assert list(loaded.predict(texts)["answer"]) == list(model.predict(texts)["answer"])
