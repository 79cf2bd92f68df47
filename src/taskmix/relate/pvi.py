"""Pointwise V-usable information (PVI): how much usable information an input carries about its
label, for a model family V (Ethayarajh, Choi & Swayamdipta 2022; used for task grouping by Li,
Miller, Bethard & Savova).

    PVI(x → y) = −log2 g∅(y) + log2 g′[x](y)

g′ is a model of V trained on (x, y) pairs, g∅ the same family trained on (∅, y): the input
replaced by a single space, as the reference code does. PVI is only measured on instances the
models did not see: out-of-fold by k-fold cross-fitting of the training split (default), or on
the dev/test split with models trained on all of train. The mean PVI of a task is its
V-information; the per-instance distribution is what task grouping compares.

Two model families, one interface:

- ``probe``: V is a logistic regression on the frozen backbone's cached features. The best model
  of a linear family on a constant input predicts the label prior, so g∅ is the prior of the
  training fold. Seconds per task on a CPU.
- ``finetune``: V is the backbone fine-tuned with a task head (the paper: 10 epochs, batch 32,
  lr 2e-5); g∅ is fine-tuned on the empty input. For multiple choice the empty input makes every
  choice identical, so g∅ is uniform over the choices.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.linalg.blas import dsyrk, ssyrk
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from taskmix.config import ModelConfig, PVIConfig, config_hash
from taskmix.data.suite import Suite
from taskmix.data.task import Task, TaskSplit
from taskmix.errors import DataError
from taskmix.estimator import Estimator
from taskmix.files import atomic_dir
from taskmix.progress import make_progress

log = logging.getLogger(__name__)

EPS = 1e-7  # probabilities are clipped to [EPS, 1] so that one confident mistake is finite
NULL_INPUT = " "
PROBE_C_GRID = (0.001, 0.01, 0.1, 1.0)
COLUMNS = ["task", "id", "label", "label_name", "pvi", "h_y", "h_y_x", "correct", "fold"]


def pvi_bits(p_null: np.ndarray, p_x: np.ndarray) -> np.ndarray:
    """PVI in bits from the probability of the gold label under g∅ and under g′.

    >>> float(pvi_bits(np.array([0.25]), np.array([0.5]))[0])   # −log2 ¼ + log2 ½
    1.0
    """
    return surprisal(p_null) - surprisal(p_x)


def surprisal(p: np.ndarray) -> np.ndarray:
    """−log2 p in bits, with p clipped to [EPS, 1]."""
    return -np.log2(np.clip(p, EPS, 1.0))


def label_prior(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The empirical label distribution: what a model of a constant input learns at best."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(float)
    return counts / max(1.0, counts.sum())


def _logistic(X: np.ndarray, y: np.ndarray, c: float, start: tuple | None = None):
    """A logistic regression with L2 strength ``c`` fitted on (X, y), beginning from ``start``
    ((coef, intercept) of an earlier fit) if given. Binary: exact Newton steps
    (:class:`_BinaryLogistic`). Multiclass: scikit-learn's lbfgs (the multinomial Hessian grows
    with (features × classes)², so a quasi-Newton method is the faster one there)."""
    if len(np.unique(y)) <= 2:
        return _BinaryLogistic(c).fit(X, y, start)
    model = LogisticRegression(C=c, solver="lbfgs", max_iter=1000, warm_start=start is not None)
    if start is not None:
        model.coef_, model.intercept_ = start
    return model.fit(X, y)


class _BinaryLogistic:
    """Binary logistic regression with an L2 penalty on the weights (not the intercept):
    minimises ``c`` · Σ log-loss + ½‖w‖², scikit-learn's objective, to scikit-learn's tolerance
    on the gradient. Newton steps with a Cholesky solve and a backtracking line search; the
    Hessian (the one costly product, computed as a symmetric rank-k update) is refreshed only when
    a step has not cut the gradient four-fold. The probes fit hundreds of these on a few thousand
    rows: a fit costs about one Hessian, without scikit-learn's checks around it."""

    def __init__(self, c: float, tol: float = 1e-4, max_iter: int = 100):
        self.c, self.tol, self.max_iter = c, tol, max_iter

    def fit(self, X: np.ndarray, y: np.ndarray, start: tuple | None = None) -> _BinaryLogistic:
        self.classes_ = np.unique(y)
        t = (y == self.classes_[-1]).astype(np.float64)
        n, d = X.shape
        A = np.empty((n, d + 1), dtype=X.dtype)  # features and a column of ones (the intercept)
        A[:, :d], A[:, d] = X, 1.0
        penalty = np.ones(d + 1)
        penalty[d] = 0.0
        theta = np.zeros(d + 1)
        if start is not None:
            theta[:d], theta[d] = np.ravel(start[0]), np.ravel(start[1])[0]

        def objective(th):
            z = A @ th
            return self.c * float(np.sum(np.logaddexp(0.0, z) - t * z)) + 0.5 * float(
                penalty @ th**2
            )

        syrk = ssyrk if A.dtype == np.float32 else dsyrk
        value, factor, last = objective(theta), None, np.inf
        for _ in range(self.max_iter):
            p = expit(A @ theta)
            grad = self.c * (A.T @ (p - t)) + penalty * theta
            size = float(np.max(np.abs(grad)))
            if size <= self.tol * self.c * n:
                break
            if factor is None or size > 0.25 * last:  # the Hessian again only when progress slows
                root = A * np.sqrt(self.c * p * (1.0 - p)).astype(A.dtype)[:, None]
                hess = syrk(1.0, root.T).astype(np.float64)  # upper triangle of rootᵀ·root
                hess[np.diag_indices_from(hess)] += penalty + 1e-10
                try:
                    factor = cho_factor(hess)
                except LinAlgError:  # not positive definite in float32: a little more ridge
                    hess[np.diag_indices_from(hess)] += 1e-6 * np.abs(np.diag(hess)).max()
                    factor = cho_factor(hess)
            last = size
            step = cho_solve(factor, grad)
            move, slope = 1.0, float(grad @ step)
            trial = objective(theta - step)
            while trial > value - 1e-4 * move * slope and move > 1e-8:
                move /= 2
                trial = objective(theta - move * step)
            theta, value = theta - move * step, trial
        self.coef_, self.intercept_ = theta[None, :d], theta[d:]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = expit(self.decision_function(X).astype(np.float64))
        return np.stack([1.0 - p, p], axis=1)


