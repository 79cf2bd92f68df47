"""Tasks as text: generation tasks, verbalisers, answers as text, exact-match metrics."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli, write_jsonl, write_suite
from taskmix.config import PromptConfig
from taskmix.data.metrics import answer_metrics, exact_match_prf
from taskmix.data.prompt import TaskPrompt, Verbaliser, answer_text, parse_answer
from taskmix.data.suite import Suite, demo_suite
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import ConfigError, DataError


def test_verbaliser_round_trip_and_parsing():
    names = ["not_negated", "negated", "unknown"]
    v = Verbaliser(names, {"unknown": "cannot tell"})
    assert v.texts == ["not negated", "negated", "cannot tell"]
    assert [v.to_label(v.to_text(i)) for i in range(3)] == [0, 1, 2]
    # case, spaces, quotes and trailing punctuation do not matter; a longer answer starting with
    # a label text is that label — the longest label text wins ("not negated" is not "negated")
    assert v.to_label("  Not   Negated. ") == 0
    assert v.to_label('"negated"') == 1
    assert v.to_label("not negated, since the note says so") == 0
    assert v.to_label("negatedness") is None  # a prefix inside a word is no answer
    assert v.to_label("no idea") is None
    with pytest.raises(ConfigError, match="unknown label"):
        Verbaliser(["a", "b"], {"c": "see"})
    with pytest.raises(ConfigError, match="not distinct"):
        Verbaliser(["a", "b"], {"a": "Same", "b": "same"})


def test_answers_as_text_round_trip():
    triples = [["aspirin", "treats", "headache"], ["ibuprofen", "treats", "fever"]]
    text = answer_text(triples)
    assert text == "aspirin | treats | headache; ibuprofen | treats | fever"
    assert parse_answer(text) == {tuple(t) for t in triples}
    assert parse_answer(answer_text(["chest pain", "fever"])) == {("chest pain",), ("fever",)}
    assert (
        answer_text([]) == "none"
        and parse_answer("none") == frozenset()
        and parse_answer("") == frozenset()
    )
    assert parse_answer("Fever.;  CHEST   pain") == {("fever",), ("chest pain",)}


def test_exact_match_prf_hand_worked():
    # example 1: predicted {a, b}, gold {a}   → 1 hit
    # example 2: predicted {},     gold {c, d} → 0 hits
    # example 3: predicted {e, x}, gold {e, f} → 1 hit
    # hits 2, predicted 4, gold 5: P = 0.5, R = 0.4, F1 = 2·0.2/0.9 = 4/9; no example exactly right
    pred = [frozenset("ab"), frozenset(), frozenset("ex")]
    gold = [frozenset("a"), frozenset("cd"), frozenset("ef")]
    m = exact_match_prf(pred, gold)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.4)
    assert m["f1"] == pytest.approx(4 / 9) and m["exact"] == 0.0
    m = exact_match_prf([frozenset("a"), frozenset()], [frozenset("a"), frozenset()])
    assert m == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "exact": 1.0}
    assert (
        exact_match_prf([frozenset()], [frozenset()])["f1"] == 0.0
    )  # nothing to find, nothing found
    with pytest.raises(ValueError):
        exact_match_prf([frozenset()], [])


def _gen_task(answers: list[str]) -> Task:
    split = TaskSplit(
        [(f"note {i}",) for i in range(len(answers))],
        np.asarray(answers, dtype=object),
        [str(i) for i in range(len(answers))],
    )
    return Task("ner", "generation", {"train": split, "test": split})


def test_answer_metrics_classification_and_generation():
    task = demo_suite()["negation_site_a"]
    gold = task.splits["test"].labels
    names = task.label_names
    answers = [names[int(y)] for y in gold]
    answers[0] = "I am not sure"  # names no label: wrong, and invalid
    answers[1] = names[1 - int(gold[1])] + "."  # the other label
    m = answer_metrics(task, answers, gold)
    n = len(gold)
    assert m["accuracy"] == pytest.approx((n - 2) / n)
    assert m["invalid"] == pytest.approx(1 / n)
    # one label per example: micro precision counts only answered examples, recall all of them
    assert m["precision"] == pytest.approx((n - 2) / (n - 1)) and m["recall"] == pytest.approx(
        (n - 2) / n
    )
    t = _gen_task(["fever; cough", "none", "rash | site | arm"])
    m = answer_metrics(t, ["Fever", "none", "rash | site | arm"], t.splits["test"].labels)
    # hits: fever, rash-triple = 2; predicted 2; gold 3
    assert (m["precision"], m["recall"], m["exact"]) == (
        1.0,
        pytest.approx(2 / 3),
        pytest.approx(2 / 3),
    )


def test_prompt_of_a_task():
    task = demo_suite()["negation_site_a"]
    tp = TaskPrompt(
        task,
        PromptConfig(
            instruction="Q: {description}\n", input="In: {input}\n", response="A:", end="\n\n"
        ),
    )
    p = tp.prompt("train", 0)
    assert p.startswith("Q: ") and "Answer with one of: affirmed, negated." in p
    assert p.endswith("In: " + task.splits["train"].texts[0][0] + "\nA:")
    assert tp.target("train", 0) == tp.answer("train", 0) + "\n\n"
    assert tp.cut(" negated\n\n### Input: more") == "negated"
    with pytest.raises(ConfigError, match="regression"):
        TaskPrompt(Task("r", "regression", {}))
    with pytest.raises(Exception, match="description"):
        PromptConfig(instruction="no placeholder")


def test_generation_task_from_files(tmp_path, monkeypatch, capsys):
    rows = [
        {
            "note": f"pt has fever and cough {i}",
            "ents": [["fever", "symptom"], ["cough", "symptom"]],
        }
        for i in range(6)
    ] + [{"note": "nothing to report", "ents": []}, {"note": "text answer", "ents": "yes"}]
    write_jsonl(tmp_path / "train.jsonl", rows)
    suite = write_suite(
        tmp_path / "s.yaml",
        {
            "name": "g",
            "tasks": [
                {
                    "name": "ner",
                    "kind": "generation",
                    "text": "note",
                    "label": "ents",
                    "splits": {"train": "train.jsonl"},
                }
            ],
        },
    )
    task = Suite.from_yaml(suite)["ner"]
    assert task.main_metric == "f1"
    every = {str(a) for s in task.splits.values() for a in s.labels}
    assert (
        "fever | symptom; cough | symptom" in every and task.splits["train"].labels.dtype == object
    )
    fp = task.fingerprint()
    assert fp == Suite.from_yaml(suite)["ner"].fingerprint()  # answers are hashed by content
    code, out, _ = run_cli(monkeypatch, capsys, "tasks", suite)
    assert code == 0 and "generation" in out and "answers of" in out
    # an encoder method refuses it with a clear error
    code, _, e = run_cli(monkeypatch, capsys, "pvi", suite, "--out", tmp_path / "runs")
    assert code == 2 and "generation task" in e and "--trainer generative" in e
    # a bad answer names the file and line
    write_jsonl(tmp_path / "bad.jsonl", [{"note": "x", "ents": [1, 2]}] * 4)
    bad = write_suite(
        tmp_path / "b.yaml",
        {
            "name": "g",
            "tasks": [
                {
                    "name": "ner",
                    "kind": "generation",
                    "text": "note",
                    "label": "ents",
                    "splits": {"train": "bad.jsonl"},
                }
            ],
        },
    )
    with pytest.raises(DataError, match="bad.jsonl: line 1.*answer column 'ents'"):
        Suite.from_yaml(bad)


def test_verbalizer_in_the_suite(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"text": f"t{i}", "label": i % 2} for i in range(20)])
    cfg = {
        "name": "v",
        "tasks": [
            {
                "name": "a",
                "text": "text",
                "label": "label",
                "labels": ["neg", "pos"],
                "verbalizer": {"pos": "good", "neg": "bad"},
                "splits": {"train": "t.jsonl"},
            }
        ],
    }
    task = Suite.from_yaml(write_suite(tmp_path / "s.yaml", cfg))["a"]
    tp = TaskPrompt(task)
    assert [tp.verbaliser.to_text(i) for i in (0, 1)] == ["bad", "good"]
    assert "Answer with one of: bad, good." in tp.prompt("train", 0)
    cfg["tasks"][0]["kind"] = "regression"
    del cfg["tasks"][0]["labels"]
    with pytest.raises(ConfigError, match="verbalizer"):
        Suite.from_yaml(write_suite(tmp_path / "s.yaml", cfg))
