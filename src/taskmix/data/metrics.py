"""Scores of one model's predictions on one task: accuracy and macro-F1, Pearson and Spearman,
exact-match precision / recall / F1 of generated answers. (Statistics over seeds are in
:mod:`taskmix.evaluate.metrics`.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskmix.data.task import Task


def task_metrics(task: Task, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (classification, multiple choice) or Pearson/Spearman (regression).

    >>> from taskmix.data.task import Task
    >>> t = Task("t", "classification", {}, label_names=["a", "b"])
    >>> task_metrics(t, np.array([0, 1, 1]), np.array([0, 1, 0]))["accuracy"]
    0.6666666666666666
    """
    # imported here: `taskmix compare` reads this module's constants and starts faster without
    from scipy import stats
    from sklearn.metrics import accuracy_score, f1_score

    if task.kind == "regression":
        p, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
        if np.ptp(p) == 0 or np.ptp(y) == 0:  # a constant prediction has no correlation
            return {"pearson": 0.0, "spearman": 0.0, "mse": float(np.mean((p - y) ** 2))}
        return {
            "pearson": float(stats.pearsonr(p, y)[0]),
            "spearman": float(stats.spearmanr(p, y)[0]),
            "mse": float(np.mean((p - y) ** 2)),
        }
    n = task.num_labels if task.kind == "classification" else (task.n_choices or 2)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(
            f1_score(labels, predictions, average="macro", labels=list(range(n)), zero_division=0)
        ),
    }


def exact_match_prf(predicted: Sequence[frozenset], gold: Sequence[frozenset]) -> dict[str, float]:
    """Micro precision, recall and F1 of predicted items against gold items by exact match
    (summed over examples), and the share of examples whose item sets are equal.

    >>> predicted = [frozenset({"a", "b"}), frozenset()]
    >>> m = exact_match_prf(predicted, [frozenset({"a"}), frozenset({"c"})])
    >>> m["precision"], m["recall"], m["f1"], m["exact"]  # 1 of 2 predicted right, 1 of 2 found
    (0.5, 0.5, 0.5, 0.0)
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} examples")
    hit = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    precision = hit / n_pred if n_pred else 0.0
    recall = hit / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)])) if gold else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "exact": exact}


def answer_metrics(task: Task, answers: Sequence[str], labels: np.ndarray) -> dict[str, float]:
    """Metrics of a generative model's answers (texts, end marker cut) to examples of ``task``
    whose gold ``labels`` (label ids, or answer texts) are given:
    a classification task's answers are read as labels by its verbaliser (an answer naming no
    label is wrong; ``invalid`` is their share) and scored like a task head's predictions, plus
    exact-match P/R/F1; a generation task's answers are parsed into items and scored by exact
    match (micro P/R/F1, ``exact``: the share of answers whose items all match)."""
    from taskmix.data.prompt import Verbaliser, parse_answer

    if task.kind == "classification":
        verbaliser = Verbaliser.for_task(task)
        ids = [verbaliser.to_label(a) for a in answers]
        pred = np.array([-1 if i is None else i for i in ids])
        out = task_metrics(task, pred, labels)
        out["invalid"] = float(np.mean(pred < 0)) if len(pred) else 0.0
        gold_items = [frozenset({int(y)}) for y in labels]
        pred_items = [frozenset() if i is None else frozenset({i}) for i in ids]
        return {**out, **exact_match_prf(pred_items, gold_items)}
    return exact_match_prf(
        [parse_answer(a) for a in answers], [parse_answer(str(y)) for y in labels]
    )


#: how close to the majority-class score a model counts as having learned nothing
MAJORITY_TOLERANCE = 0.01


def majority_metrics(
    task: Task, split: str = "test", rows: np.ndarray | None = None
) -> dict[str, float] | None:
    """The metrics of always answering the most frequent training label (classification, multiple
    choice) on ``split`` (only its ``rows``, if given): the level a model that learned nothing
    reaches. None for other kinds (a constant regression has no correlation) or when a split is
    missing."""
    if task.kind not in ("classification", "multiple_choice") or not {"train", split} <= set(
        task.splits
    ):
        return None
    train = np.asarray(task.splits["train"].labels)
    labels = np.asarray(task.splits[split].labels)
    if rows is not None:
        labels = labels[rows]
    if not len(train) or not len(labels):
        return None
    values, counts = np.unique(train, return_counts=True)
    return task_metrics(task, np.full(len(labels), values[np.argmax(counts)]), labels)
