"""How often `taskmix advise`'s verdicts are wrong when it adds seeds until a verdict settles:
the product's own `judge` (95% paired t CI, TOST within the margin) looked at after every seed,
simulated on per-seed differences drawn with a known true difference.

    python bench/sequential_verdicts.py --json bench/out/sequential_verdicts.json

`advise` checks a group on 2 seeds and then gives an inconclusive verdict more seeds, one at a
time, up to ``max_seeds`` (6): first only where its ≈N seeds is at most 6 (*settle only*), then,
while the budget lasts, any (*to the cap*). With ``looks: each`` every look is a test at
α = 0.05, so a group with no true difference is called *helps* or *hurts* more often than 5% of
the time; with ``looks: spend`` (the default) α is spent over the looks (`taskmix.stats.Looks`).
Beside the two sequential rules: one look at 2 seeds and one at 6. The seed spread (2.26
points: how far one seed's gain of a pair falls from its mean in the advisor's ground truth) and
the margin (1 point, the default) are the real suite's; the true differences are 0 (the false
verdict rate), the margin, and 1 and 2 seed spreads (the power).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import write_json  # noqa: E402

from taskmix.stats import Looks, judge  # noqa: E402


def verdict(x: np.ndarray, rule: str, margin: float, first: int, cap: int, alpha) -> str:
    """The word ``rule`` ends on for the per-seed differences ``x`` (``cap`` of them drawn):
    a fixed number of seeds, or seeds added one at a time from ``first`` while inconclusive;
    each look at ``alpha`` (a number, or :class:`Looks`)."""
    if rule.startswith("fixed"):
        return judge(x[: int(rule.split()[1])], margin, alpha).word
    n = first
    while True:
        v = judge(x[:n], margin, alpha)
        settle = v.needed is not None and v.needed <= cap
        if v.word != "inconclusive" or n >= cap or (rule == "settle only" and not settle):
            return v.word
        n += 1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sims", type=int, default=20000, help="simulated groups per true difference")
    ap.add_argument("--seed-sd", type=float, default=2.26, help="points")
    ap.add_argument("--margin", type=float, default=1.0, help="points")
    ap.add_argument("--min-seeds", type=int, default=2)
    ap.add_argument("--max-seeds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    rules = [f"fixed {a.min_seeds}", f"fixed {a.max_seeds}", "settle only", "to the cap"]
    truths = {
        "0": 0.0,
        "margin": a.margin,
        "1 sd": a.seed_sd,
        "2 sd": 2 * a.seed_sd,
    }
    levels = {"each": 0.05, "spend": Looks(a.min_seeds, a.max_seeds)}
    figures: dict = {}
    print(
        f"{a.sims} simulated groups per true difference; seed sd {a.seed_sd} points, margin "
        f"{a.margin}; verdict rates (helps / hurts / equivalent / inconclusive):"
    )
    for label, delta in truths.items():
        draws = delta + a.seed_sd * rng.standard_normal((a.sims, a.max_seeds))
        print(f"  true difference {label} ({delta:.2f} points)")
        for looks, alpha in levels.items():
            for rule in rules:
                words = [verdict(x, rule, a.margin, a.min_seeds, a.max_seeds, alpha) for x in draws]
                rates = {
                    w: float(np.mean([v == w for v in words]))
                    for w in ("helps", "hurts", "equivalent", "inconclusive")
                }
                for w, r in rates.items():
                    at = figures.setdefault(looks, {}).setdefault(rule, {})
                    at.setdefault(w, {})[label] = round(r, 4)
                shown = "  ".join(f"{w} {100 * r:5.1f}%" for w, r in rates.items())
                print(f"    looks {looks:5s} {rule:12s} {shown}")
    write_json(a.json, figures)


if __name__ == "__main__":
    main()
