"""Progress written as plain lines when output is not a terminal (a file or a pipe)."""

from __future__ import annotations

import io

from taskmix.progress import PlainProgress, make_progress


def test_plain_lines_per_tenth_and_per_run():
    out = io.StringIO()
    with PlainProgress(out) as bar:
        runs = bar.add_task("runs", total=2)
        steps = bar.add_task("steps", total=1, visible=False)
        for run in ("stl:a seed 1", "stl:b seed 1"):
            bar.update(steps, description=run, completed=0, visible=True)
            for s in range(1, 101):
                bar.update(steps, completed=s, total=100)
            bar.advance(runs)
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines[0] == "runs: 0/2" and lines[1] == "stl:a seed 1"
    assert lines[2:12] == [f"stl:a seed 1: {k}/100" for k in range(10, 101, 10)]
    assert lines[12] == "runs: 1/2" and lines[-1] == "runs: 2/2"
    assert len(lines) == 2 * 11 + 1 + 2  # start lines, ten marks per run, the run counts


def test_small_totals_report_every_step_and_nothing_twice():
    out = io.StringIO()
    bar = PlainProgress(out)
    t = bar.add_task("features", total=3)
    for _ in range(3):
        bar.advance(t)
    bar.update(t, visible=False)
    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == [
        "features: 0/3",
        "features: 1/3",
        "features: 2/3",
        "features: 3/3",
    ]


def test_not_a_terminal_gives_plain_progress_and_hidden_gives_none():
    assert isinstance(
        make_progress(True), PlainProgress
    )  # pytest's captured output is not a terminal
    assert not isinstance(make_progress(False), PlainProgress)
