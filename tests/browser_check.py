"""Open a taskmix HTML report in a real headless Chromium: every image loads (no broken one), the
tables are there, and a full-page screenshot is written for a person to look at.

    python tests/browser_check.py --out runs/demo    # a report made earlier
    python tests/browser_check.py --make             # run `taskmix demo` first (bundled MiniLM)

Installs Debian's chromium package when no browser is found and apt-get can be used. The test
``tests/test_report_browser.py`` runs the same check and is skipped when no browser is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# appended to a copy of the report: after load, count the images that did not load and the tables
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => i.getAttribute('src'));
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-broken', JSON.stringify(broken));
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
});
</script>"""


def find_browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def install_browser() -> str | None:
    """Debian's chromium, when apt-get is there and we are root."""
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            env=env,
            check=False,
            capture_output=True,
        )
    return find_browser()


def _chromium(browser: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium with a profile of its own under a short path: Chromium puts a Unix
    socket in its profile folder (at most 107 characters), so a long TMPDIR would stop it."""
    short = tempfile.mkdtemp(prefix="tmx-chromium-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--allow-file-access-from-files",
                "--virtual-time-budget=10000",
                f"--user-data-dir={short}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "TMPDIR": short},
        )
    finally:
        shutil.rmtree(short, ignore_errors=True)


def check_report(report: Path, browser: str, screenshot: Path) -> dict:
    """Load ``report/index.html`` in the browser; returns images, broken images, tables and the
    screenshot path. The probe page is a copy beside the report, removed afterwards."""
    index = report / "index.html"
    html = index.read_text(encoding="utf-8")
    probe = report / ".browser-check.html"
    probe.write_text(
        html.replace("</body>", PROBE + "</body>") if "</body>" in html else html + PROBE,
        encoding="utf-8",
    )
    try:
        done = _chromium(browser, "--dump-dom", probe.resolve().as_uri())
    finally:
        probe.unlink(missing_ok=True)
    attrs = dict(re.findall(r'data-(images|broken|tables)="([^"]*)"', done.stdout))
    if not attrs:
        raise RuntimeError(f"the browser returned no page for {index}:\n{done.stderr[-1500:]}")
    broken = [s.strip('"') for s in re.findall(r'"[^"]*"', attrs["broken"].replace("&quot;", '"'))]
    height = max(2000, 900 + 650 * int(attrs["images"]) + 30 * html.count("<tr"))
    _chromium(
        browser,
        f"--screenshot={screenshot.resolve()}",
        f"--window-size=1400,{min(height, 16000)}",
        index.resolve().as_uri(),
    )
    return {
        "images": int(attrs["images"]),
        "broken": broken,
        "tables": int(attrs["tables"]),
        "screenshot": screenshot if screenshot.exists() else None,
    }


def make_report(out: Path) -> Path:
    """A full real report: `taskmix demo` with one seed (PVI, groups, STL vs MTL; a few minutes)."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from taskmix.cli import main; main()",
            "demo",
            "--seeds",
            "1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out / "report"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, help="run folder whose report/ to check")
    ap.add_argument(
        "--make",
        action="store_true",
        help="run `taskmix demo` first (in a temporary folder) and check its report",
    )
    ap.add_argument("--screenshot", type=Path, default=Path("bench/out/report-screenshot.png"))
    a = ap.parse_args()
    browser = find_browser() or install_browser()
    if browser is None:
        print("no Chromium found and none could be installed (apt-get install chromium)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = make_report(Path(tmp) / "runs") if a.make or a.out is None else a.out / "report"
        a.screenshot.parent.mkdir(parents=True, exist_ok=True)
        r = check_report(report, browser, a.screenshot)
    print(
        f"{browser}: {r['images']} images, {len(r['broken'])} broken {r['broken'] or ''}, "
        f"{r['tables']} tables; "
        f"screenshot {r['screenshot']}"
    )
    return 0 if r["images"] and not r["broken"] and r["tables"] and r["screenshot"] else 1


if __name__ == "__main__":
    sys.exit(main())
