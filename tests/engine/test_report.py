"""The solve report: valid, self-contained HTML with embedded PNGs, working script, atomic writes."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from tests.engine.blocks_domain import make_domain, render
from treediff.engine.evaluation.solvereport import MAX_FRAMES, frames_of, render_report, write_report
from treediff.engine.search.solve import solve

VOID = {"meta", "img", "input", "br", "hr", "link"}


class Checker(HTMLParser):
    """Collects images, scripts and tag-balance errors."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.ids: set[str] = set()
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "script":
            self._script = a
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._script is not None and self.stack and self.stack[-1] == "script":
            self.scripts.append((self._script, data))
            self._script = None


@pytest.fixture(scope="module")
def solved():
    d = make_domain()
    target = render(d, d.test_targets(1, 21)[0])
    result = solve(d, target, "mutation", budget=400, seed=1)
    assert result.solved and len(result.trajectory) >= 2
    return d, target, result


def parse_html(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    return checker


def test_report_is_balanced_html_with_embedded_pngs(solved, tmp_path):
    d, target, result = solved
    path = tmp_path / "r.html"
    write_report(path, d, target, result, d.make_executor("cpu"), title="a <test> & more")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = parse_html(text)
    assert page.errors == [] and page.stack == []
    assert {"frame", "frame-slider", "frame-play", "frames"} <= page.ids
    # target, best, animation frame, and one per trajectory step
    assert len(page.images) == 3 + len(result.trajectory)
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "a &lt;test&gt; &amp; more" in text and "<test>" not in text
    assert str(result.program) in text and "solved" in text
    assert not list(tmp_path.glob(".*tmp"))


def test_frames_json_lists_target_and_every_step(solved):
    d, target, result = solved
    page = parse_html(render_report(d, target, result, d.make_executor("cpu")))
    frames = [json.loads(body) for attrs, body in page.scripts if attrs.get("type") == "application/json"][0]
    assert len(frames) == 1 + len(result.trajectory)
    assert frames[0]["caption"] == "target" and str(result.program) in frames[-1]["caption"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_script_runs_without_errors_in_node_with_a_minimal_dom(solved, tmp_path):
    d, target, result = solved
    page = parse_html(render_report(d, target, result, d.make_executor("cpu")))
    frames = [body for attrs, body in page.scripts if attrs.get("type") == "application/json"][0]
    code = [body for attrs, body in page.scripts if not attrs.get("type")][0]
    harness = """
var els = {}, listeners = {};
function el(id) { return els[id] || (els[id] = {id: id, value: '0', textContent: '', innerHTML: '',
  addEventListener: function (ev, fn) { listeners[id + ':' + ev] = fn; },
  click: function () { listeners[id + ':click'](); }}); }
var document = {getElementById: function (id) { return el(id); }};
el('frames').textContent = FRAMES;
var ticks = [];
function setInterval(fn, ms) { ticks.push(fn); return 1; }
function clearInterval(t) {}
CODE
ticks[0](); ticks[0]();
listeners['frame-slider:input'](el('frame-slider').value = '1');
if (el('frame').innerHTML.indexOf('data:image/png') < 0) throw new Error('no frame shown');
el('frame-play').click();
if (el('frame-play').textContent !== 'play') throw new Error('pause failed');
console.log('ok ' + el('frame-caption').textContent);
""".replace("FRAMES", json.dumps(frames)).replace("CODE", code)
    script = tmp_path / "check.js"
    script.write_text(harness, encoding="utf-8")
    run = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok step 0")


def test_failed_rendering_writes_no_report(solved, tmp_path):
    _, target, result = solved
    d = make_domain()

    def broken(observation):
        raise OSError("disk full")

    d.storage.preview = broken
    path = tmp_path / "r.html"
    with pytest.raises(OSError):
        write_report(path, d, target, result, d.make_executor("cpu"))
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_text_previews_are_shown_as_text_without_images(solved):
    from treediff import Preview

    d, target, result = solved
    d2 = make_domain()
    d2.storage.preview = lambda obs: Preview("text/plain", f"<cells {int(obs.sum())}>")
    text = render_report(d2, target, result, d.make_executor("cpu"))
    page = parse_html(text)
    assert page.errors == [] and page.images == []
    assert '<pre class="obs">&lt;cells ' in text and "<cells" not in text.split("<script")[0]


def test_domains_without_a_preview_show_values_as_text(solved):
    d, target, result = solved
    d2 = make_domain()
    d2.storage.preview = None
    text = render_report(d2, target, result, d.make_executor("cpu"))
    assert parse_html(text).images == [] and '<pre class="obs">' in text


def test_long_trajectories_are_subsampled_keeping_both_ends():
    steps = list(range(1000))
    shown = frames_of(steps)  # type: ignore[arg-type]
    assert len(shown) <= MAX_FRAMES and shown[0] == 0 and shown[-1] == 999
