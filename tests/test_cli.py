"""The command line: exit code 2 and a readable message for bad input; end-to-end commands."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import keyword_rows, run_cli, write_jsonl, write_suite
from taskmix import cli


def test_help_lists_commands(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    assert code == 0
    for cmd in ("tasks", "train", "compare", "runs", "report", "demo"):
        assert cmd in out


def test_bad_suite_exits_2_without_traceback(monkeypatch, capsys, tmp_path):
    write_jsonl(tmp_path / "t.jsonl", keyword_rows(10))
    suite = write_suite(tmp_path / "s.yaml", {"tasks": [{"name": "a", "splits": {"train": "t.jsonl"},
                                                          "text": "missing_col", "label": "label"}]})
    code, out, err = run_cli(monkeypatch, capsys, "tasks", suite)
    assert code == 2
    assert "error:" in err and "missing_col" in err and "Traceback" not in err + out


def test_debug_shows_traceback(monkeypatch, capsys, tmp_path):
    from taskmix.errors import ConfigError
    monkeypatch.setattr(sys, "argv", ["taskmix", "--debug", "tasks", str(tmp_path / "none.yaml")])
    with pytest.raises(ConfigError):
        cli.main()


def test_unknown_group_task(monkeypatch, capsys, keyword_suite):
    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--groups", "a,zzz")
    assert code == 2 and "no task 'zzz'" in err and "tasks are: a, b" in err


def test_bad_seeds(monkeypatch, capsys, keyword_suite):
    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--seeds", "1,x")
    assert code == 2 and "--seeds" in err


def test_bad_option_value(monkeypatch, capsys, keyword_suite):
    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--sampler", "roundrobin", "--seeds", "1")
    assert code == 2 and "sampler" in err


def test_tasks_describes(monkeypatch, capsys, keyword_suite):
    code, out, _ = run_cli(monkeypatch, capsys, "tasks", keyword_suite)
    assert code == 0 and "kw: 2 tasks" in out and "pair" in out and "stratified" in out


def test_train_compare_runs_report_end_to_end(monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path):
    out_dir = tmp_path / "runs"
    args = ["train", keyword_suite, "--groups", "a,b", "--seeds", "1,2", "--model", tiny_model_dir,
            "--max-steps", "4", "--batch-size", "8", "--out", out_dir]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "MTL a+b" in out and "STL" in out and "trainable_parameters" in out
    code, out, _ = run_cli(monkeypatch, capsys, "runs", "--out", out_dir)
    assert code == 0 and "6 runs" in out and "finished" in out
    code, out, _ = run_cli(monkeypatch, capsys, "compare", "--out", out_dir, "--groups", "a,b")
    assert code == 0 and "MTL a+b" in out and "one model per group" in out
    code, out, _ = run_cli(monkeypatch, capsys, "report", "--out", out_dir, "--groups", "a,b")
    assert code == 0
    report = out_dir / "report"
    assert (report / "index.html").exists() and (report / "stl_vs_mtl.png").stat().st_size > 1000
    for name in ("comparison", "settings", "runs", "strategies"):
        assert (report / f"{name}.csv").exists() and (report / f"{name}.json").exists()
    html = (report / "index.html").read_text()
    assert "STL vs MTL" in html and "MTL a+b" in html
    # the same command again trains nothing: every run is finished
    code, out, _ = run_cli(monkeypatch, capsys, *args)
    assert code == 0
    from taskmix.store import RunStore
    with RunStore(out_dir / "taskmix.db") as store:
        assert store.count() == 6 and store.count("finished") == 6


def test_compare_without_store(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--out", tmp_path)
    assert code == 2 and "no run store" in err


def test_run_config_file(monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path):
    cfg = write_suite(tmp_path / "run.yaml", {"model": {"name": str(tiny_model_dir), "max_length": 16},
                                             "train": {"max_steps": 2, "batch_size": 4}, "seeds": [7],
                                             "out": str(tmp_path / "r")})
    code, out, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--config", cfg, "--groups", "a;b")
    assert code == 0, err
    from taskmix.store import RunStore
    with RunStore(tmp_path / "r" / "taskmix.db") as store:
        runs = store.runs()
    assert {r.setting for r in runs} == {"stl:a", "stl:b"} and {r.seed for r in runs} == {7}
    assert runs[0].config["train"]["max_steps"] == 2 and runs[0].config["model"]["max_length"] == 16
    bad = write_suite(tmp_path / "bad.yaml", {"train": {"max_stepz": 2}})
    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--config", bad)
    assert code == 2 and "unknown key 'max_stepz'" in err and "line 2" in err


def test_pvi_and_group_commands(monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path):
    out_dir = tmp_path / "runs"
    base = ["--model", tiny_model_dir, "--out", out_dir]
    code, out, err = run_cli(monkeypatch, capsys, "pvi", keyword_suite, "--folds", "3", *base)
    assert code == 0, err
    assert "V-information" in out and "probe" in out
    tables = list((out_dir / "pvi").glob("*/pvi.csv"))
    assert len(tables) == 1 and (tables[0].parent / "summary.csv").exists()
    code, out, err = run_cli(monkeypatch, capsys, "group", keyword_suite, "--pvi", tables[0], *base)
    assert code == 0, err
    assert "recommended:" in out and "most different" in out and "welch t" in out
    assert (out_dir / "groups" / "kw-pvi.csv").exists()
    code, out, err = run_cli(monkeypatch, capsys, "group", keyword_suite, "--method", "random", "--sizes", "2", *base)
    assert code == 0 and "recommended: a+b" in out.replace("b+a", "a+b")
    code, _, err = run_cli(monkeypatch, capsys, "group", keyword_suite, "--subsample", "many", *base)
    assert code == 2 and "--subsample" in err
    code, _, err = run_cli(monkeypatch, capsys, "group", keyword_suite, "--method", "best", *base)
    assert code == 2 and "method" in err


def test_pvi_refuses_regression_without_bins(monkeypatch, capsys, tmp_path, tiny_model_dir):
    rows = [{"text": f"value {i}", "y": i / 10} for i in range(30)]
    write_jsonl(tmp_path / "r.jsonl", rows)
    suite = write_suite(tmp_path / "s.yaml", {"tasks": [{"name": "r", "kind": "regression", "text": "text",
                                                          "label": "y", "splits": {"train": "r.jsonl"}}]})
    args = ["pvi", suite, "--model", tiny_model_dir, "--out", tmp_path / "o", "--folds", "2"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "regression" in err and "--bins" in err
    code, out, err = run_cli(monkeypatch, capsys, *args, "--bins", "3")
    assert code == 0, err


def test_train_auto_groups_compare_and_report(monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path):
    out_dir = tmp_path / "runs"
    code, out, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--groups", "auto", "--method", "pvi",
                             "--baselines", "all,random", "--seeds", "1,2", "--model", tiny_model_dir,
                             "--max-steps", "2", "--batch-size", "8", "--out", out_dir)
    assert code == 0, err
    assert "PVI (probe) grouping" in out and "groupings: mean MTL" in out
    saved = json.loads((out_dir / "groupings.json").read_text())["kw"]
    assert set(saved["groupings"]) == {"pvi", "all", "random"} and saved["grouper"]["pvi"]
    code, out, _ = run_cli(monkeypatch, capsys, "compare", "--out", out_dir)
    assert code == 0 and "groupings: mean MTL" in out and "all" in out
    code, out, err = run_cli(monkeypatch, capsys, "report", "--out", out_dir)
    assert code == 0, err
    html = (out_dir / "report" / "index.html").read_text()
    assert "How the groups were chosen" in html and "Groupings compared" in html
    assert (out_dir / "report" / "pvalues.png").exists()
