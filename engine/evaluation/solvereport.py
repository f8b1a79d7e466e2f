"""HTML reports: one solve (the target, every accepted edit as an observation with its program, an animation),
and an index page linking many such reports (``treediff demo``).

The engine stays domain-free: each observation is shown through the domain's own preview
(``Domain.preview``: an image embedded as a ``data:`` URI, preformatted text, or an HTML snippet). The page
is self-contained (no external resources) and written atomically.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.files import write_text
from treediff.engine.search.result import SolveResult, Step
from treediff.engine.trees.tree import Edit, Node

MAX_FRAMES = 120

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
img{image-rendering:pixelated;width:160px;height:auto;border:1px solid #999;background:#fff}
code{font-size:.9em;word-break:break-all} .ok{color:#070;font-weight:bold} .no{color:#a00;font-weight:bold}
.thumb img{width:96px} .pair{display:flex;gap:1.5em;align-items:flex-start} .anim img{width:256px}
pre.obs{font-size:.8em;max-width:40em;max-height:16em;overflow:auto;background:#f6f6f6;padding:4px;margin:0}
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('frames').textContent);
  var frame = document.getElementById('frame');
  var cap = document.getElementById('frame-caption');
  var slider = document.getElementById('frame-slider');
  var button = document.getElementById('frame-play');
  var i = 0, timer = null;
  function show(k) {
    i = k; slider.value = String(k);
    frame.innerHTML = data[k].html; cap.textContent = data[k].caption;
  }
  function tick() { show((i + 1) % data.length); }
  button.addEventListener('click', function () {
    if (timer) { clearInterval(timer); timer = null; button.textContent = 'play'; }
    else { timer = setInterval(tick, 700); button.textContent = 'pause'; }
  });
  slider.addEventListener('input', function () { show(parseInt(slider.value, 10)); });
  if (data.length) { show(0); button.click(); }
})();
"""


def observation_previews(domain: Domain, observations: torch.Tensor, alt: str = "observation") -> list[str]:
    """HTML snippets showing observations ``[B, *S]`` through the domain's preview (``Domain.preview``)."""
    return [domain.preview(observations[i]).html(alt) for i in range(observations.shape[0])]


def frames_of(trajectory: Sequence[Step], limit: int = MAX_FRAMES) -> list[Step]:
    """The steps shown: all of them, or ``limit`` evenly spaced ones including the first and the last."""
    steps = list(trajectory)
    if len(steps) <= limit:
        return steps
    idx = sorted({round(k * (len(steps) - 1) / (limit - 1)) for k in range(limit)})
    return [steps[k] for k in idx]


def render_report(domain: Domain, target: torch.Tensor, result: SolveResult, executor: Executor,
                  title: str = "treediff solve", target_label: str = "") -> str:
    """The report page as a string (executes the shown programs once more, outside any budget)."""
    steps = frames_of(result.trajectory)
    programs: list[Node] = [s.program for s in steps]
    with torch.no_grad():
        observations = executor.execute(programs) if programs else None
    stack = [target.detach().cpu()[None]]
    if observations is not None:
        stack.append(observations.detach().cpu())
    previews = observation_previews(domain, torch.cat(stack))
    target_uri, step_uris = previews[0], previews[1:]
    frames = [{"html": target_uri, "caption": "target"}]
    frames += [{"html": uri, "caption": f"step {k}: {step.program}"}
               for k, (step, uri) in enumerate(zip(steps, step_uris))]
    best = str(result.program) if result.program is not None else "(no program executed)"
    verdict = '<span class="ok">solved</span>' if result.solved else '<span class="no">not solved</span>'
    parts = [
        "<p>" + " · ".join([f"domain <b>{html.escape(domain.name)}</b>", f"method <b>{html.escape(result.method)}</b>",
                            verdict, f"{result.renderer_calls} renderer calls",
                            f"{result.seconds:.2f} s", f"score {_num(result.score)}"]) + "</p>",
        '<div class="pair">',
        _figure(target_uri, "target" + (f" ({target_label})" if target_label else "")),
        _figure(step_uris[-1] if step_uris else None, "best program"),
        '<div class="anim"><h2>Animation</h2>',
        f'<div id="frame">{target_uri}</div>',
        '<div><button id="frame-play" type="button">play</button> ',
        f'<input id="frame-slider" type="range" min="0" max="{max(0, len(frames) - 1)}" value="0" '
        'aria-label="frame"></div>', '<p id="frame-caption">target</p></div>', "</div>",
        f"<h2>Best program</h2><p><code>{html.escape(best)}</code></p>",
        _steps_table(steps, step_uris, len(result.trajectory)),
        f'<script type="application/json" id="frames">{_json_for_html(frames)}</script>',
        f"<script>{SCRIPT}</script>"]
    return _page(title, parts)


