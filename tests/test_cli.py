"""The command line: exit code 2 and a readable message for bad input; end-to-end commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import keyword_rows, run_cli, write_jsonl, write_suite
from taskmix import cli
from taskmix.data.suite import demo_suite
from taskmix.group.partition import random_partition


def test_help_lists_commands(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    assert code == 0
    for cmd in ("tasks", "train", "compare", "runs", "report", "demo"):
        assert cmd in out


def test_bad_suite_exits_2_without_traceback(monkeypatch, capsys, tmp_path):
    write_jsonl(tmp_path / "t.jsonl", keyword_rows(10))
    suite = write_suite(
        tmp_path / "s.yaml",
        {
            "tasks": [
                {
                    "name": "a",
                    "splits": {"train": "t.jsonl"},
                    "text": "missing_col",
                    "label": "label",
                }
            ]
        },
    )
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
    code, _, err = run_cli(
        monkeypatch, capsys, "train", keyword_suite, "--sampler", "roundrobin", "--seeds", "1"
    )
    assert code == 2 and "sampler" in err


def test_tasks_describes(monkeypatch, capsys, keyword_suite):
    code, out, _ = run_cli(monkeypatch, capsys, "tasks", keyword_suite)
    assert code == 0 and "kw: 2 tasks" in out and "pair" in out and "stratified" in out


def test_train_compare_runs_report_end_to_end(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    out_dir = tmp_path / "runs"
    args = [
        "train",
        keyword_suite,
        "--groups",
        "a,b",
        "--seeds",
        "1,2",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--out",
        out_dir,
    ]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "MTL a+b" in out and "STL" in out and "trainable_parameters" in out
    code, out, _ = run_cli(monkeypatch, capsys, "runs", "--out", out_dir)
    assert code == 0 and "6 runs" in out and "finished" in out
    code, out, _ = run_cli(monkeypatch, capsys, "runs", "--out", out_dir, "--json")
    listed = json.loads(out)["runs"]
    assert len(listed) == 6 and {r["setting"] for r in listed} == {"stl:a", "stl:b", "mtl:a+b"}
    assert all(r["status"] == "finished" and r["test"].startswith(("a ", "b ")) for r in listed)
    code, out, _ = run_cli(monkeypatch, capsys, "runs", "--out", out_dir, "--status", "failed")
    assert code == 0 and "0 runs" in out
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
    cfg = write_suite(
        tmp_path / "run.yaml",
        {
            "model": {"name": str(tiny_model_dir), "max_length": 16},
            "train": {"max_steps": 2, "batch_size": 4},
            "seeds": [7],
            "out": str(tmp_path / "r"),
        },
    )
    code, out, err = run_cli(
        monkeypatch, capsys, "train", keyword_suite, "--config", cfg, "--groups", "a;b"
    )
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
    assert len(list((out_dir / "groups").glob("kw-pvi-*.csv"))) == 1
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "group",
        keyword_suite,
        "--pvi",
        tables[0],
        "--criterion",
        "effect",
        *base,
    )
    assert code == 0, err
    assert (
        len(list((out_dir / "groups").glob("kw-pvi-*.csv"))) == 2
    )  # another criterion: its own table
    for seed in (
        3,
        4,
    ):  # the seed reaches the grouper: the CLI's groups are the library's for that seed
        code, out, err = run_cli(
            monkeypatch,
            capsys,
            "group",
            "demo",
            "--method",
            "random",
            "--sizes",
            "2,2",
            "--seed",
            seed,
            "--json",
            "--out",
            out_dir,
        )
        assert code == 0, err
        expected = random_partition(demo_suite().names, [2, 2], seed)
        assert json.loads(out)["recommended"] == expected
    code, _, err = run_cli(
        monkeypatch, capsys, "group", keyword_suite, "--subsample", "many", *base
    )
    assert code == 2 and "--subsample" in err
    code, _, err = run_cli(monkeypatch, capsys, "group", keyword_suite, "--method", "best", *base)
    assert code == 2 and "method" in err


def test_pvi_refuses_regression_without_bins(monkeypatch, capsys, tmp_path, tiny_model_dir):
    rows = [{"text": f"value {i}", "y": i / 10} for i in range(30)]
    write_jsonl(tmp_path / "r.jsonl", rows)
    suite = write_suite(
        tmp_path / "s.yaml",
        {
            "tasks": [
                {
                    "name": "r",
                    "kind": "regression",
                    "text": "text",
                    "label": "y",
                    "splits": {"train": "r.jsonl"},
                }
            ]
        },
    )
    args = ["pvi", suite, "--model", tiny_model_dir, "--out", tmp_path / "o", "--folds", "2"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "regression" in err and "--bins" in err
    code, out, err = run_cli(monkeypatch, capsys, *args, "--bins", "3")
    assert code == 0, err


def test_train_auto_groups_compare_and_report(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    out_dir = tmp_path / "runs"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        keyword_suite,
        "--groups",
        "auto",
        "--method",
        "pvi",
        "--baselines",
        "all,random",
        "--seeds",
        "1,2",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--out",
        out_dir,
    )
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


# ---------------------------------------------------------------- failures are clean (issue 17)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@pytest.mark.parametrize(
    "args, first",
    [
        (["train", "SUITE", "--bogus"], "error: No such option: --bogus"),
        (["tasks"], "error: Missing argument"),
        (["trian"], "error: No such command 'trian'"),
        (["train", "SUITE", "--max-steps", "abc"], "error: Invalid value for '--max-steps'"),
        (
            ["train", "SUITE", "--max-steps", "0"],
            "error: --max-steps: Input should be greater than 0",
        ),
        (["train", "SUITE", "--seeds", ""], "error: --seeds '': give at least one seed"),
        (["train", "SUITE", "--seeds", "1,1"], "error: --seeds '1,1': seed 1 given more than once"),
        (["runs", "--out", "OUTFILE"], "error: no run store"),
    ],
    ids=[
        "unknown-option",
        "missing-argument",
        "unknown-command",
        "not-a-number",
        "flag-named",
        "empty-seeds",
        "repeated-seed",
        "store-missing",
    ],
)
def test_usage_errors_are_one_message_and_exit_2(
    args, first, monkeypatch, capsys, keyword_suite, tmp_path
):
    (tmp_path / "file").write_text("x")
    args = [
        str(keyword_suite) if a == "SUITE" else str(tmp_path / "file") if a == "OUTFILE" else a
        for a in args
    ]
    code, out, err = run_cli(
        monkeypatch, capsys, *args, *(["--out", tmp_path / "o"] if args[0] == "train" else [])
    )
    assert code == 2, out + err
    assert _first_line(err).startswith(first), err
    assert (
        "Traceback" not in out + err and len(err.strip().splitlines()) <= 2
    )  # the message and a hint


def test_taskmix_alone_prints_help(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys)
    assert code == 0 and "Usage" in out and "train" in out and "Traceback" not in out + err


def test_out_that_is_a_file_and_suite_that_is_a_folder(
    monkeypatch, capsys, keyword_suite, tmp_path
):
    (tmp_path / "taken").write_text("a file")
    code, _, err = run_cli(monkeypatch, capsys, "train", keyword_suite, "--out", tmp_path / "taken")
    assert code == 2 and _first_line(err).startswith(
        f"error: {tmp_path / 'taken'}: cannot make this folder"
    )
    assert "Traceback" not in err
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and _first_line(err) == f"error: {tmp_path}: is a folder, not a YAML file"
    # a data file that is a folder
    (tmp_path / "d").mkdir()
    suite = write_suite(
        tmp_path / "s.yaml",
        {
            "tasks": [
                {
                    "name": "a",
                    "splits": {"train": "d"},
                    "format": "jsonl",
                    "text": "text",
                    "label": "label",
                }
            ]
        },
    )
    code, _, err = run_cli(monkeypatch, capsys, "tasks", suite)
    assert (
        code == 2 and "is a folder, not a data file" in _first_line(err) and "Traceback" not in err
    )


def test_long_messages_are_not_broken_into_lines(monkeypatch, capsys, tmp_path):
    """stderr is not a terminal here: rich would wrap at 80 columns; a message naming a long path
    must stay one line (a log line, and what a test or grep looks for)."""
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 4) / "suite.yaml"
    code, _, err = run_cli(monkeypatch, capsys, "tasks", deep)
    assert code == 2 and _first_line(err) == f"error: {deep}: file not found"


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError
        time.sleep(0.2)


@pytest.mark.parametrize(
    "sig, code, label",
    [(signal.SIGINT, 130, "interrupted:"), (signal.SIGTERM, 143, "terminated (SIGTERM):")],
)
def test_interrupt_says_what_was_kept_and_exits_130(
    sig, code, label, keyword_suite, tiny_model_dir, tmp_path
):
    """A real `taskmix train` process, stopped while a run trains: the message says how many runs
    are kept, the exit code tells a shell it was interrupted, and no run is left held."""
    from taskmix.store import RunStore

    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # Ctrl-C as a terminal delivers it: a shell starts background jobs (`make test &`)
            # with SIGINT ignored, and the child would inherit that
            "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from taskmix.cli import main; main()",
            "train",
            str(keyword_suite),
            "--groups",
            "a;b",
            "--seeds",
            "1",
            "--model",
            str(tiny_model_dir),
            "--max-steps",
            "100000",
            "--batch-size",
            "4",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )

    def running() -> bool:
        if not (out / "taskmix.db").exists():
            return False
        with RunStore(out / "taskmix.db", readonly=True) as store:
            return any(r.status == "running" for r in store.runs())

    try:
        _wait_for(running)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # show where it is stuck (faulthandler, below)
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=60)
            raise AssertionError(f"no exit 120 s after the signal; where it was:\n{err}") from None
    finally:
        proc.kill()
    assert proc.returncode == code, err
    # progress lines start with [m:ss]; the suite's data also draws warnings
    lines = [line for line in err.splitlines() if not line.startswith(("[", "warning:"))]
    assert lines[0] == f"{label} 0 of 2 runs are finished and kept in {out / 'taskmix.db'}", err
    assert "Traceback" not in err
    with RunStore(out / "taskmix.db", readonly=True) as store:
        assert {r.status for r in store.runs()} == {"pending"}


def test_output_to_a_pipe_shows_progress_lines(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        keyword_suite,
        "--groups",
        "a",
        "--seeds",
        "1,2",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--out",
        tmp_path / "o",
    )
    assert code == 0, err
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert any(line.endswith("runs (local (in this process)): 2/2") for line in progress), err
    assert any("stl:a seed 2: 3/3" in line for line in progress), err


@pytest.mark.parametrize("command", ["runs", "compare", "report", "tasks", "help"])
def test_commands_that_read_import_neither_torch_nor_transformers(command, tmp_path, keyword_suite):
    """Reading a store or a suite starts fast: torch and transformers are not imported."""
    from conftest import stl_mtl_records
    from taskmix.store import RunStore

    with RunStore(tmp_path / "taskmix.db") as store:
        for r in stl_mtl_records():
            store.add(
                r.id,
                suite="s",
                setting=r.setting,
                kind=r.kind,
                tasks=r.tasks,
                seed=r.seed,
                config=r.config,
            )
            store.finish(r.id, r.metrics)
    args = {
        "runs": ["runs", "--out", tmp_path],
        "compare": ["compare", "--out", tmp_path],
        "report": ["report", "--out", tmp_path],
        "tasks": ["tasks", keyword_suite],
        "help": ["--help"],
    }[command]
    heavy = ("torch", "transformers")
    if command in ("runs", "compare", "help"):  # goals of ≤ 1 s: not even scipy or sklearn
        heavy += ("scipy", "sklearn")
    code = (
        "import sys; sys.argv = ['taskmix', *sys.argv[1:]]\n"
        "from taskmix.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        f"print('heavy:', sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "heavy: []"


def test_help_shows_the_defaults_the_config_gives(monkeypatch, capsys):
    # the help texts end with "[default: …]"; unescaped, rich takes that for markup and drops it
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that rich shows every help text
    code, stdout, _ = run_cli(monkeypatch, capsys, "train", "--help")
    assert code == 0 and stdout.count("[default:") >= 8
    code, stdout, _ = run_cli(monkeypatch, capsys, "advise", "--help")
    assert code == 0 and stdout.count("[default:") >= 5
    # and every help text that names its default escapes it (the mechanism, not two commands)
    import typer

    from taskmix.cli.commands import app

    root = typer.main.get_command(app)
    texts = [p.help or "" for c in root.commands.values() for p in c.params]
    assert texts and not [t for t in texts if "[default:" in t.replace("\\[default:", "")]


def test_help_texts_read_as_paragraphs_with_their_examples_indented(monkeypatch, capsys):
    # typer keeps a docstring's line breaks: at any width but the source's the text was ragged,
    # and an example block after a one-line paragraph lost its indentation
    import typer

    from taskmix.cli.commands import app

    monkeypatch.setenv("COLUMNS", "300")
    for name, command in typer.main.get_command(app).commands.items():
        code, stdout, _ = run_cli(monkeypatch, capsys, name, "--help")
        assert code == 0
        lines = stdout.splitlines()
        first = command.help.split("\n\n")[0]
        assert "\n" not in first, name
        (prose,) = [line for line in lines if line.strip() == first]
        margin = len(prose) - len(prose.lstrip())
        examples = [line.strip() for line in command.help.splitlines()]
        for example in [e for e in examples if e.startswith("taskmix ")]:
            (shown,) = [line for line in lines if line.strip() == example]
            assert len(shown) - len(shown.lstrip()) == margin + 4, (name, example)
