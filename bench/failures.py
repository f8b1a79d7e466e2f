"""Where searches stop: solved share, final program size and distance by target size, from an eval folder.

Reads ``results.jsonl`` of a ``treediff eval ... --out DIR`` run, parses each target program and each final
program with the domain's grammar, and groups the rows of one method by the target's primitive count (sigma).
For every size it prints the targets, how many were solved, and for the unsolved ones the mean primitive count
of the program the search ended on, its mean score (the domain's distance) and mean tree edit distance to the
target. A search that ends on programs much smaller than its targets is stuck on structure (it never built the
scene up), one that ends on programs of the target's size with small distances is stuck on leaf values.
Prints a table and writes JSON.

    python bench/failures.py bench/results/eval-tinysvg-64-5000 [--domain tinysvg] [--method beam] [--out F]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import InputError
from treediff.engine.evaluation.harness import RESULTS, eval_domain, method_records
from treediff.engine.files import write_json
from treediff.engine.grammar.parse import parse


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def by_size(rows: list[dict[str, Any]], grammar: Any) -> dict[int, dict[str, Any]]:
    """Per target primitive count: targets, solved, and the unsolved ends' mean size, score and TED."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[parse(grammar, row["target_program"]).sigma].append(row)
    table: dict[int, dict[str, Any]] = {}
    for size, group in sorted(groups.items()):
        failed = [r for r in group if not r["solved"]]
        table[size] = {"targets": len(group), "solved": len(group) - len(failed),
                       "unsolved_end_size": _mean([parse(grammar, r["program"]).sigma for r in failed]),
                       "unsolved_score": _mean([r["score"] for r in failed]),
                       "unsolved_ted": _mean([r["ted"] for r in failed if r.get("ted") is not None])}
    return table


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("eval_dir", type=Path, help="an eval output folder holding results.jsonl")
    p.add_argument("--domain", default=None, help="default: read from the folder's eval.json")
    p.add_argument("--method", default="beam")
    p.add_argument("--out", type=Path, default=None, help="default: EVAL_DIR/failures-METHOD.json")
    args = p.parse_args(argv)
    results = args.eval_dir / RESULTS
    try:
        rows = method_records(args.eval_dir, args.method)
        domain_name = args.domain or eval_domain(args.eval_dir)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    grammar = load_registry().domain(domain_name).grammar
    table = by_size(rows, grammar)
    print(f"{domain_name}, {args.method}: {len(rows)} targets from {results}")
    print(f"{'target size':>11} {'targets':>8} {'solved':>7} {'unsolved: end size':>19} {'score':>7} {'TED':>6}")
    for size, row in table.items():
        print(f"{size:>11} {row['targets']:>8} {row['solved']:>7} {_fmt(row['unsolved_end_size'], '.1f'):>19} "
              f"{_fmt(row['unsolved_score'], '.3f'):>7} {_fmt(row['unsolved_ted'], '.1f'):>6}")
    out = args.out or args.eval_dir / f"failures-{args.method}.json"
    write_json(out, {"domain": domain_name, "method": args.method, "source": str(results),
                     "by_target_size": {str(k): v for k, v in table.items()}})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