def _page(title: str, body: Sequence[str]) -> str:
    """A self-contained HTML page: the shared head and style, an ``<h1>`` title, then ``body``."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      f"<h1>{html.escape(title)}</h1>", *body, "</body>", "</html>", ""])


@dataclass
class IndexRow:
    """One solved (or attempted) target on an index page, linking to its report."""

    domain: str
    target: str
    method: str
    solved: bool
    calls: int
    seconds: float
    score: float
    program: str
    report: str  # the report's path relative to the index page
    target_preview: str | None = None  # HTML preview of the target observation
    found_preview: str | None = None  # HTML preview of the best program's execution


def render_index(rows: Sequence[IndexRow], budget: int, title: str = "treediff demo") -> str:
    """An index page: how many targets were solved, and per target its preview beside the preview of the
    program found (seen at a glance), the numbers, and a link to its report with the edit trajectory."""
    body = []
    for r in rows:
        mark = '<span class="ok">solved</span>' if r.solved else '<span class="no">not solved</span>'
        link = html.escape(r.report, quote=True)
        body.append(f'<tr><td><a href="{link}">{_thumb(r.target_preview)}</a></td>'
                    f'<td><a href="{link}">{_thumb(r.found_preview)}</a></td>'
                    f'<td>{html.escape(r.domain)} / <a href="{link}">{html.escape(r.target)}</a><br>{mark}<br>'
                    f"{html.escape(r.method)}, {r.calls} calls, {r.seconds:.1f} s, score {_num(r.score)}</td>"
                    f"<td><code>{html.escape(r.program)}</code></td></tr>")
    solved = sum(r.solved for r in rows)
    return _page(title, [
        f"<p>{solved} of {len(rows)} targets solved; budget {budget} renderer calls per target.</p>",
        "<table>", "<tr><th>target</th><th>program found</th><th>result</th><th>program</th></tr>", *body,
        "</table>"])


def _thumb(preview: str | None) -> str:
    return f'<div class="thumb">{preview}</div>' if preview else "(no preview)"



def write_report(path: Path, domain: Domain, target: torch.Tensor, result: SolveResult, executor: Executor,
                 title: str = "treediff solve", target_label: str = "") -> None:
    """Render the report and write it to ``path`` atomically (nothing is written if rendering fails)."""
    write_text(Path(path), render_report(domain, target, result, executor, title, target_label))


def _figure(preview: str | None, caption: str) -> str:
    body = preview or "<p>(no program executed)</p>"
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _steps_table(steps: Sequence[Step], uris: Sequence[str | None], total: int) -> str:
    note = f" (showing {len(steps)} of {total})" if total > len(steps) else ""
    rows = [f"<h2>Accepted edits{note}</h2>", "<table>",
            "<tr><th>#</th><th>observation</th><th>edit</th><th>program</th><th>distance</th><th>call</th></tr>"]
    for k, (step, uri) in enumerate(zip(steps, uris)):
        image = uri or "-"
        mark = ' <span class="ok">goal</span>' if step.solved else ""
        rows.append(f"<tr><td>{k}</td><td>{image}</td><td>{_edit_text(step.edit)}</td>"
                    f"<td><code>{html.escape(str(step.program))}</code>{mark}</td>"
                    f"<td>{_num(step.distance)}</td><td>{step.call}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _edit_text(edit: Edit | None) -> str:
    if edit is None:
        return "start"
    where = "/".join(str(i) for i in edit.path) or "root"
    return f"at <code>{html.escape(where)}</code> put <code>{html.escape(str(edit.replacement))}</code>"


def _num(value: float) -> str:
    return f"{value:.4g}" if value == value and abs(value) != float("inf") else "n/a"


def _json_for_html(data: object) -> str:
    """JSON that cannot close the surrounding script element."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
