"""The HTML report in a real headless Chromium: every image loads, the tables are there, and a
screenshot is taken. Skipped when no browser is installed (`python tests/browser_check.py`
installs Debian's chromium)."""

from __future__ import annotations

import pytest

from browser_check import check_report, find_browser
from conftest import run_cli

pytestmark = pytest.mark.browser


def test_report_renders_every_plot_and_table(
    monkeypatch, capsys, keyword_suite, tiny_model_dir, tmp_path
):
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chromium installed")
    out = tmp_path / "runs"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "train",
        keyword_suite,
        "--groups",
        "a,b",
        "--seeds",
        "1,2",
        "--model",
        tiny_model_dir,
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--out",
        out,
    )
    assert code == 0, err
    assert run_cli(monkeypatch, capsys, "report", "--out", out)[0] == 0
    html = (out / "report" / "index.html").read_text()
    result = check_report(out / "report", browser, tmp_path / "shot.png")
    assert result["images"] == html.count("<img") >= 1 and result["broken"] == []
    assert result["tables"] == html.count("<table") >= 2
    assert result["screenshot"] is not None and result["screenshot"].stat().st_size > 10_000
    # the check sees a broken image when there is one
    img = next((out / "report").glob("*.png"))
    img.write_bytes(b"not a png")
    assert check_report(out / "report", browser, tmp_path / "shot2.png")["broken"] == [img.name]
