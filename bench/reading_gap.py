"""Does the AR model know better than the search? Its reading of each eval target against the program found.

Reads ``results.jsonl`` of a ``treediff eval ... --out DIR`` run and, for every row of one method, the AR
model's log-probability (teacher-forced, given the target's observation) of the target program and of the
program the search ended on. When an unsolved search ended on a program that the AR model reads *worse* than
the target, the model holds information the search did not use (ranking by executed distance kept the
wrong program); when it reads the found program better, the model itself prefers the wrong answer and only a
better model helps. Prints a table per target and a summary, and writes JSON.

    python bench/reading_gap.py bench/results/eval-tinysvg-64-5000 [--ar plugins/tinysvg/model_ar]
                               [--method beam] [--out F]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treediff.engine.errors import TreediffError
from treediff.engine.evaluation.harness import RESULTS, eval_domain, method_records
from treediff.engine.evaluation.probe import ModelProbe, open_probe
from treediff.engine.files import write_json

Reader = Callable[[str, list[str]], list[float]]
"""(target program text, program texts) -> the AR model's log-probability of each program given the target."""


def gaps(rows: list[dict[str, Any]], read: Reader) -> list[dict[str, Any]]:
    """Per row: the target's and the found program's reading, and whether the target reads better."""
    out = []
    for row in rows:
        target_lp, found_lp = read(row["target_program"], [row["target_program"], row["program"]])
        out.append({"target": row["target"], "solved": row["solved"], "score": row["score"],
                    "target_logprob": target_lp, "found_logprob": found_lp,
                    "target_reads_better": target_lp > found_lp})
    return out


def summary(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over the unsolved rows (the solved ones end on the target or an equivalent program)."""
    failed = [r for r in table if not r["solved"]]
    better = [r for r in failed if r["target_reads_better"]]
    return {"rows": len(table), "unsolved": len(failed), "unsolved_target_reads_better": len(better),
            "mean_gap_where_better": sum(r["target_logprob"] - r["found_logprob"] for r in better) / len(better)
            if better else None}


def ar_reader(probe: ModelProbe) -> Reader:
    """A reader backed by the probe's AR model (targets rendered by the domain's executor, on the CPU)."""
    from treediff.engine.grammar.parse import parse
    from treediff.engine.models.likelihood import program_logprobs

    grammar, bundle = probe.domain.grammar, probe.bundle

    def read(target: str, programs: list[str]) -> list[float]:
        observation = probe.executor.execute([parse(grammar, target)])[:1]
        trees = [parse(grammar, p) for p in programs]
        return [float(x) for x in program_logprobs(bundle.need_ar(), bundle.vocab, observation, trees).tolist()]

    return read


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("eval_dir", type=Path, help="an eval output folder holding results.jsonl")
    p.add_argument("--ar", type=Path, default=None, help="AR model folder (default: the domain's shipped one)")
    p.add_argument("--method", default="beam")
    p.add_argument("--out", type=Path, default=None, help="default: EVAL_DIR/reading-gap-METHOD.json")
    args = p.parse_args(argv)
    results = args.eval_dir / RESULTS
    try:
        rows = method_records(args.eval_dir, args.method)
        domain_name = eval_domain(args.eval_dir)
        probe = open_probe(domain_name, args.ar)
    except TreediffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = gaps(rows, ar_reader(probe))
    print(f"{'target':>8} {'solved':>6} {'score':>6} {'target lp':>9} {'found lp':>9}")
    for r in table:
        print(f"{r['target']:>8} {str(r['solved']):>6} {r['score']:>6.3f} {r['target_logprob']:>9.1f} "
              f"{r['found_logprob']:>9.1f}")
    total = summary(table)
    print(f"unsolved: {total['unsolved']}; the AR model reads the target better than the program found in "
          f"{total['unsolved_target_reads_better']}")
    out = args.out or args.eval_dir / f"reading-gap-{args.method}.json"
    write_json(out, {"domain": domain_name, "method": args.method, "ar": str(probe.model_dir), "source": str(results),
                     "summary": total, "rows": table})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
