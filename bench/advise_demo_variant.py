"""Is the demo's shortfall the advisor's or the demo's? `taskmix advise` on a variant of the demo
suite whose planted groups are the only structure in its data.

    python bench/advise_demo_variant.py --out bench/out/advise_demo_variant \
        --json bench/out/advise_demo_variant.json

The demo suite (taskmix.data.synthetic) holds a structure its ``groups`` do not declare: the
negation and uncertainty tasks of one site share their negative class's templates (both site-A
tasks label ``POS_A`` phrases as class 0, both site-B tasks ``POS_B``; modality's *actual* class
uses both), and uncertainty_site_a is at the ceiling alone. The variant changes only that:

- the uncertainty tasks' *certain* class and modality's *actual* class use their own affirmed
  templates (``CERT_A`` / ``CERT_B``), so a negation task shares label-bearing phrases only with
  the other negation task, an uncertainty task only with its group;
- uncertainty_site_a's test split, like uncertainty_site_b's, draws half its positives from the
  other site's hedge cues, rare in its own training data (so its group can help it).

Everything else — sizes, label noise, styles, the general tasks, seeds — is the demo's. The
advisor runs with `taskmix advise`'s defaults (fitted advisor, budget 24 runs) into a fresh run
store; the script prints the advice and whether it recovers the planted groups.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import write_json  # noqa: E402

from taskmix.config import AdviseConfig, ModelConfig, RunConfig  # noqa: E402
from taskmix.data import synthetic as syn  # noqa: E402
from taskmix.data.suite import Suite  # noqa: E402
from taskmix.evaluate.advise import Advisor  # noqa: E402

CERT_A = ["{f} confirmed", "known {f}", "{f} present", "dx {f}", "{f} on imaging", "+ve {f}"]
CERT_B = [
    "imaging confirmed {f}",
    "the diagnosis of {f} was made",
    "{f} is present",
    "she has known {f}",
    "{f} was documented",
    "the workup showed {f}",
]


def variant_suite(seed: int = 13) -> Suite:
    """The demo suite with only its planted structure (see the module docstring)."""
    rng = np.random.default_rng(seed)

    def sizes(train: int, dev: int = 80, test: int = 200) -> dict[str, int]:
        return {"train": train, "dev": dev, "test": test}

    site = syn._site_task
    tasks = [
        syn._make(
            "negation_site_a",
            site(
                rng,
                sizes(400),
                "a",
                0.35,
                0.03,
                syn.NEG_SHARED,
                syn.NEG_A,
                syn.NEG_B,
                syn.POS_A,
                False,
            ),  # fmt: skip
            ["affirmed", "negated"],
            "Is the finding in this site A note negated?",
        ),
        syn._make(
            "negation_site_b",
            site(
                rng,
                sizes(100),
                "b",
                0.35,
                0.10,
                syn.NEG_SHARED,
                syn.NEG_B,
                syn.NEG_A,
                syn.POS_B,
                True,
            ),  # fmt: skip
            ["affirmed", "negated"],
            "Is the finding in this site B note negated?",
        ),
        syn._make(
            "uncertainty_site_a",
            site(
                rng,
                sizes(300),
                "a",
                0.3,
                0.05,
                syn.HEDGE_SHARED,
                syn.HEDGE_A,
                syn.HEDGE_B,
                CERT_A,
                True,
            ),  # fmt: skip
            ["certain", "uncertain"],
            "Is the finding in this site A note stated with uncertainty?",
        ),
        syn._make(
            "uncertainty_site_b",
            site(
                rng,
                sizes(100),
                "b",
                0.3,
                0.12,
                syn.HEDGE_SHARED,
                syn.HEDGE_B,
                syn.HEDGE_A,
                CERT_B,
                True,
            ),  # fmt: skip
            ["certain", "uncertain"],
            "Is the finding in this site B note stated with uncertainty?",
        ),
        syn._make(
            "modality",
            {s: syn._modality(rng, k, CERT_A + CERT_B) for s, k in sizes(200).items()},
            ["actual", "hypothetical", "hedged", "generic"],
            "Tell me the modality of the finding in this note:",
        ),
        syn._make(
            "sentiment",
            {s: syn._sentiment(rng, k) for s, k in sizes(200).items()},
            ["negative", "positive"],
            "Tell me the sentiment of the review:",
        ),
        syn._make(
            "topic",
            {s: syn._topic(rng, k) for s, k in sizes(200).items()},
            list(syn.TOPICS),
            "Tell me the topic of the headline:",
        ),
    ]
    groups = {
        "negation": ["negation_site_a", "negation_site_b"],
        "uncertainty": ["uncertainty_site_a", "uncertainty_site_b", "modality"],
    }
    return Suite("demo_variant", tasks, model="minilm", groups=groups, source="bench")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="bench/out/advise_demo_variant")
    ap.add_argument("--budget", type=int, default=AdviseConfig().budget_runs)
    ap.add_argument("--fresh", action="store_true", help="delete --out first (timed from nothing)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.fresh:
        shutil.rmtree(a.out, ignore_errors=True)
    suite = variant_suite()
    run = RunConfig(
        model=ModelConfig(name=suite.model), out=a.out, advise=AdviseConfig(budget_runs=a.budget)
    )
    start = time.monotonic()
    advice = Advisor(run).advise(suite)
    minutes = (time.monotonic() - start) / 60
    cols = ["group", "proposed", "predicted", "seeds", "delta", "delta_ci", "verdict"]
    print(advice.groups[[*cols, "expected", "recommended"]].to_string(index=False))
    for note in advice.notes:
        print(note)
    planted = sorted(sorted(g) for g in suite.groups.values())
    got = sorted(sorted(g) for g in advice.recommended if len(g) > 1)
    print(f"recommended: {'; '.join('+'.join(g) for g in got) or 'every task alone'}")
    print(f"planted groups recovered: {got == planted} ({advice.runs} runs, {minutes:.1f} min)")
    if a.json:
        write_json(
            a.json,
            {
                "advise_demo_variant": {
                    "recovered": {"planted_groups": got == planted},
                    "runs": {"demo_variant": advice.runs},
                    "minutes": {"demo_variant": round(minutes, 1)},
                    "verdict": dict(zip(advice.groups.group, advice.groups.verdict, strict=True)),
                    "recommended": {"demo_variant": "; ".join("+".join(g) for g in got)},
                }
            },
        )


if __name__ == "__main__":
    main()
