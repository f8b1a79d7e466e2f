"""Evaluation outputs from ``results.jsonl`` records: solved-vs-renderer-calls curves, plot, Markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from treediff.engine.files import write_atomic, write_text

PLOT = "solved_vs_calls.png"
SUMMARY = "summary.md"


def methods_in(records: Sequence[dict[str, Any]], preferred: Sequence[str] = ()) -> list[str]:
    """Methods present in ``records``: those in ``preferred`` first (in that order), then the rest sorted."""
    present = {str(r["method"]) for r in records}
    return [m for m in preferred if m in present] + sorted(present - set(preferred))


def solved_curve(records: Sequence[dict[str, Any]], method: str, budget: int) -> tuple[list[int], list[float]]:
    """Step curve of the fraction of ``method``'s targets solved within x renderer calls, x = 0..budget.

    Returns the x positions where the curve changes (plus 0 and ``budget``) and the fraction at each.
    """
    mine = [r for r in records if r["method"] == method]
    if not mine:
        return [0, budget], [0.0, 0.0]
    solved_at = sorted(int(r["calls_to_solve"]) for r in mine if r.get("solved") and r.get("calls_to_solve"))
    xs, ys = [0], [0.0]
    for i, x in enumerate(solved_at):
        if x > budget:
            break
        if xs[-1] == x:
            ys[-1] = (i + 1) / len(mine)
        else:
            xs.append(x)
            ys.append((i + 1) / len(mine))
    xs.append(budget)
    ys.append(ys[-1])
    return xs, ys


def summary_rows(records: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    """Per method: targets, solved fraction, median calls to solve (solved only), mean seconds, mean score."""
    rows = []
    for method in methods:
        mine = [r for r in records if r["method"] == method]
        if not mine:
            continue
        calls = [int(r["calls_to_solve"]) for r in mine if r.get("solved") and r.get("calls_to_solve")]
        scores = [float(r["score"]) for r in mine if r.get("score") is not None]
        teds = [int(r["ted"]) for r in mine if r.get("ted") is not None]
        solved = sum(bool(r.get("solved")) for r in mine) / len(mine)
        rows.append({"method": method, "targets": len(mine), "solved": solved,
                     "median_calls": statistics.median(calls) if calls else None,
                     "mean_seconds": statistics.fmean(float(r["seconds"]) for r in mine),
                     "mean_score": statistics.fmean(scores) if scores else None,
                     "mean_ted": statistics.fmean(teds) if teds else None})
    return rows


def summary_markdown(records: Sequence[dict[str, Any]], methods: Sequence[str], title: str = "") -> str:
    """The Markdown summary table (method, solved %, median calls to solve, mean seconds, ...)."""
    rows = summary_rows(records, methods)
    lines = [f"# {title}" if title else "# Evaluation summary", ""]
    budgets = sorted({int(r["budget"]) for r in records if r.get("budget")})
    if budgets:
        lines += [f"Budget: {', '.join(map(str, budgets))} renderer calls per target and method.", ""]
    lines += ["| method | targets | solved % | median calls to solve | mean seconds | mean score | mean TED |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['method']} | {row['targets']} | {100 * row['solved']:.1f} | "
                     f"{_fmt(row['median_calls'], '.0f')} | {row['mean_seconds']:.3f} | "
                     f"{_fmt(row['mean_score'], '.4f')} | {_fmt(row['mean_ted'], '.2f')} |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def plot_curves(records: Sequence[dict[str, Any]], methods: Sequence[str], budget: int, path: Path,
                title: str = "") -> None:
    """Plot every method's solved-vs-renderer-calls curve on one figure and save it as PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    for method in methods:
        xs, ys = solved_curve(records, method, budget)
        n = sum(1 for r in records if r["method"] == method)
        ax.step([max(x, 1) for x in xs], [100 * y for y in ys], where="post", label=f"{method} (n={n})")
    if budget >= 100:
        ax.set_xscale("log")
    ax.set_xlim(1, max(budget, 2))
    ax.set_ylim(0, 100)
    ax.set_xlabel("renderer calls")
    ax.set_ylabel("targets solved (%)")
    ax.set_title(title or "solved vs renderer calls")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    write_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def write_outputs(out: Path, records: Sequence[dict[str, Any]], methods: Sequence[str], budget: int,
                  title: str = "") -> tuple[Path, Path]:
    """Write ``out/solved_vs_calls.png`` and ``out/summary.md`` from ``records``; returns both paths."""
    ordered = methods_in(records, methods)
    plot, summary = Path(out) / PLOT, Path(out) / SUMMARY
    plot_curves(records, ordered, budget, plot, title)
    write_text(summary, summary_markdown(records, ordered, title))
    return plot, summary