class _Standardise:
    """Zero mean, unit variance per feature, exactly as scikit-learn's StandardScaler (moments in
    float64, its test of a constant feature), without its checks: the probes call it hundreds of
    times on arrays that are already clean."""

    def __init__(self, X: np.ndarray):
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        var = X.var(axis=0, dtype=np.float64)
        n, eps = len(X), np.finfo(np.float64).eps
        constant = var <= n * eps * var + (n * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(var))

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = np.array(X, dtype=X.dtype if X.dtype.kind == "f" else np.float64)
        out -= self.mean_.astype(out.dtype)
        out /= self.scale_.astype(out.dtype)
        return out


class _Probe:
    """A fitted probe: the standardisation of its training rows, then the linear model."""

    def __init__(self, scale: _Standardise, model):
        self.scale, self.model, self.classes_ = scale, model, model.classes_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model.decision_function(self.scale.transform(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.scale.transform(X))


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Mean negative log-likelihood of labels ``y`` under ``proba`` (columns: ``classes``),
    probabilities clipped to [eps, 1 − eps]: scikit-learn's ``log_loss``, without its checks."""
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba[np.arange(len(y)), np.searchsorted(classes, y)], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def cross_fit_folds(
    labels: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs; stratified when every class has at least ``folds`` members.

    Every instance is held out exactly once, and never in a fold whose model trains on it.
    """
    n = len(labels)
    if n < folds:
        raise DataError(
            f"{n} instances cannot be cross-fitted in {folds} folds",
            hint="use fewer folds (--folds) or more data",
        )
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    if counts[counts > 0].min() >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(n), labels)]
    return [(tr, te) for tr, te in KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n))]


def classification_view(task: Task, bins: int | None) -> Task:
    """The task as PVI sees it: classification and multiple choice as they are; regression labels
    cut into ``bins`` quantile bins of the training labels, or refused with a clear error."""
    task.require_encoder_kind("PVI")
    if task.kind != "regression":
        return task
    if not bins:
        raise DataError(
            f"task {task.name!r} is a regression task: PVI needs discrete labels",
            hint="bin its labels with --bins N (quantile bins), or leave the task out",
        )
    edges = np.unique(np.quantile(task.splits["train"].labels, np.linspace(0, 1, bins + 1)[1:-1]))
    names = [f"bin{i}" for i in range(len(edges) + 1)]
    splits = {
        s: dataclasses.replace(d, labels=np.digitize(d.labels, edges).astype(np.int64))
        for s, d in task.splits.items()
    }
    return dataclasses.replace(task, kind="classification", splits=splits, label_names=names)


def _n_outcomes(task: Task) -> int:
    return task.num_labels if task.kind == "classification" else (task.n_choices or 2)


def _null_split(split: TaskSplit) -> TaskSplit:
    """The same instances with every input (and every choice) replaced by the empty input."""
    n = len(split)
    choices = None if split.choices is None else [[NULL_INPUT] * len(c) for c in split.choices]
    return dataclasses.replace(split, texts=[(NULL_INPUT,)] * n, choices=choices)


class ProbeFamily:
    """V = a logistic regression on standardised frozen features; g∅ = the label prior.

    Multiple choice: one linear scorer of each (context, choice) feature vector, trained as
    correct / not correct, with a softmax over the example's choices."""

    def __init__(self, config: PVIConfig, backbone, cache):
        self.config, self.backbone, self.cache = config, backbone, cache

    def features(self, task: Task, split: str, progress=None) -> np.ndarray:
        return self.cache.get(self.backbone, task, split, progress=progress)

    def _fit(self, X: np.ndarray, y: np.ndarray):
        """A logistic regression on standardised features; its L2 strength is chosen (unless
        fixed by ``probe_c``) by log-loss on a seeded quarter of these training rows, so held-out
        rows never influence it."""
        c, start = self.config.probe_c, None
        if c is None:
            c, start = self._choose_c(X, y)
        scale = _Standardise(X)  # the final fit begins from the inner fit's solution
        return _Probe(scale, _logistic(scale.transform(X), y, c, start))

    def _choose_c(self, X: np.ndarray, y: np.ndarray) -> tuple[float, tuple | None]:
        """From the strongest regularisation up, while the inner log-loss keeps improving; each
        fit starts from the previous one's solution (a regularisation path). Returns the strength
        and the chosen fit's coefficients."""
        counts = np.bincount(y)
        if len(y) < 40 or counts[counts > 0].min() < 4:
            return PROBE_C_GRID[1], None
        tr, va = train_test_split(
            np.arange(len(y)), test_size=0.25, stratify=y, random_state=self.config.seed
        )
        scale = _Standardise(X[tr])
        X_tr, X_va = scale.transform(X[tr]), scale.transform(X[va])
        best_c, best_loss, best_coef, start = PROBE_C_GRID[0], np.inf, None, None
        for c in PROBE_C_GRID:
            model = _logistic(X_tr, y[tr], c, start)
            loss = _log_loss(y[va], model.predict_proba(X_va), model.classes_)
            if loss >= best_loss:
                break
            best_c, best_loss = c, loss
            best_coef = start = (model.coef_.copy(), model.intercept_.copy())
        return best_c, best_coef

    def probabilities(
        self,
        task: Task,
        train: tuple[str, np.ndarray],
        heldout: tuple[str, np.ndarray],
        progress=None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(g′ probabilities [n_heldout, outcomes], g∅ probabilities [n_heldout, outcomes])."""
        k = _n_outcomes(task)
        X_tr = self.features(task, train[0])[train[1]]
        X_te = self.features(task, heldout[0])[heldout[1]]
        y_tr = task.splits[train[0]].labels[train[1]].astype(np.int64)
        prior = label_prior(y_tr, k)
        p_null = np.tile(prior, (len(X_te), 1))
        if task.kind == "multiple_choice":
            # One linear scorer of (context, choice) features; softmax over the choices.
            target = (np.arange(X_tr.shape[1])[None, :] == y_tr[:, None]).astype(int).ravel()
            clf = self._fit(X_tr.reshape(-1, X_tr.shape[-1]), target)
            scores = clf.decision_function(X_te.reshape(-1, X_te.shape[-1])).reshape(len(X_te), -1)
            return softmax(scores), p_null
        present = np.unique(y_tr)
        if len(present) < 2:  # nothing to discriminate: the best model is the prior
            return p_null.copy(), p_null
        clf = self._fit(X_tr, y_tr)
        p_x = np.zeros((len(X_te), k))
        p_x[:, present] = clf.predict_proba(X_te)
        return p_x, p_null


class FinetuneFamily:
    """V = the backbone fine-tuned with a task head; g∅ fine-tuned on the empty input."""

    def __init__(self, config: PVIConfig, factory):
        from taskmix.train.trainer import Trainer

        self.config = config
        self.trainer = Trainer(config.finetune, factory)

    def _fit_predict(
        self, task: Task, train: TaskSplit, heldout: TaskSplit, progress
    ) -> np.ndarray:
        fold_task = dataclasses.replace(
            task, splits={"train": train, "heldout": heldout}, split_info={}
        )
        result = self.trainer.fit(
            [fold_task], seed=self.config.seed, progress=progress, keep_model=True
        )
        return softmax(self.trainer.outputs(result.model, "heldout")[task.name].astype(np.float64))

    def probabilities(
        self,
        task: Task,
        train: tuple[str, np.ndarray],
        heldout: tuple[str, np.ndarray],
        progress=None,
    ) -> tuple[np.ndarray, np.ndarray]:
        tr = task.splits[train[0]].subset(train[1])
        te = task.splits[heldout[0]].subset(heldout[1])
        p_x = self._fit_predict(task, tr, te, progress)
        p_null = self._fit_predict(task, _null_split(tr), _null_split(te), progress)
        return p_x, p_null


class PVI(Estimator):
    """Per-instance PVI of every task of a suite, and each task's V-information.

    >>> from taskmix import Suite
    >>> pvi = PVI(mode="probe", folds=5).fit(Suite.load("demo"))     # doctest: +SKIP
    >>> pvi.summary_[["task", "v_information", "n"]]                   # doctest: +SKIP

    ``pvi_`` has one row per instance (task, id, label, PVI, H(y) = −log2 g∅(y),
    H(y|x) = −log2 g′[x](y), whether g′ was right, fold); ``summary_`` one row per task.
    """

    def __init__(
        self,
        config: PVIConfig | None = None,
        *,
        tasks: Sequence[str] | None = None,
        model: ModelConfig | None = None,
        backbone=None,
        cache=None,
        show_progress: bool = False,
        **params,
    ):
        self.config = config
        self.tasks = tasks
        self.model = model
        self.backbone = backbone
        self.cache = cache
        self.show_progress = show_progress
        self.params = params

    def _family(self):
        # imported here: reading a saved PVI table (`report`, `group --pvi`) needs no torch
        from taskmix.models.features import feature_source

        factory, cache = feature_source(self.model, self.backbone, self.cache)
        if self.config_.mode == "probe":
            return ProbeFamily(self.config_, factory.template, cache)
        return FinetuneFamily(self.config_, factory)

    def _jobs(self, task: Task) -> list[tuple[int, tuple[str, np.ndarray], tuple[str, np.ndarray]]]:
        """(fold, (split, train rows), (split, held-out rows)) for every model pair to fit."""
        c = self.config_
        if c.split == "train":
            labels = task.splits["train"].labels
            return [
                (f, ("train", tr), ("train", te))
                for f, (tr, te) in enumerate(cross_fit_folds(labels, c.folds, c.seed))
            ]
        if c.split not in task.splits:
            raise DataError(f"task {task.name!r} has no {c.split} split")
        return [
            (
                -1,
                ("train", np.arange(len(task.splits["train"]))),
                (c.split, np.arange(len(task.splits[c.split]))),
            )
        ]

    def fit(self, suite: Suite) -> PVI:
        """Measure PVI for the tasks named by ``tasks`` (default: all of the suite); returns
        ``self``."""
        start = time.perf_counter()
        self.config_ = self.resolve(PVIConfig)
        views = [
            classification_view(suite[name], self.config_.bins)
            for name in (self.tasks or suite.names)
        ]
        jobs = {t.name: self._jobs(t) for t in views}
        family = self._family()
        frames = []
        with make_progress(self.show_progress) as bar:
            overall = bar.add_task(
                f"PVI ({self.config_.mode})", total=sum(len(j) for j in jobs.values())
            )
            detail = bar.add_task("", total=1, visible=False)

            def tick(done, total=None):
                bar.update(detail, completed=done, total=total, visible=True)

            if isinstance(family, ProbeFamily):
                for task in views:  # extract (or read) features once per split
                    for split in dict.fromkeys(
                        s for _, tr, te in jobs[task.name] for s in (tr[0], te[0])
                    ):
                        bar.update(
                            detail,
                            description=f"features {task.name}/{split}",
                            completed=0,
                            total=len(task.splits[split]) * (task.n_choices or 1),
                            visible=True,
                        )
                        family.features(task, split, progress=lambda n: bar.advance(detail, n))
                bar.update(detail, description="probes", visible=False)
                frames = self._fit_probes(family, views, jobs, lambda: bar.advance(overall))
            else:
                for task in views:
                    for fold, train, heldout in jobs[task.name]:
                        bar.update(
                            detail,
                            description=f"{task.name} fold {fold + 1 if fold >= 0 else '-'}",
                            completed=0,
                            total=1,
                        )
                        p_x, p_null = family.probabilities(task, train, heldout, progress=tick)
                        frames.append(self._rows(task, fold, heldout, p_x, p_null))
                        bar.advance(overall)
        self._set_results(
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
        )
        self.duration_s_ = time.perf_counter() - start
        log.info("PVI (%s) of %d tasks in %.1f s", self.config_.mode, len(views), self.duration_s_)
        return self

    def _fit_probes(self, family: ProbeFamily, views, jobs, done) -> list[pd.DataFrame]:
        """Every (task, fold) probe, from features already extracted: side by side on the free
        cores, each with one BLAS thread (small problems: threads inside one cost more than they
        give); the rows come back in task and fold order, whatever the order of finishing."""
        from taskmix.execute import choose_threads

        work = [(task, *job) for task in views for job in jobs[task.name]]

        def one(item):
            task, fold, train, heldout = item
            p_x, p_null = family.probabilities(task, train, heldout)
            done()
            return self._rows(task, fold, heldout, p_x, p_null)

        with threadpool_limits(1), ThreadPoolExecutor(choose_threads()) as pool:
            return list(pool.map(one, work))

    @staticmethod
    def _rows(
        task: Task, fold: int, heldout: tuple[str, np.ndarray], p_x: np.ndarray, p_null: np.ndarray
    ) -> pd.DataFrame:
        split = task.splits[heldout[0]]
        idx = heldout[1]
        y = split.labels[idx].astype(np.int64)
        rows = np.arange(len(idx))
        h_y, h_y_x = surprisal(p_null[rows, y]), surprisal(p_x[rows, y])
        names = task.label_names if task.kind == "classification" else None
        return pd.DataFrame(
            {
                "task": task.name,
                "id": [split.ids[i] for i in idx],
                "label": y,
                "label_name": [names[v] for v in y] if names else [str(v) for v in y],
                "pvi": h_y - h_y_x,
                "h_y": h_y,
                "h_y_x": h_y_x,
                "correct": p_x.argmax(-1) == y,
                "fold": fold,
            }
        )

    # ------------------------------------------------------------ results
    def _set_results(self, frame: pd.DataFrame) -> None:
        self.pvi_ = frame
        self.summary_ = summarise(frame)
        self.summary_["mode"] = self.config_.mode

    def to_frame(self) -> pd.DataFrame:
        return self.pvi_

    def values(self) -> dict[str, np.ndarray]:
        """Each task's PVI values, in suite order."""
        return {t: g["pvi"].to_numpy() for t, g in self.pvi_.groupby("task", sort=False)}

    def save(self, folder: str | Path) -> Path:
        """Write pvi.csv (per instance), summary.csv (per task) and config.json, whole or not at
        all."""
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            self.pvi_.to_csv(tmp / "pvi.csv", index=False)
            self.summary_.to_csv(tmp / "summary.csv", index=False)
            (tmp / "config.json").write_text(
                json.dumps(self.config_.model_dump(mode="json"), indent=2)
            )
        self.folder_ = folder
        return folder / "pvi.csv"

    @classmethod
    def load(cls, path: str | Path) -> PVI:
        """A fitted PVI from a saved pvi.csv (or its folder): reuse a slow fine-tuned
        measurement."""
        path = Path(path)
        if path.is_dir():
            path = path / "pvi.csv"
        if not path.exists():
            raise DataError(
                f"{path}: no such PVI table", hint="write one with `taskmix pvi SUITE --out FOLDER`"
            )
        frame = pd.read_csv(path, dtype={"id": str, "label_name": str})
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: not a PVI table (missing columns {', '.join(missing)})")
        cfg = path.parent / "config.json"
        config = PVIConfig.model_validate_json(cfg.read_text()) if cfg.exists() else PVIConfig()
        self = cls(config)
        self.config_ = config
        self._set_results(frame[COLUMNS])
        self.duration_s_ = 0.0
        self.folder_ = path.parent
        return self


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task: V-information (mean PVI, bits), its std, n, mean H(y), accuracy of g′."""
    if frame.empty:
        return pd.DataFrame(columns=["task", "v_information", "std", "n", "h_y", "accuracy"])
    return (
        frame.groupby("task", sort=False)
        .agg(
            v_information=("pvi", "mean"),
            std=("pvi", "std"),
            n=("pvi", "size"),
            h_y=("h_y", "mean"),
            accuracy=("correct", "mean"),
        )
        .reset_index()
    )


def measure(
    suite: Suite,
    config: PVIConfig | None = None,
    model: ModelConfig | None = None,
    out: str | Path = "runs",
    tasks: Sequence[str] | None = None,
    show_progress: bool = False,
    force: bool = False,
) -> tuple[PVI, Path]:
    """Measure PVI once per (suite contents, model, PVI settings) and keep it under
    ``out/pvi/<id>/``: the next command with the same inputs reads it instead of training again."""
    config = config or PVIConfig()
    model = model or ModelConfig(name=suite.model)
    names = list(tasks or suite.names)
    key = config_hash(
        {"tasks": {n: suite[n].fingerprint() for n in names}, "model": model, "pvi": config}
    )
    folder = Path(out) / "pvi" / key
    if (folder / "pvi.csv").exists() and not force:
        log.info("reusing the PVI measured in %s", folder)
        return PVI.load(folder), folder
    pvi = PVI(config, tasks=names, model=model, show_progress=show_progress).fit(suite)
    pvi.save(folder)
    return pvi, folder
