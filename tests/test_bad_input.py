"""Bad input, through the command line as a user meets it: every case exits with code 2, prints one
message naming the file (and line / row / column where there is one) and what to do, shows no
traceback, and leaves the output folder and its run store exactly as they were."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import keyword_rows, run_cli, write_jsonl, write_suite
from taskmix.store import RunStore

GOOD_TASK = {"name": "a", "text": "text", "label": "label", "splits": {"train": "a.jsonl"}}


def suite_with(
    tmp: Path, task: dict | None = None, rows=None, extra: dict | None = None, tasks=None
) -> Path:
    """A suite file with one task (``task`` overrides keys of a good one) and its data."""
    if rows is not None:
        write_jsonl(tmp / "a.jsonl", rows) if isinstance(rows, list) else (
            tmp / "a.jsonl"
        ).write_bytes(rows)
    else:
        write_jsonl(tmp / "a.jsonl", keyword_rows(40))
    config = {
        "name": "s",
        "tasks": tasks if tasks is not None else [{**GOOD_TASK, **(task or {})}],
        **(extra or {}),
    }
    return write_suite(tmp / "suite.yaml", config)


def raw_suite(tmp: Path, text: str | bytes) -> Path:
    write_jsonl(tmp / "a.jsonl", keyword_rows(40))
    p = tmp / "suite.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def rows_with(i: int, **change) -> list[dict]:
    rows = keyword_rows(40)
    rows[i] = {**rows[i], **change}
    return rows


def pair_matrix(tmp: Path, rows: list[dict], name="m.csv") -> Path:
    import pandas as pd

    p = tmp / name
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


MATRIX_ROW = {"target": "a", "source": "b", "setting": "probe", "pc": 0.1, "pm": 1.0, "score": 0.1}


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


# (case id, build(tmp) -> CLI args after the command, substrings the message must hold)
SUITE_CASES = [
    ("yaml-unclosed-bracket", lambda t: raw_suite(t, "name: s\ntasks: [\n  {name: a\n"), ["line"]),
    ("yaml-tab-indent", lambda t: raw_suite(t, "name: s\ntasks:\n\t- name: a\n"), ["line"]),
    ("yaml-not-a-mapping", lambda t: raw_suite(t, "- a\n- b\n"), ["mapping"]),
    ("yaml-empty", lambda t: raw_suite(t, ""), ["suite.yaml"]),
    ("yaml-binary", lambda t: raw_suite(t, b"\xff\xfe\x00name"), ["suite.yaml"]),
    ("unknown-top-key", lambda t: suite_with(t, extra={"taks": []}), ["taks", "line"]),
    ("unknown-task-key", lambda t: suite_with(t, {"lable": "label"}), ["lable", "line"]),
    ("wrong-type-seed", lambda t: suite_with(t, extra={"seed": "abc"}), ["seed", "line"]),
    (
        "wrong-type-dev-size",
        lambda t: suite_with(t, extra={"dev_size": 0.7}),
        ["dev_size", "fraction"],
    ),
    (
        "dev-size-not-whole",
        lambda t: suite_with(t, extra={"dev_size": 12.5}),
        ["dev_size", "number of examples"],
    ),
    ("wrong-type-text", lambda t: suite_with(t, {"text": 5}), ["text"]),
    ("no-tasks", lambda t: suite_with(t, tasks=[]), ["task"]),
    ("bad-task-name", lambda t: suite_with(t, {"name": "a/b"}), ["name"]),
    ("suite-name-escapes", lambda t: suite_with(t, extra={"name": "../../etc"}), ["name"]),
    ("duplicate-task-names", lambda t: suite_with(t, tasks=[GOOD_TASK, GOOD_TASK]), ["a"]),
    (
        "missing-data-file",
        lambda t: suite_with(t, {"splits": {"train": "nope.jsonl"}}),
        ["nope.jsonl"],
    ),
    ("unknown-format", lambda t: suite_with(t, {"format": "xlsx"}), ["format", "jsonl", "line"]),
    (
        "broken-jsonl-line",
        lambda t: suite_with(t, rows=b'{"text": "x", "label": "pos"}\n{"text": oops}\n'),
        ["a.jsonl", "line 2"],
    ),
    (
        "jsonl-line-not-object",
        lambda t: suite_with(t, rows=b'{"text": "x", "label": "pos"}\n[1, 2]\n'),
        ["a.jsonl", "line 2"],
    ),
    (
        "wrong-encoding",
        lambda t: suite_with(t, rows='{"text": "caf\u00e9", "label": "pos"}\n'.encode("latin-1")),
        ["a.jsonl", "UTF-8"],
    ),
    ("empty-data-file", lambda t: suite_with(t, rows=b""), ["a.jsonl", "empty"]),
    ("blank-lines-only", lambda t: suite_with(t, rows=b"\n\n\n"), ["a.jsonl"]),
    (
        "huge-single-line",
        lambda t: suite_with(t, rows=b'{"text": "' + b"x" * 12_000_000 + b'", "label": "pos"}\n'),
        ["a.jsonl", "line 1"],
    ),
    (
        "label-is-list",
        lambda t: suite_with(t, rows=rows_with(3, label=["pos", "neg"])),
        ["a.jsonl", "line 4", "list"],
    ),
    (
        "label-is-null",
        lambda t: suite_with(t, rows=rows_with(5, label=None)),
        ["a.jsonl", "line 6"],
    ),
    ("label-missing", lambda t: suite_with(t, rows=[{"text": "x"}] * 4), ["label"]),
    ("text-missing-column", lambda t: suite_with(t, {"text": "body"}), ["body"]),
    ("text-is-number", lambda t: suite_with(t, rows=rows_with(2, text=7)), ["line 3", "text"]),
    ("text-is-empty", lambda t: suite_with(t, rows=rows_with(2, text="")), ["line 3", "text"]),
    ("one-example", lambda t: suite_with(t, rows=keyword_rows(1)), ["a.jsonl"]),
    (
        "one-class",
        lambda t: suite_with(t, rows=[{"text": f"t{i}", "label": "pos"} for i in range(20)]),
        ["a.jsonl", "single class"],
    ),
    (
        "unseen-dev-label",
        lambda t: (
            write_jsonl(t / "d.jsonl", [{"text": "x", "label": "meh"}]),
            suite_with(t, {"splits": {"train": "a.jsonl", "dev": "d.jsonl"}}),
        )[1],
        ["d.jsonl", "meh"],
    ),
    ("label-not-in-map", lambda t: suite_with(t, {"labels": ["pos"]}), ["neg"]),
    ("regression-not-number", lambda t: suite_with(t, {"kind": "regression"}), ["line", "number"]),
]


@pytest.fixture
def out_with_store(tmp_path):
    """An output folder with a run store holding one finished run, and a snapshot of it."""
    out = tmp_path / "out"
    with RunStore(out / "taskmix.db") as store:
        store.add("r", suite="s", setting="stl:a", kind="stl", tasks=["a"], seed=1, config={})
        store.finish("r", {"test": {"a": {"accuracy": 0.5}}})
    (out / "r").mkdir()
    (out / "r" / "metrics.json").write_text("{}")
    return out


def snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_refused(monkeypatch, capsys, out: Path, args: list, expect: list[str]) -> str:
    before = snapshot(out)
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    text = stdout + err
    assert code == 2, text[-2000:]
    assert "Traceback" not in text
    for word in expect:
        assert word.lower() in text.lower(), f"{word!r} not in: {text[-1500:]}"
    assert snapshot(out) == before, "the output folder changed"
    return text


@pytest.mark.parametrize("case", SUITE_CASES, ids=[c[0] for c in SUITE_CASES])
def test_bad_suites_are_refused_clearly(
    case, tmp_path, out_with_store, tiny_model_dir, monkeypatch, capsys
):
    _, build, expect = case
    suite = build(tmp_path)
    check_refused(
        monkeypatch,
        capsys,
        out_with_store,
        ["train", suite, "--out", out_with_store, "--model", tiny_model_dir, "--max-steps", "1"],
        expect,
    )


def _good(t: Path) -> Path:
    write_jsonl(t / "b.jsonl", keyword_rows(40, 5))
    return suite_with(
        t, tasks=[GOOD_TASK, {**GOOD_TASK, "name": "b", "splits": {"train": "b.jsonl"}}]
    )


# options and other files, with a good suite
OPTION_CASES = [
    ("seeds-not-numbers", lambda t, o: ["train", _good(t), "--seeds", "a,b"], ["--seeds"]),
    ("groups-unknown-task", lambda t, o: ["train", _good(t), "--groups", "a,zzz"], ["zzz"]),
    ("groups-task-twice", lambda t, o: ["train", _good(t), "--groups", "a,a"], ["a"]),
    ("unknown-executor", lambda t, o: ["train", _good(t), "--executor", "cloud"], ["executor"]),
    (
        "zero-workers",
        lambda t, o: ["train", _good(t), "--executor", "process", "--workers", "0"],
        ["workers"],
    ),
    (
        "negative-steps",
        lambda t, o: ["train", _good(t), "--max-steps", "-3"],
        ["--max-steps", "greater than 0"],
    ),
    ("unknown-sampler", lambda t, o: ["train", _good(t), "--sampler", "roundrobin"], ["sampler"]),
    (
        "run-config-unknown-key",
        lambda t, o: ["train", _good(t), "--config", write_suite(t / "run.yaml", {"trian": {}})],
        ["trian", "line"],
    ),
    (
        "run-config-wrong-type",
        lambda t, o: [
            "train",
            _good(t),
            "--config",
            write_suite(t / "run.yaml", {"train": {"lr": "fast"}}),
        ],
        ["lr", "line"],
    ),
    (
        "run-config-missing",
        lambda t, o: ["train", _good(t), "--config", t / "nope.yaml"],
        ["nope.yaml"],
    ),
    ("suite-file-missing", lambda t, o: ["train", t / "missing.yaml"], ["missing.yaml"]),
    ("transfer-unknown-target", lambda t, o: ["transfer", _good(t), "--targets", "zzz"], ["zzz"]),
    ("search-unknown-target", lambda t, o: ["search", _good(t), "--target", "zzz"], ["zzz"]),
    (
        "search-zero-budget",
        lambda t, o: ["search", _good(t), "--target", "a", "--budget", "0"],
        ["budget"],
    ),
    (
        "matrix-missing-target",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            pair_matrix(t, [{**MATRIX_ROW, "target": "x", "source": "zzz"}]),
        ],
        ["m.csv", "zzz", "none of its tasks"],
    ),
    (
        "matrix-nan-score",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            pair_matrix(t, [{**MATRIX_ROW, "pc": "nan", "score": "nan"}]),
        ],
        ["m.csv", "row"],
    ),
    (
        "matrix-missing-columns",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            pair_matrix(t, [{"target": "a", "source": "b"}]),
        ],
        ["m.csv", "column"],
    ),
    (
        "matrix-unknown-suffix",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            pair_matrix(t, [MATRIX_ROW], name="m.xls"),
        ],
        ["m.xls"],
    ),
    (
        "matrix-pickle-with-code",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            _pickle(t / "m.pkl", [{**MATRIX_ROW, "x": Evil()}]),
        ],
        ["m.pkl", "builtins.print", "csv"],
    ),
    (
        "matrix-not-a-pickle",
        lambda t, o: [
            "select",
            "--sources",
            _good(t),
            "--target",
            "a",
            "--matrix",
            _bytes(t / "m.pkl", b"not a pickle"),
        ],
        ["m.pkl"],
    ),
    (
        "store-not-a-database",
        lambda t, o: ["runs", "--out", _bytes(t / "o2" / "taskmix.db", b"junk" * 100).parent],
        ["taskmix.db"],
    ),
    ("compare-without-store", lambda t, o: ["compare", "--out", t / "empty"], ["empty"]),
]


def _pickle(path: Path, obj) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_options_and_files_are_refused_clearly(
    case, tmp_path, out_with_store, tiny_model_dir, monkeypatch, capsys
):
    _, build, expect = case
    args = [str(a) for a in build(tmp_path, out_with_store)]
    if args[0] in ("train", "transfer", "search"):
        args += ["--out", str(out_with_store), "--model", str(tiny_model_dir)]
    text = check_refused(monkeypatch, capsys, out_with_store, args, expect)
    assert "this must never run" not in text


def test_plain_data_pickles_load(tmp_path):
    """The restricted unpickler admits plain data and numpy arrays (what published tables hold)."""
    from taskmix.safeload import safe_unpickle

    obj = {
        "scores": np.arange(6.0).reshape(2, 3),
        "names": ["a", "b"],
        "n": 3,
        "x": np.float32(1.5),
    }
    got = safe_unpickle(_pickle(tmp_path / "ok.pkl", obj))
    assert (
        np.array_equal(got["scores"], obj["scores"])
        and got["names"] == ["a", "b"]
        and got["x"] == 1.5
    )


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_any_yaml_value_is_a_clear_error_or_a_suite(tmp_path, value):
    """Whatever a suite file holds, loading it gives a suite or a TaskmixError, never a crash."""
    from taskmix.data.suite import Suite
    from taskmix.errors import TaskmixError

    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(value))  # JSON is YAML
    try:
        Suite.load(path)
    except TaskmixError as e:
        assert "fuzz.yaml" in str(e)  # names the file
