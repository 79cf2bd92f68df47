"""A real combination search through the trainer on the synthetic demo suite, killed and resumed.

    python bench/search_demo.py --json bench/out/search_demo.json

Runs `taskmix search demo --target negation_site_b` (MiniLM, --budget trials of --max-steps steps)
as a separate process, kills it with SIGKILL once --kill-after trials have finished, runs the same
command again to the end, and a third time. From the run store's trials view it checks that no
finished trial was trained again (its start and finish times are unchanged), that the search ends
with exactly --budget trials, and that the third run trains nothing. Prints the trials, the pick
and the target alone's test score. The demo's planted relative of negation_site_b is
negation_site_a.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_json  # noqa: E402

TARGET = "negation_site_b"


def trials(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as con:
        return con.execute(
            "SELECT config_hash, datasets, status, score, test_score, started, finished "
            "FROM trials ORDER BY started"
        ).fetchall()


def command(out: Path, args) -> list[str]:
    return [
        sys.executable,
        "-m",
        "taskmix.cli",
        "search",
        "demo",
        "--target",
        TARGET,
        "--budget",
        str(args.budget),
        "--max-steps",
        str(args.max_steps),
        "--surrogate",
        args.surrogate,
        "--out",
        str(out),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--surrogate", default="gp")
    ap.add_argument("--kill-after", type=int, default=4, help="finished trials before the kill")
    ap.add_argument("--out", default="bench/out/search_demo")
    ap.add_argument("--json", help="write the figures here as nested JSON")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    db = out / "taskmix.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command(out, args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while sum(r[2] == "finished" for r in trials(db)) < args.kill_after:
        if proc.poll() is not None:
            sys.exit("the search ended before it could be killed; raise --budget")
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_s = time.perf_counter() - t0
    before = {r[0]: r for r in trials(db) if r[2] == "finished"}
    print(
        f"killed after {first_s:.0f} s with {len(before)} finished trials "
        f"({sum(r[2] != 'finished' for r in trials(db))} unfinished)"
    )

    t1 = time.perf_counter()
    res = subprocess.run(command(out, args), env=env, capture_output=True, text=True)
    second_s = time.perf_counter() - t1
    if res.returncode:
        sys.exit(f"the resumed search failed:\n{res.stderr}")
    print(res.stdout)
    after = trials(db)
    unchanged = all(before[k][5:] == next(r for r in after if r[0] == k)[5:] for k in before)
    retrained = sum(1 for r in after if r[0] in before and r[5:] != before[r[0]][5:])
    trained_second = sum(1 for r in after if r[0] not in before)

    t2 = time.perf_counter()
    third = subprocess.run(command(out, args), env=env, capture_output=True, text=True)
    third_s = time.perf_counter() - t2
    final = trials(db)
    summary = json.loads((out / "search" / f"demo-{TARGET}.json").read_text())
    print(
        f"resumed: {second_s:.0f} s, trained {trained_second} trials; finished trials re-trained: "
        f"{retrained} "
        f"(times unchanged: {unchanged}); trials in the store: {len(after)} (budget {args.budget})"
    )
    print(f"third run: {third_s:.1f} s, trials in the store {len(final)}, exit {third.returncode}")
    print(
        f"pick: {TARGET} + {' + '.join(summary['best']) or '(alone)'}: dev "
        f"{summary['best_dev']:.4f}, "
        f"test {summary['best_test']:.4f}; {TARGET} alone: test {summary['alone_test']:.4f}"
    )
    write_json(
        Path(args.json) if args.json else None,
        {
            "search_demo": {
                "trials": {
                    "budget": args.budget,
                    "finished_before_kill": len(before),
                    "trained_after_resume": trained_second,
                    "retrained": retrained,
                    "in_store": len(after),
                    "in_store_after_third_run": len(final),
                },
                "seconds": {
                    "until_kill": round(first_s, 1),
                    "resume": round(second_s, 1),
                    "third_run": round(third_s, 1),
                },
                "test_score": {"pick": summary["best_test"], "alone": summary["alone_test"]},
                "pick": {"datasets": "+".join(summary["best"])},
            }
        },
    )


if __name__ == "__main__":
    main()
