"""The transfer matrix (files, errors, analyses), ranking metrics and TaskShop, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from taskmix.errors import DataError
from taskmix.relate.matrix import TransferMatrix, taskweb_score
from taskmix.relate.ranking import ndcg, rank, regret_at_k
from taskmix.relate.taskshop import TaskShop, leave_one_out, selection_groupings

# ---------------------------------------------------------------- ranking metrics


def test_ndcg_hand_worked():
    gold = ["a", "b", "c"]  # relevance 3, 2, 1 → gains 7, 3, 1
    ideal = 7 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    swapped = 3 / math.log2(2) + 7 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(gold, gold) == pytest.approx(1.0)
    assert ndcg(["b", "a", "c"], gold) == pytest.approx(swapped / ideal)
    assert ndcg(["a", "c", "b"], gold) < 1.0
    # a mistake at the top costs more than the same mistake at the bottom
    assert ndcg(["b", "a", "c"], gold) < ndcg(["a", "c", "b"], gold)
    with pytest.raises(ValueError):
        ndcg(["a", "b"], gold)


def test_regret_at_k_hand_worked():
    metric = {"a": 0.9, "b": 0.8, "c": 0.6, "d": 0.5}
    gold = ["a", "b", "c", "d"]
    assert regret_at_k(gold, gold, metric, k=2) == 0.0
    # predicted top-2 = c, d: mean 0.55 against the gold top-2 mean 0.85
    assert regret_at_k(["c", "d", "a", "b"], gold, metric, k=2) == pytest.approx(
        100 * (0.85 - 0.55) / 0.85
    )
    assert regret_at_k(["b", "a", "d", "c"], gold, metric, k=2) == pytest.approx(
        0.0
    )  # same set, other order


def test_rank_breaks_ties_alphabetically_and_drops_missing():
    assert rank(pd.Series({"c": 1.0, "a": 1.0, "b": 2.0, "d": np.nan})) == ["b", "a", "c"]


# ---------------------------------------------------------------- TaskShop on a 4-task toy matrix


def toy_matrix() -> TransferMatrix:
    """T(s → t) for tasks a, b, c, d; rows are (target, source, pc, pm)."""
    pc = {
        ("b", "a"): 0.10,
        ("c", "a"): 0.02,
        ("a", "b"): -0.04,
        ("c", "b"): 0.06,
        ("a", "c"): 0.00,
        ("b", "c"): 0.08,
        ("a", "d"): 0.20,
        ("b", "d"): -0.10,
        ("c", "d"): 0.04,
    }
    pm = {k: (1.0 if v > 0 else 0.0) for k, v in pc.items()}
    return TransferMatrix.from_records([(t, s, pc[t, s], pm[t, s]) for (t, s) in pc])


def test_taskshop_on_a_toy_matrix_by_hand():
    m = toy_matrix()
    T = lambda s, t: m.score(s, t)  # noqa: E731
    F = pd.Series({"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.2})  # F(x → new)
    shop = TaskShop(lam=0.7).fit(m)
    got = shop.predict("new", F)
    # source a: pivots = matrix targets other than a (b, c)
    pivot_a = ((T("a", "b") + F["b"]) / 2 + (T("a", "c") + F["c"]) / 2) / 2
    assert got.loc["a", "score"] == pytest.approx(0.7 * pivot_a + 0.3 * F["a"])
    assert got.loc["a", "pivots"] == 2
    # source d is source-only (never a target): pivots a, b, c
    pivot_d = np.mean([(T("d", p) + F[p]) / 2 for p in "abc"])
    assert got.loc["d", "score"] == pytest.approx(0.7 * pivot_d + 0.3 * F["d"])
    assert got.loc["d", "pivots"] == 3
    # d is never a pivot: it has no measured incoming transfers
    assert got.loc["b", "pivots"] == 2
    assert list(got.index) == rank(got["score"])
    # λ = 0 is F alone; λ = 1 the pivots alone
    assert list(TaskShop(lam=0).fit(m).predict("new", F).index) == ["a", "b", "d", "c"]
    assert TaskShop(lam=1).fit(m).predict("new", F).loc["a", "score"] == pytest.approx(pivot_a)


def test_taskshop_is_directional():
    m = toy_matrix()
    F = pd.DataFrame(
        {
            "a": [np.nan, 0.4, 0.2],
            "b": [0.4, np.nan, 0.3],
            "c": [0.2, 0.3, np.nan],
            "d": [0.1, 0.1, 0.1],
        },
        index=["a", "b", "c"],
    )
    # with a symmetric F, the estimates of a → b and b → a still differ, because T is not symmetric
    ab = TaskShop().fit(m.without("b")).predict("b", F.loc["b"]).loc["a", "score"]
    ba = TaskShop().fit(m.without("a")).predict("a", F.loc["a"]).loc["b", "score"]
    assert ab != pytest.approx(ba)


def test_leave_one_out_never_uses_the_targets_own_row():
    m = toy_matrix()
    F = pd.DataFrame({s: {t: 0.3 for t in "abc" if t != s} for s in "abcd"})
    r1 = leave_one_out(m, F)
    # change only b's own row: b's TaskShop ranking must not move
    f = m.frame.copy()
    f.loc[f.target == "b", "score"] = [5.0, -5.0, 0.0]
    r2 = leave_one_out(TransferMatrix(f), F)
    assert r1.loc["b", "top_taskshop"] == r2.loc["b", "top_taskshop"]
    assert r1.loc["b", "ndcg_taskshop"] != r2.loc["b", "ndcg_taskshop"]  # the gold did change


def test_selection_groupings():
    g = selection_groupings(["s1", "s2", "s3", "s4", "s5"], "t", k=2, seed=1)
    assert g["taskshop"] == [["t", "s1", "s2"]] and g["bottom"] == [["t", "s4", "s5"]]
    assert g["all"] == [["t", "s1", "s2", "s3", "s4", "s5"]]
    assert (
        len(g["random"][0]) == 3
        and g["random"] == selection_groupings(["s1", "s2", "s3", "s4", "s5"], "t", 2, 1)["random"]
    )


# ---------------------------------------------------------------- the matrix as a file


def test_matrix_round_trips_through_csv_and_parquet(tmp_path):
    m = toy_matrix()
    for name in ("m.csv", "m.parquet"):
        back = TransferMatrix.load(m.save(tmp_path / name))
        pd.testing.assert_frame_equal(back.frame, m.frame, check_dtype=False)
        assert back.score("a", "b") == pytest.approx(taskweb_score(0.10, 1.0))


def test_published_taskweb_format_is_imported(tmp_path):
    (tmp_path / "tw.csv").write_text(
        "target,source,adaptation,model,pc_mean_rel_change,pm_frac_seeds_positive\n"
        "a,b,finetune,t5l,0.1,0.5\nb,a,finetune,t5l,-0.2,0.25\na,b,ALL,ALL,0.0,0.5\n"
    )
    m = TransferMatrix.load(tmp_path / "tw.csv")
    assert m.settings == ["finetune/t5l", "ALL/ALL"]
    one = m.select("finetune/t5l")
    assert one.score("b", "a") == pytest.approx(0.5 * 0.1 + 0.5 * (0.2 * 0.5 - 0.1))
    with pytest.raises(DataError, match="several settings"):
        m.scores()
    with pytest.raises(DataError, match="no setting 'lora'"):
        m.select("lora")


@pytest.mark.parametrize(
    "text, message",
    [
        ("target,source,pm\na,b,0.5\n", "missing column.*pc"),
        (
            "target,source,pc,pm\na,b,0.1,0.5\na,zzz,0.1,0.5\n",
            "row 2: unknown task 'zzz' in column 'source'",
        ),
        (
            "target,source,pc,pm\na,b,0.1,0.5\nb,a,high,0.5\n",
            "row 2: column 'pc' is 'high', not a number",
        ),
        ("target,source,pc,pm\na,a,0.1,0.5\n", "row 1: 'a' is its own source"),
        ("target,source,pc,pm\na,b,0.1,1.5\n", "row 1: pm is 1.5"),
        (
            "target,source,pc,pm\na,b,0.1,0.5\na,b,0.2,0.5\n",
            "row 2: the pair b → a .* appears twice",
        ),
        ("target,source,pc,pm\n,b,0.1,0.5\n", "row 1: column 'target' is empty"),
    ],
)
def test_malformed_matrix_files_get_clear_errors(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as e:
        TransferMatrix.load(path, tasks=["a", "b"])
    assert str(path) in str(e.value)


def test_missing_matrix_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        TransferMatrix.load(tmp_path / "nope.csv")
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(DataError, match="unknown matrix format"):
        TransferMatrix.load(tmp_path / "m.json")


# ---------------------------------------------------------------- the paper's analyses


def test_commutativity_counts_pairs_measured_both_ways():
    c = toy_matrix().commutativity()
    # pairs both ways: (a,b): +0.10 / −0.04 → differ; (a,c): +0.02 / 0.00·→ score −0.05 differ;
    # (b,c): + / + same
    assert c["pairs"] == 3 and c["same_sign"] == 1


def test_transitivity_conditions_on_both_legs():
    # a → b and b → c help; a → c helps. x → y hurts everywhere else.
    rows = [
        ("b", "a", 0.3, 1.0),
        ("c", "b", 0.3, 1.0),
        ("c", "a", 0.3, 1.0),
        ("a", "b", -0.3, 0.0),
        ("b", "c", -0.3, 0.0),
        ("a", "c", -0.3, 0.0),
    ]
    t = TransferMatrix.from_records(rows).transitivity(thresholds=[0.0, 0.5])
    assert t.loc[0, "triples"] == 1 and t.loc[0, "p_positive"] == 1.0  # only a → b → c qualifies
    assert t.loc[0, "baseline"] == pytest.approx(0.5)
    assert t.loc[1, "triples"] == 0 and math.isnan(t.loc[1, "p_positive"])
