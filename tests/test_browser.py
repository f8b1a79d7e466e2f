"""The HTML pages in a real browser (issue 10): a `treediff solve --report` page and the `treediff demo` index
load in headless Chromium with no console message, the trajectory animation advances, and screenshots are
not blank. Skipped when no Chromium binary exists (`.ci/run` installs Debian's `chromium`)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from treediff.engine import cli

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install "
                                "chromium; .ci/run installs it)")
TICK_MS = 700  # the report's animation interval (engine/evaluation/solvereport.py SCRIPT)


def _chromium(page: Path, profile: Path, *args: str) -> str:
    """Load ``page`` headless with ``args``; returns stdout. Fails on any console message (errors, uncaught
    exceptions, failed loads: Chromium logs them as ``CONSOLE`` lines on stderr with --enable-logging)."""
    assert CHROMIUM is not None
    run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
                          f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--window-size=1000,900",
                          *args, page.as_uri()], capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-3000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    return run.stdout


def _not_blank(shot: Path) -> None:
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 1, f"{shot} is one colour"
    if colours is not None:  # and not almost so: something beyond the background is drawn
        assert sum(n for n, _ in sorted(colours)[:-1]) > 0.01 * sum(n for n, _ in colours), colours[:5]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pages")
    report = out / "report.html"
    target = ROOT / "plugins" / "csg2d" / "targets" / "target1.png"
    assert cli.main(["solve", "csg2d", str(target), "--budget", "24", "--report", str(report)]) == 0
    assert cli.main(["demo", "--budget", "8", "--domains", "csg2d", "--out", str(out / "demo")]) == 0
    return {"report": report, "index": out / "demo" / "index.html"}


def test_the_solve_report_animates_in_chromium_without_console_errors(pages: dict[str, Path], tmp_path: Path) -> None:
    page = pages["report"].read_text(encoding="utf-8")
    frames = json.loads(re.search(r'<script type="application/json" id="frames">(.*?)</script>', page, re.S)[1])
    assert len(frames) >= 2 and '<p id="frame-caption">target</p>' in page
    # one tick of the animation in virtual time: the second frame is shown and playing goes on
    dom = _chromium(pages["report"], tmp_path / "profile", f"--virtual-time-budget={TICK_MS + TICK_MS // 2}",
                    "--dump-dom")
    caption = re.search(r'<p id="frame-caption">(.*?)</p>', dom, re.S)
    assert caption is not None and html.unescape(caption[1]) == frames[1]["caption"], caption
    shown = re.search(r'<div id="frame">(.*?)</div>', dom, re.S)
    src = re.search(r'src="(data:image/png;base64,[^"]{0,80})', frames[1]["html"])
    assert shown is not None and src is not None and src[1] in shown[1]
    assert re.search(r'<button id="frame-play" type="button">pause</button>', dom)
    shot = tmp_path / "report.png"
    _chromium(pages["report"], tmp_path / "profile", f"--virtual-time-budget={TICK_MS}", f"--screenshot={shot}")
    _not_blank(shot)


def test_the_demo_index_loads_in_chromium_without_console_errors(pages: dict[str, Path], tmp_path: Path) -> None:
    dom = _chromium(pages["index"], tmp_path / "profile", "--virtual-time-budget=500", "--dump-dom")
    links = re.findall(r'<a href="([^"]+)">', dom)
    assert links and "targets solved" in dom and dom.count('src="data:image/png;base64,') >= 2
    assert all((pages["index"].parent / html.unescape(link)).is_file() for link in links), links
    shot = tmp_path / "index.png"
    _chromium(pages["index"], tmp_path / "profile", f"--screenshot={shot}")
    _not_blank(shot)
    report = pages["index"].parent / html.unescape(links[0])  # a report the demo wrote, as linked
    _chromium(report, tmp_path / "profile", f"--virtual-time-budget={TICK_MS * 2}", "--dump-dom")
