"""The pairwise transfer matrix: how much training on a source task first helps a target task.

One row per (target, source, setting) with the TaskWeb scores of Kim et al. (2023):
``pc`` — the mean relative change of the target's metric over seeds (a fraction),
``pm`` — the fraction of seeds whose transfer was positive, and
``score = 0.5·pc + 0.5·(0.2·pm − 0.1)``. An optional ``metric`` column keeps the target's
absolute metric after transfer (what Regret@k is computed from), ``base`` the metric of
training on the target alone, and ``n_seeds`` how many seeds were averaged.

The matrix is saved and read as CSV or Parquet; the published TaskWeb table
(``taskweb_pairwise.csv``: target, source, adaptation, model, pc_mean_rel_change,
pm_frac_seeds_positive) is recognised by its columns and imported as it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskmix.data.suite import Suite
from taskmix.errors import ConfigError, DataError
from taskmix.files import atomic_file, inside
from taskmix.safeload import safe_unpickle

log = logging.getLogger(__name__)

COLUMNS = ["target", "source", "setting", "pc", "pm", "score"]
OPTIONAL = ["metric", "base", "n_seeds"]
TASKWEB_COLUMNS = {
    "target",
    "source",
    "adaptation",
    "model",
    "pc_mean_rel_change",
    "pm_frac_seeds_positive",
}


def taskweb_score(pc, pm):
    """The TaskWeb transfer score: 0.5·PC + 0.5·(0.2·PM − 0.1) (works on floats and arrays)."""
    return 0.5 * pc + 0.5 * (0.2 * pm - 0.1)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found", hint="check the path of the matrix file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
        if suffix in (".pkl", ".pickle"):  # e.g. the published TaskWeb scores: plain data only
            return pd.DataFrame(safe_unpickle(path))
    except DataError:
        raise
    except Exception as e:  # pandas raises many kinds; all mean "not a table we can read"
        raise DataError(f"{path}: cannot read it as a table: {str(e).splitlines()[0]}") from None
    raise DataError(
        f"{path}: unknown matrix format {suffix!r}", hint="use a .csv, .parquet or .pkl file"
    )


def read_pair_table(
    path: str | Path, value: str, renames: dict[str, str] | None = None
) -> pd.DataFrame:
    """A (target, source, ``value``) table from CSV/Parquet, with ``value`` checked to be
    numeric."""
    path = Path(path)
    frame = _read_table(path).rename(columns=renames or {})
    missing = {"target", "source", value} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(sorted(missing))}",
            hint=f"the table needs the columns target, source, {value}",
        )
    values = pd.to_numeric(frame[value], errors="coerce")
    if values.isna().any():
        i = int(values.index[values.isna()][0])
        raise DataError(
            f"{path}: row {_row(i)}: column {value!r} is {frame[value].iloc[i]!r}, not a number"
        )
    return frame.assign(**{value: values})


class TransferMatrix:
    """Pairwise transfer scores, one row per (target, source, setting).

    >>> m = TransferMatrix.from_records([("b", "a", 0.10, 1.0), ("a", "b", -0.02, 0.25)])
    >>> round(m.score("a", "b"), 3)
    0.1
    >>> bool(m.scores().loc["a", "b"] == m.score("b", "a"))  # rows: targets, columns: sources
    True
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame.reset_index(drop=True)

    # ------------------------------------------------------------ building
    @classmethod
    def from_records(cls, rows: Sequence[tuple], setting: str = "default") -> TransferMatrix:
        """From (target, source, pc, pm) tuples; the score is computed."""
        frame = pd.DataFrame(list(rows), columns=["target", "source", "pc", "pm"])
        frame.insert(2, "setting", setting)
        frame["score"] = taskweb_score(frame["pc"], frame["pm"])
        return cls.validated(frame, source="records")

    @classmethod
    def validated(
        cls, frame: pd.DataFrame, source: str, tasks: Sequence[str] | None = None
    ) -> TransferMatrix:
        """Check a table and build the matrix; every problem names the file, row and column."""
        have = set(frame.columns)
        missing = [c for c in COLUMNS if c not in have and c not in ("setting", "score")]
        if missing:
            raise DataError(
                f"{source}: missing column(s) {', '.join(missing)}",
                hint=f"a transfer matrix has the columns {', '.join(COLUMNS)} "
                f"(optional: {', '.join(OPTIONAL)}), or is the published TaskWeb table",
            )
        frame = frame.copy()
        if "setting" not in have:  # a single-setting table may leave it out
            frame["setting"] = "default"
        for col in ("target", "source", "setting"):
            frame[col] = frame[col].astype(str).str.strip()
            empty = frame.index[frame[col] == ""]
            if len(empty):
                raise DataError(f"{source}: row {_row(empty[0])}: column {col!r} is empty")
        for col in ["pc", "pm", "score", *OPTIONAL]:
            if col not in frame.columns:
                continue
            raw = frame[col]
            blank = raw.isna() | raw.astype(str).str.strip().eq("")
            values = pd.to_numeric(raw.where(~blank), errors="coerce")
            # Required scores must all be numbers; optional columns may be left empty.
            bad = frame.index[values.isna() & (~blank | (col in ("pc", "pm")))]
            if len(bad):
                raise DataError(
                    f"{source}: row {_row(bad[0])}: column {col!r} is {raw.iloc[bad[0]]!r}, "
                    "not a number"
                )
            frame[col] = values.astype(float)
        computed = taskweb_score(frame["pc"], frame["pm"])
        frame["score"] = frame["score"].fillna(computed) if "score" in frame.columns else computed
        out_of_range = frame.index[(frame["pm"] < 0) | (frame["pm"] > 1)]
        if len(out_of_range):
            raise DataError(
                f"{source}: row {_row(out_of_range[0])}: pm is "
                f"{frame['pm'].iloc[out_of_range[0]]}, "
                "but it is a fraction of seeds (0 to 1)"
            )
        self_pairs = frame.index[frame["target"] == frame["source"]]
        if len(self_pairs):
            t = frame["target"].iloc[self_pairs[0]]
            raise DataError(
                f"{source}: row {_row(self_pairs[0])}: {t!r} is its own source",
                hint="a transfer matrix has no self pairs; remove that row",
            )
        dup = frame.duplicated(["target", "source", "setting"])
        if dup.any():
            i = frame.index[dup][0]
            raise DataError(
                f"{source}: row {_row(i)}: the pair {frame['source'].iloc[i]} → "
                f"{frame['target'].iloc[i]} ({frame['setting'].iloc[i]}) appears twice"
            )
        if tasks is not None:
            known = set(tasks)
            for col in ("target", "source"):
                unknown = frame.index[~frame[col].isin(known)]
                if len(unknown):
                    raise DataError(
                        f"{source}: row {_row(unknown[0])}: unknown task "
                        f"{frame[col].iloc[unknown[0]]!r} "
                        f"in column {col!r}",
                        hint=f"known tasks: {', '.join(sorted(known))}",
                    )
        keep = COLUMNS + [c for c in OPTIONAL if c in frame.columns]
        return cls(frame[keep])

    @classmethod
    def load(
        cls, path: str | Path, tasks: Sequence[str] | None = None, setting: str | None = None
    ) -> TransferMatrix:
        """Read a matrix saved by :meth:`save` (CSV or Parquet) or the published TaskWeb table.

        ``tasks``: if given, every task named in the file must be one of them. ``setting``: keep
        only that setting (TaskWeb table: ``"finetune/t5l"``, ``"ALL/ALL"`` … adaptation/model).
        """
        path = Path(path)
        frame = _read_table(path)
        if TASKWEB_COLUMNS <= set(frame.columns):
            frame = pd.DataFrame(
                {
                    "target": frame["target"],
                    "source": frame["source"],
                    "setting": frame["adaptation"].astype(str) + "/" + frame["model"].astype(str),
                    "pc": frame["pc_mean_rel_change"],
                    "pm": frame["pm_frac_seeds_positive"],
                }
            )
        m = cls.validated(frame, source=str(path), tasks=tasks)
        return m.select(setting) if setting else m

    def save(self, path: str | Path) -> Path:
        """Write CSV or Parquet (by suffix), whole or not at all."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".parquet", ".pq"):
            with atomic_file(path, "wb") as f:
                self.frame.to_parquet(f, index=False)
        else:
            with atomic_file(path, "w") as f:
                self.frame.to_csv(f, index=False)
        return path

    def for_suite(
        self,
        names: Sequence[str],
        suite: str,
        setting: str | None = None,
        source: str = "the matrix",
    ) -> TransferMatrix:
        """This matrix checked against a suite's task ``names``, with one setting: ``setting`` (if
        the matrix has several, one must be named)."""
        if not set(self.tasks) & set(names):
            raise ConfigError(
                f"{source}: none of its tasks ({', '.join(self.tasks[:6])}) is a task of suite "
                f"{suite!r}",
                hint=f"the suite's tasks: {', '.join(names)}; give the matrix measured on them",
            )
        if setting is None and len(self.settings) > 1:
            raise ConfigError(
                f"{source} holds several settings: {', '.join(self.settings)}",
                hint="choose one with --setting",
            )
        return self.select(setting) if setting and setting in self.settings else self

    def with_metric(self, path: str | Path) -> TransferMatrix:
        """Add the target's absolute metric after each transfer (what Regret@k needs) from a table
        with columns target, source and ``metric`` (or the published TaskWeb ``mean_score``)."""
        frame = read_pair_table(path, "metric", renames={"mean_score": "metric"})
        extra = frame[["target", "source", "metric"]].drop_duplicates(["target", "source"])
        merged = self.frame.drop(columns=["metric"], errors="ignore").merge(
            extra, on=["target", "source"], how="left"
        )
        return TransferMatrix(merged)

    # ------------------------------------------------------------ reading
    @property
    def settings(self) -> list[str]:
        return list(dict.fromkeys(self.frame["setting"]))

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.frame["target"]))

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(self.frame["source"]))

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys([*self.targets, *self.sources]))

    def select(self, setting: str) -> TransferMatrix:
        """Only the rows of one setting."""
        if setting not in self.settings:
            raise DataError(
                f"the matrix has no setting {setting!r}",
                hint=f"settings in it: {', '.join(self.settings)}",
            )
        return TransferMatrix(self.frame[self.frame["setting"] == setting])

    def _one_setting(self) -> pd.DataFrame:
        if len(self.settings) > 1:
            raise DataError(
                f"the matrix holds several settings ({', '.join(self.settings)})",
                hint="choose one first, e.g. matrix.select('finetune/t5l') or --setting",
            )
        return self.frame

    def scores(self, value: str = "score") -> pd.DataFrame:
        """A target × source table of ``value`` (score, pc, pm, metric); NaN where unknown."""
        f = self._one_setting()
        if value not in f.columns:
            raise DataError(f"the matrix has no {value!r} column")
        return f.pivot(index="target", columns="source", values=value)

    def score(self, source: str, target: str, value: str = "score") -> float:
        """The transfer score of ``source → target``."""
        f = self._one_setting()
        row = f[(f["source"] == source) & (f["target"] == target)]
        if row.empty:
            raise DataError(f"the matrix has no pair {source} → {target}")
        return float(row[value].iloc[0])

    def without(self, task: str) -> TransferMatrix:
        """The matrix with ``task`` removed as a target and as a source (leave-one-out)."""
        f = self.frame
        return TransferMatrix(f[(f["target"] != task) & (f["source"] != task)])

    # ------------------------------------------------------------ the paper's analyses
    def commutativity(self) -> dict:
        """Share of task pairs, measured both ways, whose transfers have the same sign."""
        s = self.scores()
        same = total = 0
        names = sorted(set(s.index) & set(s.columns))
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ab, ba = s.loc[b, a], s.loc[a, b]
                if np.isnan(ab) or np.isnan(ba):
                    continue
                total += 1
                same += int(np.sign(ab) == np.sign(ba))
        return {"pairs": total, "same_sign": same, "share": same / total if total else float("nan")}

    def analyses(self) -> list[str]:
        """The paper's commutativity and transitivity findings on this matrix, as sentences."""
        lines = []
        com = self.commutativity()
        if com["pairs"]:
            lines.append(
                f"commutativity: {com['same_sign']} of {com['pairs']} pairs transfer with the same "
                "sign both ways"
            )
        tr = self.transitivity()
        if tr["triples"].iloc[0]:
            lines.append(
                "transitivity: P(s→t > 0 | s→p > x and p→t > x) = "
                + ", ".join(
                    f"{r.p_positive:.2f} at x={r.threshold:.3g} ({r.triples})"
                    for r in tr.itertuples()
                    if r.triples
                )
                + f"; unconditional {tr['baseline'].iloc[0]:.2f}"
            )
        return lines

    def transitivity(self, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
        """P(s→t positive | s→p > x and p→t > x) for rising thresholds x, over every triple of
        distinct tasks (s, p, t) with all three transfers known; ``baseline`` is P(s→t positive)."""
        s = self.scores()
        names = sorted(set(s.index) | set(s.columns))
        S = s.reindex(index=names, columns=names).to_numpy()  # S[t, s] = score of s → t
        # T[a, b] = score of a → b
        T = S.T
        n = len(names)
        if thresholds is None:
            finite = T[np.isfinite(T)]
            top = float(np.quantile(finite, 0.95)) if finite.size else 0.0
            thresholds = np.round(np.linspace(0.0, max(top, 1e-9), 6), 4)
        a_idx, p_idx, b_idx = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
        distinct = (a_idx != p_idx) & (p_idx != b_idx) & (a_idx != b_idx)
        sp, pt, st = T[a_idx, p_idx], T[p_idx, b_idx], T[a_idx, b_idx]
        known = distinct & np.isfinite(sp) & np.isfinite(pt) & np.isfinite(st)
        baseline = float((st[known] > 0).mean()) if known.any() else float("nan")
        rows = []
        for x in thresholds:
            cond = known & (sp > x) & (pt > x)
            k = int(cond.sum())
            rows.append(
                {
                    "threshold": float(x),
                    "triples": k,
                    "p_positive": float((st[cond] > 0).mean()) if k else float("nan"),
                    "baseline": baseline,
                }
            )
        return pd.DataFrame(rows)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"TransferMatrix({len(self.targets)} targets × {len(self.sources)} sources, "
            f"settings: {', '.join(self.settings)})"
        )


