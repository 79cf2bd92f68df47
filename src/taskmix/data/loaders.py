"""Reading a task's files (or data frames) into the fields of a :class:`~taskmix.data.task.Task`.

Every problem is reported as a :class:`DataError` naming the file, the row (or line) and the
column, and what to do about it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taskmix.config import HFSplit, TaskConfig, _raw_key
from taskmix.data.answers import answer_text
from taskmix.data.split import SPLITS, TaskSplit
from taskmix.errors import DataError

log = logging.getLogger(__name__)

_LINE = "__line__"  # column holding the file line (or row) number of each record


def read_split(config: TaskConfig, split: str, base_dir: Path) -> tuple[pd.DataFrame, str]:
    """Read one split's records; returns (frame, human-readable source)."""
    spec = config.splits[split]
    if isinstance(spec, HFSplit) or config.format in ("hf_disk", "hf_hub"):
        return _read_hf(config, spec, base_dir)
    path = Path(spec)
    if not path.is_absolute():
        path = base_dir / path
    fmt = config.resolved_format(str(path))
    if not path.exists():
        raise DataError(
            f"task {config.name!r}, split {split!r}: file not found: {path}",
            hint="paths in a suite file are relative to the suite file's folder",
        )
    if path.is_dir():
        raise DataError(
            f"task {config.name!r}, split {split!r}: {path} is a folder, not a data file",
            hint="name the file itself (a folder is read only with format: hf_disk)",
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty", hint="give a file with at least one record")
    reader = {
        "jsonl": _read_jsonl,
        "csv": _read_delimited,
        "tsv": _read_delimited,
        "parquet": _read_parquet,
    }.get(fmt)
    if reader is None:  # pragma: no cover - pydantic restricts the formats
        raise DataError(f"{path}: unknown format {fmt!r}")
    frame = reader(path, config, fmt)
    if len(frame) == 0:
        raise DataError(f"{path}: no records found", hint="the file has a header but no rows")
    return frame, str(path)


MAX_LINE_CHARS = 1_000_000  # one example longer than this is a mistake, not a text


def _read_text(path: Path) -> str:
    """The file as text (UTF-8, a byte-order mark dropped); a decoding error names the line."""
    data = path.read_bytes()
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{path}: line {line}, column {column}: not UTF-8 text (byte 0x{data[e.start]:02x}: "
            f"{e.reason})",
            hint="convert the file to UTF-8, e.g. `iconv -f latin1 -t utf-8 in > out`",
        ) from None


def _read_jsonl(path: Path, config: TaskConfig, fmt: str) -> pd.DataFrame:
    rows = []
    for lineno, line in enumerate(_read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{path}: line {lineno} is {len(line):,} characters long (at most "
                f"{MAX_LINE_CHARS:,})",
                hint="one line holds one example; was a whole file "
                "written on one line, or a document not cut?",
            )
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}: line {lineno}, column {e.colno}: not valid JSON ({e.msg})",
                hint="each line of a jsonl file must be one JSON object",
            ) from None
        if not isinstance(rec, dict):
            raise DataError(
                f"{path}: line {lineno}: expected a JSON object, found {type(rec).__name__}"
            )
        rec[_LINE] = lineno
        rows.append(rec)
    return pd.DataFrame.from_records(rows)


