"""Every loader and task kind, split making, and every kind of bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from conftest import keyword_rows, write_jsonl, write_suite
from taskmix.data.suite import Suite
from taskmix.errors import ConfigError, DataError


def one_task_suite(tmp_path, task: dict, **suite_keys):
    return write_suite(tmp_path / "suite.yaml", {"name": "s", **suite_keys, "tasks": [task]})


def test_jsonl_single_and_pair_with_made_splits(keyword_suite):
    suite = Suite.from_yaml(keyword_suite)
    a, b = suite["a"], suite["b"]
    assert (len(a.splits["train"]), len(a.splits["dev"]), len(a.splits["test"])) == (60, 20, 20)
    assert a.label_names == ["neg", "pos"] and not a.is_pair
    assert b.is_pair and len(b.splits["train"].texts[0]) == 2
    # dev and test of b were made from its 80 training rows: stratified, recorded, disjoint
    sizes = {s: len(b.splits[s]) for s in ("train", "dev", "test")}
    assert sum(sizes.values()) == 80 and sizes["test"] == 12 and sizes["dev"] == 12
    assert "stratified" in b.split_info["dev"] and "stratified" in b.split_info["test"]
    ids = [set(b.splits[s].ids) for s in ("train", "dev", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    for s in ("dev", "test"):  # both classes kept in each made split, in the same proportion
        assert abs(b.splits[s].labels.mean() - 0.5) < 0.1


def test_made_splits_are_seeded(keyword_suite):
    s1, s2 = Suite.from_yaml(keyword_suite), Suite.from_yaml(keyword_suite)
    assert s1["b"].splits["dev"].ids == s2["b"].splits["dev"].ids
    assert s1.fingerprint() == s2.fingerprint()


def test_csv_tsv_headerless_and_parquet(tmp_path):
    rows = keyword_rows(40)
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "t.tsv").write_text("".join(f"src\t{r['label']}\t*\t{r['text']}\n" for r in rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "t.parquet")
    suite = write_suite(
        tmp_path / "suite.yaml",
        {
            "tasks": [
                {"name": "c", "splits": {"train": "t.csv"}, "text": "text", "label": "label"},
                {
                    "name": "t",
                    "format": "tsv",
                    "splits": {"train": "t.tsv"},
                    "columns": ["source", "label", "mark", "sentence"],
                    "text": "sentence",
                    "label": "label",
                },
                {
                    "name": "p",
                    "splits": {"train": "t.parquet"},
                    "text": "text",
                    "label": "label",
                    "limit": 20,
                },
            ]
        },
    )
    s = Suite.from_yaml(suite)
    c = s["c"]
    got = sorted(t for x in ("train", "dev", "test") for (t,) in c.splits[x].texts)
    assert got == sorted(r["text"] for r in rows)
    total = sum(len(s["t"].splits[x]) for x in ("train", "dev", "test"))
    assert total == 40
    assert len(s["p"].splits["train"]) == 20 and "first 20" in s["p"].split_info["train"]


def test_hf_disk(tmp_path):
    import datasets

    rows = keyword_rows(30)
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows),
            "validation": datasets.Dataset.from_list(rows[:10]),
        }
    ).save_to_disk(str(tmp_path / "ds"))
    suite = one_task_suite(
        tmp_path,
        {
            "name": "h",
            "format": "hf_disk",
            "text": "text",
            "label": "label",
            "splits": {
                "train": {"path": "ds", "split": "train"},
                "dev": {"path": "ds", "split": "validation"},
            },
        },
    )
    t = Suite.from_yaml(suite)["h"]
    assert len(t.splits["dev"]) == 10 and len(t.splits["train"]) + len(t.splits["test"]) == 30
    bad = one_task_suite(
        tmp_path,
        {
            "name": "h",
            "format": "hf_disk",
            "text": "text",
            "label": "label",
            "splits": {"train": "ds"},
        },
    )
    with pytest.raises(DataError, match="say which one"):
        Suite.from_yaml(bad)


def test_multiple_choice_and_regression(tmp_path):
    mc = [
        {
            "premise": f"The man fell {i}.",
            "question": "cause",
            "c1": "He slipped.",
            "c2": "He sang.",
            "label": i % 2,
        }
        for i in range(20)
    ]
    write_jsonl(tmp_path / "copa.jsonl", mc)
    reg = [{"s1": f"a cat {i}", "s2": "a dog", "score": i / 4} for i in range(20)]
    write_jsonl(tmp_path / "sts.jsonl", reg)
    suite = write_suite(
        tmp_path / "suite.yaml",
        {
            "tasks": [
                {
                    "name": "copa",
                    "kind": "multiple_choice",
                    "splits": {"train": "copa.jsonl"},
                    "text": ["premise", "question"],
                    "choices": ["c1", "c2"],
                    "label": "label",
                },
                {
                    "name": "sts",
                    "kind": "regression",
                    "splits": {"train": "sts.jsonl"},
                    "text": ["s1", "s2"],
                    "label": "score",
                },
            ]
        },
    )
    s = Suite.from_yaml(suite)
    copa = s["copa"]
    assert copa.n_choices == 2 and copa.num_labels == 1
    seqs = copa.splits["train"].sequences(0)
    assert (
        len(seqs) == 2
        and seqs[0][0].endswith("cause")
        and seqs[1][1] in ("He slipped.", "He sang.")
    )
    sts = s["sts"]
    assert sts.splits["train"].labels.dtype == np.float32 and sts.main_metric == "pearson"
    assert "stratified" not in sts.split_info["dev"]


def test_label_map_and_bool_labels(tmp_path):
    rows = [{"q": f"question {i}", "label": bool(i % 2)} for i in range(20)]
    write_jsonl(tmp_path / "t.jsonl", rows)
    suite = one_task_suite(
        tmp_path,
        {
            "name": "b",
            "splits": {"train": "t.jsonl"},
            "text": "q",
            "label": "label",
            "labels": {True: "yes", False: "no"},
        },
    )
    t = Suite.from_yaml(suite)["b"]
    assert t.label_names == ["yes", "no"]
    assert set(t.splits["train"].labels.tolist()) == {0, 1}


def test_sample_is_seeded(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", keyword_rows(100))
    suite = one_task_suite(
        tmp_path,
        {
            "name": "a",
            "splits": {"train": "t.jsonl"},
            "text": "text",
            "label": "label",
            "sample": 30,
        },
    )
    a, b = Suite.from_yaml(suite)["a"], Suite.from_yaml(suite)["a"]
    assert len(a.splits["train"]) == 30 and a.splits["train"].ids == b.splits["train"].ids


def test_demo_suite_spec(tmp_path):
    s = Suite.from_yaml(write_suite(tmp_path / "s.yaml", {"suite": "demo"}))
    assert s.name == "demo" and "negation_site_a" in s and s.groups


@pytest.mark.parametrize(
    "task, other, own",
    [("negation_site_b", "NEG_A", "NEG_B"), ("uncertainty_site_b", "HEDGE_A", "HEDGE_B")],
)
def test_demo_site_b_is_held_out_in_site_a_phrasing_it_hardly_trained_on(task, other, own):
    """The planted relation: site B's dev and test notes are phrased only the site A way —
    positives with site A's cues, negatives with its affirmed templates — of each of which its
    training data holds one: what training with site A can teach it."""
    from taskmix.data import synthetic

    t = Suite.load("demo")[task]
    finding = "(?:" + "|".join(map(re.escape, synthetic.FINDINGS)) + ")"

    def cues(split: str, label: int, templates: str) -> set[str]:
        """The templates that phrase some example of ``split`` with ``label`` (the whole
        template matched)."""
        sp = t.splits[split]
        texts = [x.lower() for (x,), y in zip(sp.texts, sp.labels, strict=True) if y == label]
        found = getattr(synthetic, templates)
        pattern = {c: r"(?<!\w)" + re.escape(c).replace(r"\{f\}", finding) for c in found}
        return {c for c, p in pattern.items() if any(re.search(p, x) for x in texts)}

    for label, a, b in ((1, other, own), (0, "POS_A", "POS_B")):
        first = getattr(synthetic, a)[0]
        for split in ("dev", "test"):
            assert len(cues(split, label, a)) >= 3 and not cues(split, label, b)
        # training holds site B's own phrasing and one of site A's (labels are noisy: any class)
        assert len(cues("train", label, b)) >= 3
        assert cues("train", 0, a) | cues("train", 1, a) == {first}


# ---------------------------------------------------------------- bad input


def _bad(
    tmp_path, task_overrides: dict | None = None, rows=None, files=None, exc=DataError, match=""
):
    if rows is not None:
        write_jsonl(tmp_path / "t.jsonl", rows)
    for name, text in (files or {}).items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    task = {
        "name": "a",
        "splits": {"train": "t.jsonl"},
        "text": "text",
        "label": "label",
        **(task_overrides or {}),
    }
    with pytest.raises(exc, match=match) as info:
        Suite.from_yaml(one_task_suite(tmp_path, task))
    return str(info.value)


def test_missing_file(tmp_path):
    msg = _bad(tmp_path, {"splits": {"train": "nope.jsonl"}}, match="file not found")
    assert "nope.jsonl" in msg


def test_unknown_format(tmp_path):
    (tmp_path / "t.xml").write_text("<a/>")
    _bad(tmp_path, {"splits": {"train": "t.xml"}}, exc=ConfigError, match="cannot tell the format")
    _bad(tmp_path, {"format": "xml"}, rows=keyword_rows(10), exc=ConfigError, match="format")


def test_missing_column(tmp_path):
    msg = _bad(tmp_path, {"text": "sentence"}, rows=keyword_rows(10), match="column 'sentence'")
    assert "columns found: text, label" in msg


def test_empty_text(tmp_path):
    rows = keyword_rows(10)
    rows[3]["text"] = "   "
    _bad(tmp_path, rows=rows, match=r"line 4: column 'text' is empty")


def test_non_string_text(tmp_path):
    rows = keyword_rows(10)
    rows[5]["text"] = 42
    _bad(tmp_path, rows=rows, match=r"line 6: column 'text' holds int")


def test_missing_label(tmp_path):
    rows = keyword_rows(10)
    rows[2]["label"] = None
    _bad(tmp_path, rows=rows, match=r"line 3: label column 'label' is missing")


def test_list_label(tmp_path):
    rows = keyword_rows(10)
    rows[1]["label"] = ["pos", "neg"]
    _bad(tmp_path, rows=rows, match=r"line 2: label .* is a list")


def test_unseen_dev_label(tmp_path):
    write_jsonl(tmp_path / "dev.jsonl", [{"text": "x y", "label": "maybe"}])
    _bad(
        tmp_path,
        {"splits": {"train": "t.jsonl", "dev": "dev.jsonl"}},
        rows=keyword_rows(10),
        match=r"dev.jsonl: line 1: label 'maybe' does not occur in the training data",
    )


def test_single_class(tmp_path):
    rows = [dict(r, label="pos") for r in keyword_rows(10)]
    _bad(tmp_path, rows=rows, match="single class")


def test_broken_jsonl_line(tmp_path):
    _bad(
        tmp_path,
        files={"t.jsonl": '{"text": "a", "label": 1}\n{"text": oops}\n'},
        match=r"line 2, column \d+: not valid JSON",
    )


def test_wrong_encoding(tmp_path):
    _bad(
        tmp_path,
        files={"t.jsonl": '{"text": "caf\xe9", "label": 1}\n'.encode("latin-1")},
        match="not UTF-8",
    )


def test_empty_file(tmp_path):
    _bad(tmp_path, files={"t.jsonl": ""}, match="empty")


def test_label_not_in_map(tmp_path):
    _bad(
        tmp_path,
        {"labels": {"pos": "positive"}},
        rows=keyword_rows(10),
        match="not in the task's 'labels'",
    )


def test_regression_non_number(tmp_path):
    rows = [{"text": f"t {i}", "label": str(i)} for i in range(10)]
    rows[4]["label"] = "high"
    _bad(tmp_path, {"kind": "regression"}, rows=rows, match=r"line 5: label 'high' is not a number")


def test_choice_index_out_of_range(tmp_path):
    rows = [{"text": "p", "c1": "a", "c2": "b", "label": 0 if i else 5} for i in range(10)]
    _bad(
        tmp_path,
        {"kind": "multiple_choice", "choices": ["c1", "c2"]},
        rows=rows,
        match="not a choice index",
    )


def test_duplicate_task_names(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", keyword_rows(10))
    task = {"name": "a", "splits": {"train": "t.jsonl"}, "text": "text", "label": "label"}
    path = write_suite(tmp_path / "suite.yaml", {"tasks": [task, task]})
    with pytest.raises(ConfigError, match="'a' is used twice"):
        Suite.from_yaml(path)


def test_unknown_key_names_line(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: s\ntasks:\n  - name: a\n    splits: {train: t.jsonl}\n    text: text\n"
        "    label: label\n    lable_map: {}\n"
    )
    with pytest.raises(ConfigError) as info:
        Suite.from_yaml(path)
    msg = str(info.value)
    assert (
        "line 7" in msg
        and "unknown key 'lable_map'" in msg
        and "allowed:" in msg
        and "labels" in msg
    )


def test_unreadable_yaml_names_line(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("name: s\ntasks:\n  - name: a\n   splits: [\n")
    with pytest.raises(ConfigError, match=r"suite.yaml: line \d+, column \d+: unreadable YAML"):
        Suite.from_yaml(path)


def test_suite_file_missing_or_not_mapping(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        Suite.from_yaml(tmp_path / "none.yaml")
    (tmp_path / "l.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        Suite.from_yaml(tmp_path / "l.yaml")


def test_wrong_type_names_key(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(
        "tasks:\n  - name: a\n    splits: {train: t.jsonl}\n    text: text\n    label: label\n    "
        "limit: lots\n"
    )
    with pytest.raises(ConfigError, match=r"line 6: tasks.0.limit"):
        Suite.from_yaml(path)


# ---------------------------------------------------------------- leaks, caps and clear messages
# (issue 17)


def _task(tmp_path, files: dict[str, str | bytes], task: dict, **suite_keys):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return one_task_suite(
        tmp_path, {"name": "t", "text": "text", "label": "label", **task}, **suite_keys
    )


def test_a_split_given_as_the_train_file_is_refused(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", keyword_rows(30))
    (tmp_path / "copy.jsonl").write_bytes((tmp_path / "train.jsonl").read_bytes())
    same = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl", "dev": "train.jsonl"},
        },
    )
    with pytest.raises(DataError, match="its dev file is its train file"):
        Suite.from_yaml(same)
    copy = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl", "test": "copy.jsonl"},
        },
    )
    with pytest.raises(DataError, match="its test file is its train file .*copy.jsonl"):
        Suite.from_yaml(copy)


def test_dev_rows_found_in_train_are_counted_and_warned(tmp_path, caplog):
    rows = [{"text": f"sentence number {i}", "label": ["a", "b"][i % 2]} for i in range(30)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "dev.jsonl", rows[:2] + [{"text": "a new one", "label": "a"}])
    suite = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl", "dev": "dev.jsonl"},
        },
    )
    with caplog.at_level("WARNING"):
        task = Suite.from_yaml(suite)["t"]
    assert task.overlap == {"dev": 2}
    assert "2 of 3 dev examples" in caplog.text and "same text as a training example" in caplog.text
    assert task.describe()["also in train"] == "dev 2"
    clean = [{"text": f"unseen {i}", "label": "a"} for i in range(3)]
    write_jsonl(tmp_path / "dev.jsonl", clean)
    assert Suite.from_yaml(suite)["t"].overlap == {}


def test_csv_errors_name_the_real_line(tmp_path):
    # a quoted text spanning two lines: the bad row is on line 5 of the file, the 3rd record
    text = 'text,label\n"first, and\nstill first",pos\nsecond,neg\nthird,\n'
    suite = _task(tmp_path, {"d.csv": text}, {"splits": {"train": "d.csv"}})
    with pytest.raises(DataError, match=r"d.csv: line 5: label column 'label' is missing"):
        Suite.from_yaml(suite)
    bad = "text,label\nfine,pos\ntoo,many,fields\n"
    suite = _task(tmp_path, {"d.csv": bad}, {"splits": {"train": "d.csv"}})
    with pytest.raises(DataError, match=r"line 3: 3 fields, but the header has 2"):
        Suite.from_yaml(suite)


def test_latin1_file_names_the_line(tmp_path):
    data = (
        b'{"text": "ok", "label": "pos"}\n{"text": "ok", "label": "neg"}\n'
        b'{"text": "caf\xe9", "label": "pos"}\n'
    )
    suite = _task(tmp_path, {"d.jsonl": data}, {"splits": {"train": "d.jsonl"}})
    with pytest.raises(DataError, match=r"d.jsonl: line 3, column 14: not UTF-8"):
        Suite.from_yaml(suite)
    suite = _task(
        tmp_path, {"d.csv": b"text,label\nok,pos\ncaf\xe9,neg\n"}, {"splits": {"train": "d.csv"}}
    )
    with pytest.raises(DataError, match=r"d.csv: line 3, column 4: not UTF-8"):
        Suite.from_yaml(suite)


def test_columns_that_do_not_fit_the_file(tmp_path):
    rows = "".join(f"sentence {i}\t{'ab'[i % 2]}\n" for i in range(40))
    suite = _task(
        tmp_path,
        {"d.tsv": rows},
        {"splits": {"train": "d.tsv"}, "columns": ["label"], "text": "label"},
    )
    with pytest.raises(DataError, match=r"d.tsv: line 1: 2 fields, but 'columns' names 1"):
        Suite.from_yaml(suite)
    # a headerless file read with a header: the hint names 'header: false'
    suite = _task(tmp_path, {"d.tsv": rows}, {"splits": {"train": "d.tsv"}})
    with pytest.raises(DataError) as info:
        Suite.from_yaml(suite)
    assert (
        "read as the column names (sentence 0, a)" in info.value.hint
        and "header: false" in info.value.hint
    )


def test_nan_label_is_missing_and_fractional_labels_hint_regression(tmp_path, caplog):
    rows = (
        "text,label\n" + "".join(f"s{i},{['pos', 'neg'][i % 2]}\n" for i in range(10)) + "s10,NaN\n"
    )
    suite = _task(tmp_path, {"d.csv": rows}, {"splits": {"train": "d.csv"}})
    with pytest.raises(DataError, match=r"line 12: label column 'label' is missing \('NaN'\)"):
        Suite.from_yaml(suite)
    scores = "text,label\n" + "".join(f"s{i},{[0.5, 1.5, 2.25][i % 3]}\n" for i in range(30))
    suite = _task(tmp_path, {"d.csv": scores}, {"splits": {"train": "d.csv"}})
    with caplog.at_level("WARNING"):
        task = Suite.from_yaml(suite)["t"]
    assert task.label_names == ["0.5", "1.5", "2.25"]
    assert "read as 3 classes" in caplog.text and "kind: regression" in caplog.text


def test_made_split_sizes_as_counts_and_caps_per_split(tmp_path, caplog):
    rows = [{"text": f"sentence {i}", "label": ["a", "b"][i % 2]} for i in range(200)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(
        tmp_path / "test.jsonl", [{"text": f"test {i}", "label": "ab"[i % 2]} for i in range(50)]
    )
    suite = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl"},
            "dev_size": 20,
            "test_size": 0.1,
        },
    )
    t = Suite.from_yaml(suite)["t"]
    assert (len(t.splits["dev"]), len(t.splits["test"]), len(t.splits["train"])) == (20, 20, 160)
    suite = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl", "test": "test.jsonl"},
            "limit": {"train": 40, "test": 10},
            "sample": {"dev": 6},
        },
    )
    t = Suite.from_yaml(suite)["t"]
    assert (len(t.splits["train"]), len(t.splits["dev"]), len(t.splits["test"])) == (40, 6, 10)
    assert t.splits["test"].texts[:2] == [("test 0",), ("test 1",)]  # limit: the first rows
    assert "first 40 of" in t.split_info["train"] and "sample of 6 of 30" in t.split_info["dev"]
    # a made dev larger than what trains is said
    suite = one_task_suite(
        tmp_path,
        {
            "name": "t",
            "text": "text",
            "label": "label",
            "splits": {"train": "train.jsonl"},
            "sample": 20,
        },
    )
    with caplog.at_level("WARNING"):
        Suite.from_yaml(suite)
    assert "larger than what trains" in caplog.text and "dev_size" in caplog.text


def test_split_size_and_cap_mistakes(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", keyword_rows(20))
    for keys, expect in [
        ({"dev_size": 0.6}, "fraction between 0 and 0.5"),
        ({"dev_size": 2.5}, "number of examples"),
        ({"limit": {"train": 5}, "sample": {"train": 5}}, "'limit' or 'sample' for train"),
        ({"limit": {"valid": 5}}, "limit"),
    ]:
        suite = one_task_suite(
            tmp_path,
            {
                "name": "t",
                "text": "text",
                "label": "label",
                "splits": {"train": "train.jsonl"},
                **keys,
            },
        )
        with pytest.raises(ConfigError, match=expect):
            Suite.from_yaml(suite)