def _row(i) -> int:
    """The 1-based data row of a frame index (the header is not counted)."""
    return int(i) + 1


# ---------------------------------------------------------------- matrices kept beside a run store


def matrix_path(out: str | Path, suite: str, setting: str) -> Path:
    """Where the transfer matrix of ``suite`` measured in ``setting`` is kept:
    OUT/transfer/<suite>-<setting>.csv."""
    return inside(out, "transfer", f"{suite}-{setting}.csv")


def saved_matrices(out: str | Path, suite: str) -> list[Path]:
    """The transfer matrices `taskmix transfer` saved for ``suite`` under ``out``."""
    return sorted((Path(out) / "transfer").glob(f"{suite}-*.csv"))


def load_matrix(
    path: str | Path | None,
    out: str | Path,
    suite: Suite | None,
    setting: str | None = None,
    metric: str | Path | None = None,
) -> TransferMatrix | None:
    """The transfer matrix at ``path``, or else the one saved for ``suite`` (in ``setting``, if
    named); checked against the suite's tasks; with the target metric table ``metric`` joined (for
    Regret@k). None if there is neither."""
    if path is None:
        saved = saved_matrices(out, suite.name) if suite is not None else []
        if setting:
            saved = [p for p in saved if p.stem == f"{suite.name}-{setting}"]
        if not saved:
            return None
        path = saved[0]
        log.info("transfer matrix: %s", path)
    m = TransferMatrix.load(path)
    if suite is not None:
        m = m.for_suite(suite.names, suite.name, setting, source=str(path))
    elif setting:
        m = m.select(setting)
    return m.with_metric(metric) if metric else m