def _read_delimited(path: Path, config: TaskConfig, fmt: str) -> pd.DataFrame:
    """A csv or tsv file, record by record with the line each starts on (a quoted field may span
    lines). GLUE-style tsv files hold unbalanced quotes inside text: tsv is read without quoting."""
    sep, kind = ("\t", "tab") if fmt == "tsv" else (",", "comma")
    reader = csv.reader(
        io.StringIO(_read_text(path), newline=""),
        delimiter=sep,
        quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
    )
    names, records, lines, line = None if config.header else config.columns, [], [], 1
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, MAX_LINE_CHARS))
    try:
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not fields or fields == [""]:
                continue  # a blank line
            if names is None:
                if config.header:  # this is the header line
                    names = config.columns or [f.strip() for f in fields]
                    continue
                names = [str(i) for i in range(len(fields))]
            if len(fields) != len(names):
                what = (
                    "the header has"
                    if config.header and not config.columns
                    else "'columns' names"
                    if config.columns
                    else "the first line has"
                )
                raise DataError(
                    f"{path}: line {start}: {len(fields)} fields, but {what} {len(names)}",
                    hint=f"is it {kind}-separated? Texts holding the separator need quotes"
                    + ("; with 'columns:' name every column of the file" if config.columns else ""),
                )
            records.append(fields)
            lines.append(start)
    except csv.Error as e:
        raise DataError(
            f"{path}: line {line}: cannot read as {fmt} ({e})",
            hint="check the separator and quoting",
        ) from None
    finally:
        csv.field_size_limit(limit)
    if names is None:
        raise DataError(f"{path}: the file is empty")
    frame = pd.DataFrame(records, columns=names, dtype=object)
    frame[_LINE] = lines
    return frame


