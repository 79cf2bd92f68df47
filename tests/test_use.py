"""Using taskmix from Python and around it: data frames in, run tables out, trackers, predict and
--keep on the command line, no global state changed by importing or loading."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tests.conftest import keyword_rows, run_cli, write_suite

from taskmix.config import ModelConfig, PromptConfig, TrainConfig
from taskmix.data.suite import Suite
from taskmix.data.task import Task
from taskmix.errors import ConfigError, DataError


def _csv_suite(tmp_path, rows):
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    path = write_suite(
        tmp_path / "suite.yaml",
        {
            "name": "s",
            "tasks": [
                {"name": "kw", "splits": {"train": "t.csv"}, "text": "text", "label": "label"}
            ],
        },
    )
    return Suite.load(path)


# ---------------------------------------------------------------- data in
def test_a_frame_read_from_a_suites_csv_gets_the_csv_tasks_run_id(tmp_path):
    from taskmix.experiment.groups import GroupTrainer, RunSpec

    rows = [dict(r, label=i % 2) for i, r in enumerate(keyword_rows(40))]  # numbers: read as text
    suite = _csv_suite(tmp_path, rows)
    task = Task.from_frame(pd.read_csv(tmp_path / "t.csv"), "kw")
    assert task.fingerprint() == suite["kw"].fingerprint()
    assert task.label_names == suite["kw"].label_names == ["0", "1"]
    for name in ("train", "dev", "test"):
        assert task.splits[name].texts == suite["kw"].splits[name].texts

    class Fixed:  # the backbone's fingerprint without loading one
        config = ModelConfig()

        def fingerprint(self):
            return "f"

    trainer = GroupTrainer(TrainConfig(max_steps=1), backbone=Fixed())
    spec = RunSpec(("kw",), 1)
    assert trainer.run_id(Suite("s", [task]), spec) == trainer.run_id(suite, spec)


def test_bad_frames_get_the_errors_of_bad_files(tmp_path):
    rows = keyword_rows(20)
    frame = pd.DataFrame(rows)
    with pytest.raises(DataError, match="needs column 'label'.*") as e:
        Task.from_frame(frame.drop(columns="label"), "kw")
    assert "columns found: text" in str(e.value)
    with pytest.raises(DataError, match="no records found"):
        Task.from_frame(frame.iloc[:0], "kw")
    with pytest.raises(DataError, match="label 'maybe' does not occur in the training data"):
        Task.from_frame(frame, "kw", dev=pd.DataFrame([{"text": "x", "label": "maybe"}]))
    bad = frame.copy()
    bad.loc[3, "text"] = "  "
    with pytest.raises(DataError, match="row 4: column 'text' is empty"):
        Task.from_frame(bad, "kw")
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        Task.from_frame(rows, "kw")
    with pytest.raises(ConfigError, match="kw"):
        Task.from_frame(frame, "kw", kind="nonsense")


def test_from_dataset_and_suite_of_tasks():
    import datasets

    frame = pd.DataFrame(keyword_rows(30))
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_pandas(frame),
            "validation": datasets.Dataset.from_pandas(frame[:6]),
        }
    )
    task = Task.from_dataset(dd, "kw")
    assert task.fingerprint() == Task.from_frame(frame, "kw", dev=frame[:6]).fingerprint()
    assert len(task.splits["dev"]) == 6
    suite = Suite([task])
    assert suite.names == ["kw"] and len(suite) == 1
    with pytest.raises(ConfigError, match="expected Task objects"):
        Suite([frame])


# ---------------------------------------------------------------- results out, trackers
def test_run_store_to_frame_has_a_row_per_run_and_a_column_per_metric(tmp_path):
    from taskmix.store import RunStore

    with RunStore(tmp_path / "taskmix.db") as store:
        for run_id, tasks in (("r1", ["a"]), ("r2", ["a", "b"])):
            kind = "stl" if len(tasks) == 1 else "mtl"
            store.add(
                run_id,
                suite="s",
                setting=f"{kind}:{'+'.join(tasks)}",
                kind=kind,
                tasks=tasks,
                seed=1,
                config={"train": {}},
            )
        metrics = {
            "test": {"a": {"macro_f1": 0.5}, "b": {"macro_f1": 0.75}},
            "dev": {"a": {"macro_f1": 0.4}},
            "best_step": 7,
        }
        store.finish("r2", metrics, "x")
        frame = store.to_frame()
    assert list(frame.id) == ["r1", "r2"]
    assert list(frame.status) == ["pending", "finished"]
    row = frame.set_index("id").loc["r2"]
    assert row["test.b.macro_f1"] == 0.75 and row["dev.a.macro_f1"] == 0.4 and row.best_step == 7
    assert np.isnan(frame.set_index("id").loc["r1", "test.a.macro_f1"])


def _train_tracked(tmp_path, tiny_factory, report_to):
    from taskmix.data.suite import demo_suite
    from taskmix.experiment.groups import GroupTrainer

    suite = demo_suite(scale=0.2).subset(["topic", "sentiment"])
    config = TrainConfig(max_steps=4, eval_every=2, report_to=report_to)
    trainer = GroupTrainer(
        config, seeds=[1], out=tmp_path / "runs", backbone=tiny_factory, show_progress=False
    )
    return trainer.run(suite, [["topic", "sentiment"]], stl=False)


def test_a_tracked_run_reads_back_from_mlflows_file_store(tmp_path, tiny_factory, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    records = _train_tracked(tmp_path, tiny_factory, ["mlflow"])
    client = MlflowClient(tracking_uri=(tmp_path / "runs" / "tracking" / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert (
        run.data.params["tasks"] == "topic,sentiment" and run.data.params["train.max_steps"] == "4"
    )
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train.loss")] == [
        1,
        2,
        3,
        4,
    ]
    assert len(client.get_metric_history(run.info.run_id, "dev.topic.macro_f1")) == 2
    test = records[0].metrics["test"]["topic"]["macro_f1"]
    assert run.data.metrics["test.topic.macro_f1"] == pytest.approx(test)


def test_a_tracked_run_reads_back_from_tensorboard_event_files(tmp_path, tiny_factory):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    records = _train_tracked(tmp_path, tiny_factory, ["tensorboard"])
    (folder,) = (tmp_path / "runs" / "tracking" / "tensorboard").iterdir()
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [e.step for e in events.Scalars("train.loss")] == [1, 2, 3, 4]
    (test,) = events.Scalars("test.sentiment.macro_f1")
    assert test.value == pytest.approx(records[0].metrics["test"]["sentiment"]["macro_f1"])
    assert "settings/text_summary" in events.Tags()["tensors"]


def test_trackers_do_not_change_run_ids():
    assert (
        TrainConfig(report_to=["mlflow"], tracking_dir="x").identity() == TrainConfig().identity()
    )
    assert "report_to" in TrainConfig().model_dump()  # kept in what is shown and saved


# ---------------------------------------------------------------- no global state
def test_importing_the_plots_keeps_matplotlibs_backend():
    code = "import taskmix.report.plots, matplotlib; print(matplotlib.get_backend())"
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().lower() == "svg"


def test_loading_a_model_leaves_transformers_logging_as_it_was(tiny_model_dir):
    from transformers.utils import logging as hf_logging

    from taskmix.models.backbone import Backbone

    hf_logging.set_verbosity(logging.INFO)
    try:
        Backbone.from_config(ModelConfig(name=str(tiny_model_dir), device="cpu"))
        assert hf_logging.get_verbosity() == logging.INFO
    finally:
        hf_logging.set_verbosity(logging.WARNING)


# ---------------------------------------------------------------- precision and prompts
def test_fp16_autocast_trains_with_a_gradient_scaler(tiny_factory):
    import torch

    from taskmix.data.suite import demo_suite
    from taskmix.models.backbone import amp_dtype
    from taskmix.train.trainer import Trainer

    assert amp_dtype("fp16", torch.device("cpu")) == torch.float16
    assert amp_dtype("fp32", torch.device("cpu")) is None
    factory = tiny_factory
    factory.template.config = factory.template.config.model_copy(update={"precision": "fp16"})
    factory.template.amp_dtype = torch.float16
    result = Trainer(TrainConfig(max_steps=3), factory).fit([demo_suite(scale=0.2)["topic"]], 1)
    assert result.steps == 3 and np.isfinite(result.test["topic"]["macro_f1"])


def test_templates_are_filled_without_str_format():
    from taskmix.data.prompt import TaskPrompt
    from taskmix.data.suite import demo_suite

    config = PromptConfig(
        instruction='Reply as JSON {"label": ...}.\n{description}\n', input="Input {x}: {input}\n"
    )
    tp = TaskPrompt(demo_suite()["negation_site_a"], config)
    prompt = tp.prompt("train", 0)
    assert prompt.startswith('Reply as JSON {"label": ...}.\n') and "Input {x}: " in prompt
    assert "{description}" not in prompt and "{input}" not in prompt


def test_a_models_chat_template_is_used_unless_turned_off(lm_tokenizer):
    from tests.conftest import tiny_lm

    from taskmix.config import GenerationConfig
    from taskmix.data.suite import demo_suite
    from taskmix.models.generative import GenerativeModel

    lm = tiny_lm("causal", lm_tokenizer)
    lm.tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    from taskmix.models.llm import LocalLLM

    task = demo_suite()["negation_site_a"]
    try:
        chat = GenerativeModel(lm, [task]).texts([(0, "train", 0)])[0][0]
        plain = GenerativeModel(
            lm, [task], GenerationConfig(prompt=PromptConfig(chat_template=False))
        ).texts([(0, "train", 0)])[0][0]
        prompted = LocalLLM(lm)._prompts(["Q: 2 + 2?"])  # the few-shot baseline's model, too
        as_given = LocalLLM(lm, chat_template=False)._prompts(["Q: 2 + 2?"])
    finally:
        lm.tokenizer.chat_template = None
    assert prompted == ["<|user|>Q: 2 + 2?<|end|><|assistant|>"] and as_given == ["Q: 2 + 2?"]
    assert LocalLLM(lm)._prompts(["Q"]) == ["Q"]  # no template: the prompt as it is
    assert chat.startswith("<|user|>### Instruction:") and chat.endswith("<|end|><|assistant|>")
    assert "### Response:" not in chat and plain.endswith("### Response:\n")


# ---------------------------------------------------------------- the command line
def test_train_keep_best_then_predict_a_file(tmp_path, monkeypatch, capsys, tiny_model_dir):
    out = tmp_path / "runs"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        "demo",
        "--tasks",
        "topic,sentiment,modality",
        "--groups",
        "topic,sentiment",
        "--seeds",
        "1",
        "--max-steps",
        "2",
        "--model",
        tiny_model_dir,
        "--keep",
        "best",
        "--out",
        out,
        "--json",
    )
    assert code == 0, err
    kept = json.loads(stdout)["models"]
    assert kept and all(
        os.path.isfile(os.path.join(k["model"], "taskmix_model.json")) for k in kept
    )
    saved = {str(p.parent) for p in out.glob("*/model/taskmix_model.json")}
    assert saved == {k["model"] for k in kept}  # the other runs' models are deleted
    code, stdout, _ = run_cli(monkeypatch, capsys, "runs", "--out", out, "--json")
    assert {r["model"] for r in json.loads(stdout)["runs"] if r["model"]} == saved

    model = kept[0]["model"]
    task = kept[0]["setting"].split(":")[1].split("+")[0]
    pd.DataFrame({"id": [7, 8], "text": ["The coach was sacked.", "Shares fell."]}).to_csv(
        tmp_path / "new.csv", index=False
    )
    code, stdout, err = run_cli(
        monkeypatch, capsys, "predict", model, tmp_path / "new.csv", "--task", task, "--json"
    )
    assert code == 0, err
    written = pd.read_csv(tmp_path / "new.predictions.csv")
    assert list(written.id) == [7, 8] and "prediction" in written
    assert json.loads(stdout)["path"].endswith("new.predictions.csv")
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", model, tmp_path / "new.csv", "--task", "nope"
    )
    assert code == 2 and "has no task 'nope'" in err
    pd.DataFrame({"sentence": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run_cli(
        monkeypatch, capsys, "predict", model, tmp_path / "bad.csv", "--task", task
    )
    assert code == 2 and "needs column 'text'" in err