def _read_parquet(path: Path, config: TaskConfig, fmt: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises many types for a damaged file
        raise DataError(f"{path}: cannot read as parquet: {e}") from None
    frame[_LINE] = np.arange(len(frame)) + 1
    return frame


def _read_hf(config: TaskConfig, spec: str | HFSplit, base_dir: Path) -> tuple[pd.DataFrame, str]:
    import datasets

    if isinstance(spec, str):
        spec = HFSplit(path=spec)
    fmt = config.format or "hf_disk"
    try:
        if fmt == "hf_disk":
            path = Path(spec.path)
            path = path if path.is_absolute() else base_dir / path
            if not path.exists():
                raise DataError(f"task {config.name!r}: data set folder not found: {path}")
            ds = datasets.load_from_disk(str(path))
            source = str(path)
            if isinstance(ds, datasets.DatasetDict):
                if spec.split is None:
                    raise DataError(
                        f"{path}: holds splits {list(ds)}; say which one",
                        hint="write the split as {path: ..., split: train}",
                    )
                if spec.split not in ds:
                    raise DataError(f"{path}: no split {spec.split!r}; it has {list(ds)}")
                ds = ds[spec.split]
        else:
            ds = datasets.load_dataset(spec.path, spec.name, split=spec.split or "train")
            source = f"hub:{spec.path}" + (f"/{spec.name}" if spec.name else "")
    except DataError:
        raise
    except Exception as e:  # network, missing data set, damaged folder
        raise DataError(
            f"task {config.name!r}: cannot load Hugging Face data set {spec.path!r}: {e}",
            hint="hf_hub needs network access to the hub; use hf_disk for a saved folder",
        ) from None
    frame = ds.to_pandas()
    frame[_LINE] = np.arange(len(frame)) + 1
    return frame, source


# ---------------------------------------------------------------- building the task


def _where(source: str, line: int) -> str:
    kind = "line" if source.endswith((".jsonl", ".json", ".csv", ".tsv")) else "row"
    return f"{source}: {kind} {line}"


def _check_columns(frame: pd.DataFrame, fields: list[str], source: str, config: TaskConfig) -> None:
    have = ", ".join(str(c) for c in frame.columns if c != _LINE)
    delimited = source.endswith((".csv", ".tsv")) or config.format in ("csv", "tsv")
    for f in fields:
        if f not in frame.columns:
            if delimited and config.header and not config.columns:
                hint = (
                    f"the first line was read as the column names ({have}); if the file has no "
                    "header "
                    "line, add 'header: false' and name its columns with 'columns: [...]'"
                )
            elif delimited and not config.columns:
                hint = (
                    f"a file without a header has columns {have}; name them with 'columns: [...]'"
                )
            else:
                hint = f"columns found: {have}; fix 'text'/'label'/'choices' in the suite file"
            raise DataError(
                f"{source}: task {config.name!r} needs column {f!r}, which is not there", hint=hint
            )


def _text(value: Any, source: str, row: int, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise DataError(
            f"{_where(source, row)}: column {column!r} is empty",
            hint="every example needs its text; remove or fill such rows",
        )
    if not isinstance(value, str):
        raise DataError(
            f"{_where(source, row)}: column {column!r} holds {type(value).__name__} {value!r}, not "
            "text",
            hint="text fields must be strings",
        )
    if not value.strip():
        raise DataError(
            f"{_where(source, row)}: column {column!r} is empty text",
            hint="every example needs its text; remove or fill such rows",
        )
    return value


def _raw_label(value: Any, source: str, row: int, column: str) -> str:
    if (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or isinstance(value, str)
        and value.strip().lower() in ("", "nan")
    ):
        raise DataError(
            f"{_where(source, row)}: label column {column!r} is missing"
            + (f" ({value!r})" if isinstance(value, str) and value.strip() else ""),
            hint="every training and evaluation example needs a label; remove or fill such rows",
        )
    if isinstance(value, (list, dict, np.ndarray)):
        raise DataError(
            f"{_where(source, row)}: label {value!r} is a {type(value).__name__}, not one value",
            hint="each example takes exactly one label",
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _raw_key(value)


def _answer(value: Any, source: str, row: int, column: str) -> str:
    """A generation task's answer: text, or a list of spans / tuples written as text."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):

        def well_formed(item: Any) -> bool:  # a span, or a tuple of strings
            return (
                isinstance(item, str)
                or isinstance(item, list)
                and all(isinstance(f, str) for f in item)
            )

        bad = [v for v in value if not well_formed(v)]
        if bad:
            raise DataError(
                f"{_where(source, row)}: answer column {column!r} holds {bad[0]!r}",
                hint="an answer is text, or a list of spans (strings) or tuples (lists of strings)",
            )
        return answer_text(value)
    if not isinstance(value, str) or not value.strip():
        raise DataError(
            f"{_where(source, row)}: answer column {column!r} is "
            f"{'empty' if value in ('', None) else repr(value)}",
            hint="a generation task's answer is text, or a list of spans or tuples ([] for none)",
        )
    return value.strip()


def _natural_order(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


class _Split:
    """Records of one split read from a file, before labels are encoded."""

    def __init__(self, name: str, source: str, texts, choices, raw, lines):
        self.name, self.source, self.texts, self.choices, self.raw, self.lines = (
            name,
            source,
            texts,
            choices,
            raw,
            lines,
        )


def _parse(config: TaskConfig, split: str, frame: pd.DataFrame, source: str) -> _Split:
    fields = config.text_fields + (config.choices or []) + [config.label]
    _check_columns(frame, fields, source, config)
    texts, choices, raw, lines = [], [] if config.choices else None, [], []
    # Plain Python lists per column: iterrows builds a Series per row, slow on large files.
    cols = {f: frame[f].tolist() for f in dict.fromkeys(fields)}
    for i, line in enumerate(int(x) for x in frame[_LINE].tolist()):
        texts.append(tuple(_text(cols[f][i], source, line, f) for f in config.text_fields))
        if choices is not None:
            choices.append([_text(cols[f][i], source, line, f) for f in config.choices])
        value = cols[config.label][i]
        raw.append(
            _answer(value, source, line, config.label)
            if config.kind == "generation"
            else _raw_label(value, source, line, config.label)
        )
        lines.append(line)
    return _Split(split, source, texts, choices, raw, lines)


def _encode_labels(
    config: TaskConfig, parts: dict[str, _Split]
) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """Turn raw label strings into ids (or floats for regression), checking every split."""
    out: dict[str, np.ndarray] = {}
    if config.kind == "regression":
        for name, p in parts.items():
            vals = []
            for raw, line in zip(p.raw, p.lines, strict=True):
                try:
                    v = float(raw)
                except ValueError:
                    raise DataError(
                        f"{p.source}: line {line}: label {raw!r} is not a number",
                        hint="regression labels must be numbers",
                    ) from None
                if not math.isfinite(v):
                    raise DataError(
                        f"{p.source}: line {line}: label {raw!r} is not a finite number"
                    )
                vals.append(v)
            out[name] = np.asarray(vals, dtype=np.float32)
        if np.ptp(out["train"]) == 0:
            raise DataError(
                f"task {config.name!r}: every training label is {out['train'][0]}",
                hint="a regression task needs labels that vary",
            )
        return out, None

    if config.kind == "generation":
        return {name: np.asarray(p.raw, dtype=object) for name, p in parts.items()}, None

    if config.kind == "multiple_choice":
        n = len(config.choices or [])
        names = [str(i) for i in range(n)]
        for name, p in parts.items():
            ids = []
            for raw, line in zip(p.raw, p.lines, strict=True):
                if raw in config.choices:  # the label may name the correct choice's field
                    ids.append(config.choices.index(raw))
                    continue
                try:
                    k = int(raw)
                except ValueError:
                    k = -1
                if not 0 <= k < n:
                    raise DataError(
                        f"{p.source}: line {line}: label {raw!r} is not a choice index 0..{n - 1}",
                        hint="a multiple-choice label is the index of the correct choice",
                    )
                ids.append(k)
            out[name] = np.asarray(ids, dtype=np.int64)
        return out, names

    # classification
    mapping: dict[str, str] | None = None
    if isinstance(config.labels, dict):
        mapping = config.labels
        names = list(dict.fromkeys(mapping.values()))
    elif isinstance(config.labels, list):
        names = [str(x) for x in config.labels]
        mapping = {n: n for n in names}
        # Integer labels index into a list of names ("labels: [negative, positive]" with 0/1).
        if not set(parts["train"].raw) <= set(names):
            mapping.update({str(i): n for i, n in enumerate(names)})
    else:
        names = _natural_order(set(parts["train"].raw))
        mapping = {n: n for n in names}
        _warn_if_scores(config.name, names)
    index = {n: i for i, n in enumerate(names)}
    for name, p in parts.items():
        ids = []
        for raw, line in zip(p.raw, p.lines, strict=True):
            if raw not in mapping:
                if config.labels is not None:
                    raise DataError(
                        f"{p.source}: line {line}: label {raw!r} is not in the task's 'labels'",
                        hint=f"known labels: {', '.join(mapping)}; add it to 'labels' or fix the "
                        "row",
                    )
                raise DataError(
                    f"{p.source}: line {line}: label {raw!r} does not occur in the training data",
                    hint=f"training labels are {', '.join(names)}; a {name} label the model "
                    "never saw cannot be learned",
                )
            ids.append(index[mapping[raw]])
        out[name] = np.asarray(ids, dtype=np.int64)
    present = set(out["train"].tolist())
    if len(present) < 2:
        only = names[next(iter(present))] if present else "-"
        raise DataError(
            f"{parts['train'].source}: task {config.name!r}: the training data has a single class "
            f"({only!r})",
            hint="a classification task needs at least two classes in train",
        )
    return out, names


def _warn_if_scores(task: str, names: list[str]) -> None:
    """Labels that are numbers with fractions, or many different numbers, are likely scores."""
    try:
        values = [float(n) for n in names]
    except ValueError:
        return
    if any(not v.is_integer() for v in values) or len(values) > 20:
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        log.warning(
            "task %r: its labels are numbers (%s) and are read as %d classes; if they are scores, "
            "add 'kind: regression' to the task",
            task,
            shown,
            len(names),
        )


def stratified_split(
    labels: np.ndarray, size: float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (keep, held_out), held_out ≈ ``size`` of each class; seeded."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    if not stratify:
        perm = rng.permutation(n)
        k = max(1, round(size * n))
        return np.sort(perm[k:]), np.sort(perm[:k])
    held = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(size * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)  # keep at least one of each class in training
        else:
            k = 0
        held.extend(idx[:k].tolist())
    held_arr = np.sort(np.asarray(held, dtype=np.int64))
    keep = np.setdiff1d(np.arange(n), held_arr)
    return keep, held_arr


def _same_files(config: TaskConfig, base_dir: Path) -> list[tuple[str, str, Path]]:
    """Pairs of splits given as the same file (the same path, or identical bytes)."""
    files = {}
    for split, spec in config.splits.items():
        if isinstance(spec, str) and config.format not in ("hf_disk", "hf_hub"):
            path = Path(spec) if Path(spec).is_absolute() else base_dir / spec
            if path.is_file():
                files[split] = path
    digests: dict[str, str] = {}
    same = []
    for a in SPLITS:
        for b in SPLITS[SPLITS.index(a) + 1 :]:
            if a not in files or b not in files:
                continue
            pa, pb = files[a], files[b]
            if (
                pa.resolve() == pb.resolve()
                or pa.stat().st_size == pb.stat().st_size
                and digests.setdefault(a, _digest(pa)) == digests.setdefault(b, _digest(pb))
            ):
                same.append((a, b, pb))
    return same


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _overlap(splits: dict[str, TaskSplit]) -> dict[str, int]:
    """How many dev / test examples have the same input text as some training example."""
    seen = {
        "\x1e".join("\x1f".join(seq) for seq in splits["train"].sequences(i))
        for i in range(len(splits["train"]))
    }
    return {
        name: sum(
            "\x1e".join("\x1f".join(seq) for seq in splits[name].sequences(i)) in seen
            for i in range(len(splits[name]))
        )
        for name in ("dev", "test")
        if name in splits
    }


def _made_size(size: float, n: int) -> float:
    """A made split's ``size`` (a fraction, or a number of examples) as a fraction of ``n`` rows."""
    return size if size < 1 else min(size / max(n, 1), 0.5)


def read_task(
    config: TaskConfig,
    base_dir: Path,
    seed: int = 13,
    dev_size: float = 0.15,
    test_size: float = 0.15,
    check_leaks: bool = True,
    frames: dict[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Read, validate and split one task of a suite: the keyword arguments of its
    :class:`~taskmix.data.task.Task`. ``frames``: splits given as data frames (read as the
    records of a file would be, with row numbers in messages) instead of the config's files.

    Splits not given are made from train (stratified, seeded; ``dev_size`` / ``test_size`` a
    fraction or a number of examples, the task's own first); then ``limit`` / ``sample`` cap each
    split. The same file given for two splits is an error; dev or test examples whose text is also
    in train are counted (``Task.overlap``) and warned about (``check_leaks=False``: neither, for
    a task whose examples only describe it and are never scored, such as a new target's)."""
    for a, b, path in _same_files(config, Path(base_dir)) if check_leaks else ():
        raise DataError(
            f"task {config.name!r}: its {b} file is its {a} file ({path})",
            hint=f"a model evaluated on its {a} data says nothing about new data; give a separate "
            f"{b} file, or leave '{b}' out and it is made from train",
        )
    parts = {}
    for split in SPLITS:
        if frames and split in frames:
            frame, source = _from_frame(frames[split], f"{config.name} {split} data frame")
            parts[split] = _parse(config, split, frame, source)
        elif split in config.splits:
            frame, source = read_split(config, split, base_dir)
            parts[split] = _parse(config, split, frame, source)
    encoded, names = _encode_labels(config, parts)
    splits = {}
    for split, p in parts.items():
        ids = [f"{config.name}:{split}:{line}" for line in p.lines]
        splits[split] = TaskSplit(p.texts, encoded[split], ids, p.choices)

    info: dict[str, str] = {}
    stratify = config.kind == "classification"
    sizes = {"test": config.test_size or test_size, "dev": config.dev_size or dev_size}
    for split, offset in (("test", 1), ("dev", 2)):
        if split in splits:
            continue
        train, size = splits["train"], sizes[split]
        if size < 1 and split == "dev" and "test" in info and sizes["test"] < 1:
            frac = size / (1 - sizes["test"])  # a fraction of the file, not of what test left
        else:
            frac = _made_size(size, len(train))
        keep, held = stratified_split(train.labels, frac, seed + offset, stratify=stratify)
        if len(keep) < 2 or len(held) < 1:
            raise DataError(
                f"task {config.name!r}: too few training examples ({len(train)}) to make a {split} "
                "split",
                hint=f"give a {split} file, or more training data",
            )
        splits[split] = train.subset(held)
        splits["train"] = train.subset(keep)
        info[split] = (
            f"{len(held)} examples taken from train ({'stratified, ' if stratify else ''}seed "
            f"{seed + offset})"
        )

    for split, n in config.caps("limit").items():
        data = splits.get(split)
        if data is not None and n < len(data):
            splits[split] = data.subset(np.arange(n))
            info[split] = _join(info.get(split), f"first {n} of {len(data)}")
    for split, n in config.caps("sample").items():
        data = splits.get(split)
        if data is not None and n < len(data):
            pick = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
            splits[split] = data.subset(pick)
            info[split] = _join(info.get(split), f"sample of {n} of {len(data)} (seed {seed})")
    if config.kind == "classification" and len(set(splits["train"].labels.tolist())) < 2:
        raise DataError(
            f"task {config.name!r}: after limit/sample, train has a single class",
            hint="use a larger limit, or 'sample:' for a random subset",
        )
    for split in ("dev", "test"):
        if split in info and len(splits[split]) > len(splits["train"]):
            log.warning(
                "task %r: the %s split made from train (%d examples) is larger than what trains "
                "(%d); "
                "cap it with '%s_size: N' or 'sample: {%s: N}'",
                config.name,
                split,
                len(splits[split]),
                len(splits["train"]),
                split,
                split,
            )

    overlap = _overlap(splits) if check_leaks else {}
    if any(overlap.values()):
        log.warning(
            "task %r: %s have the same text as a training example; scores on them overstate how "
            "well the model does on new data",
            config.name,
            " and ".join(f"{n} of {len(splits[s])} {s} examples" for s, n in overlap.items() if n),
        )
    return dict(
        name=config.name,
        kind=config.kind,
        splits=splits,
        label_names=names,
        description=config.description,
        text_fields=config.text_fields,
        split_info=info,
        n_choices=len(config.choices) if config.choices else None,
        verbalizer=config.verbalizer,
        overlap={s: n for s, n in overlap.items() if n},
    )


def _from_frame(frame: Any, source: str) -> tuple[pd.DataFrame, str]:
    """A data frame in place of a file: checked as a file's records are; rows numbered from 1."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{source}: expected a pandas DataFrame, got {type(frame).__name__}",
            hint="pass a DataFrame, or use Task.from_dataset for a datasets.Dataset",
        )
    if len(frame) == 0:
        raise DataError(f"{source}: no records found", hint="the data frame has no rows")
    frame = frame.reset_index(drop=True).copy()
    frame[_LINE] = np.arange(len(frame)) + 1
    return frame, source


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def read_inputs(
    path: str | Path, fields: Sequence[str], choices: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[tuple[str, ...]], list[list[str]] | None]:
    """Unlabelled inputs to predict, read from a jsonl / csv / tsv / parquet file as a suite's
    files are read (the same checks and messages): the records (every column), each row's text
    fields and, for a multiple-choice task, its choices."""
    path = Path(path)
    config = TaskConfig(
        name=_task_name(path.stem),
        splits={"train": str(path)},
        text=list(fields) if len(fields) > 1 else fields[0],
        label="",
        choices=list(choices) if choices else None,
    )
    frame, source = read_split(config, "train", path.parent)
    _check_columns(frame, [*fields, *(choices or [])], source, config)
    lines = [int(x) for x in frame[_LINE].tolist()]
    cols = {f: frame[f].tolist() for f in dict.fromkeys([*fields, *(choices or [])])}
    texts = [
        tuple(_text(cols[f][i], source, line, f) for f in fields) for i, line in enumerate(lines)
    ]
    options = (
        [[_text(cols[f][i], source, line, f) for f in choices] for i, line in enumerate(lines)]
        if choices
        else None
    )
    return frame.drop(columns=[_LINE]), texts, options


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` written as its suffix says: .csv, .tsv, .jsonl or .parquet."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise DataError(
            f"{path}: cannot write a {suffix or 'suffix-less'} file",
            hint="name a .csv, .tsv, .jsonl or .parquet file",
        )
    return path


def _task_name(stem: str) -> str:
    """A file's stem as a task name (letters, digits, '_', '.', '-')."""
    name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in stem).lstrip("_.-")
    return name or "target"
