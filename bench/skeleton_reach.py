"""How often the AR model's samples hold the target's structure, by target size, and what search makes of it.

A program's skeleton is its tree without leaf values (:func:`~treediff.engine.trees.tree.skeleton`): which
productions, nested how. For generated targets (the domain's complexity-filtered test-like set, development
seed 2 by default) this draws the largest of ``--samples`` whole programs from the AR model per target and
counts, for each sample count, the targets where some sample has the target program's skeleton and where some
sample already executes to a goal match. With ``--results`` (a ``bench/search_levers.py`` JSON of the same
targets) it also splits the search's solved targets by whether the samples held the skeleton: when search
almost always solves the targets whose skeleton the samples hold and seldom the others, structure is what limits
it, not the leaf values. Prints a table by target size (primitives) and writes JSON.

    python bench/skeleton_reach.py tinysvg [--ar plugins/tinysvg/model_ar] [-n 64] [--seed 2]
                                   [--samples 64,512] [--results F] [--out F]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from treediff.engine.errors import InputError, TreediffError
from treediff.engine.files import write_json
from treediff.engine.trees.tree import Node, skeleton

ROOT = Path(__file__).resolve().parent.parent


def first_hits(samples: list[Node], program: Node, goals: list[bool]) -> tuple[int | None, int | None]:
    """The 1-based sample number of the first sample with ``program``'s skeleton and of the first goal match
    (``goals`` per sample), None where there is none."""
    want = skeleton(program)
    skel = next((i + 1 for i, tree in enumerate(samples) if skeleton(tree) == want), None)
    goal = next((i + 1 for i, ok in enumerate(goals) if ok), None)
    return skel, goal


def reach(domain_name: str, ar_dir: Path, n: int, seed: int, samples: int) -> list[dict[str, Any]]:
    """Per generated target: its name, primitives, and the first sample with its skeleton and with a goal match
    among ``samples`` AR samples (drawn at temperature 1 with a generator seeded 0)."""
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.evaluation.harness import generated_targets
    from treediff.engine.models.inference import sample_programs
    from treediff.engine.training.bundle import load_bundle

    registry = load_registry()
    domain = registry.domain(domain_name)
    bundle = load_bundle(ar_dir, domain, registry)
    executor = domain.make_executor("cpu")
    generator = torch.Generator().manual_seed(0)
    rows = []
    for target in generated_targets(domain, n, seed, executor):
        assert target.program is not None  # generated targets carry their program
        drawn = [tree for tree, _ in sample_programs(bundle.need_ar(), bundle.vocab, target.observation[None],
                                                     samples, generator)[0]]
        goals = domain.goal(executor.execute(drawn), target.observation).tolist() if drawn else []
        skel, goal = first_hits(drawn, target.program, goals)
        rows.append({"target": target.name, "primitives": target.program.sigma, "skeleton_at": skel,
                     "goal_at": goal})
    return rows


def size_table(rows: list[dict[str, Any]], counts: list[int], solved: dict[str, bool] | None) -> list[dict[str, Any]]:
    """One row per target size and one for all: targets, skeleton and goal hits within each sample count, and
    with ``solved`` (per target) the search's solved targets among those whose skeleton the largest count held
    and among the rest."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[str(row["primitives"])].append(row)
        groups["all"].append(row)
    out = []
    for size in sorted(groups, key=lambda s: (s == "all", int(s) if s != "all" else 0)):
        group = groups[size]
        line: dict[str, Any] = {"primitives": size, "targets": len(group)}
        for k in counts:
            line[f"skeleton@{k}"] = sum(r["skeleton_at"] is not None and r["skeleton_at"] <= k for r in group)
            line[f"goal@{k}"] = sum(r["goal_at"] is not None and r["goal_at"] <= k for r in group)
        if solved is not None:
            held = [r for r in group if r["skeleton_at"] is not None]
            line["search_solved_held"] = f"{sum(solved[r['target']] for r in held)}/{len(held)}"
            rest = [r for r in group if r["skeleton_at"] is None]
            line["search_solved_rest"] = f"{sum(solved[r['target']] for r in rest)}/{len(rest)}"
        out.append(line)
    return out


def search_solved(path: Path) -> dict[str, bool]:
    """Per target, whether the first variant of a ``bench/search_levers.py`` JSON solved it."""
    try:
        variants = json.loads(path.read_text())["variants"]
        return {r["target"]: bool(r["solved"]) for r in next(iter(variants.values()))["rows"]}
    except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
        raise InputError(f"--results {path}: {exc}; expected a bench/search_levers.py JSON with one variant's "
                         "rows") from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("domain")
    p.add_argument("--ar", type=Path, default=None, help="AR model folder (default: plugins/DOMAIN/model_ar)")
    p.add_argument("-n", type=int, default=64, help="generated targets (default 64)")
    p.add_argument("--seed", type=int, default=2, help="seed of the generated targets (default 2, not the eval's 0)")
    p.add_argument("--samples", default="64,512", help="sample counts, comma-separated (default 64,512)")
    p.add_argument("--results", type=Path, default=None, help="search_levers JSON of the same targets")
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/skeleton-reach-DOMAIN.json")
    args = p.parse_args(argv)
    ar_dir = args.ar or ROOT / "plugins" / args.domain / "model_ar"
    try:
        counts = sorted({int(c) for c in args.samples.split(",")})
        if not counts or counts[0] < 1:
            raise InputError(f"--samples {args.samples!r}; expected positive counts such as 64,512")
        solved = search_solved(args.results) if args.results is not None else None
        rows = reach(args.domain, ar_dir, args.n, args.seed, counts[-1])
        if solved is not None and (missing := [r["target"] for r in rows if r["target"] not in solved]):
            raise InputError(f"--results {args.results} has no row for {missing[0]}; expected the same targets "
                             f"(-n {args.n} --seed {args.seed})")
    except (TreediffError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = size_table(rows, counts, solved)
    keys = list(table[0])
    print(" ".join(f"{k:>18}" for k in keys))
    for line in table:
        print(" ".join(f"{line[k]!s:>18}" for k in keys))
    out = args.out or ROOT / "bench" / "results" / f"skeleton-reach-{args.domain}.json"
    write_json(out, {"domain": args.domain, "ar": str(ar_dir), "targets": args.n, "seed": args.seed,
                     "samples": counts, "results": str(args.results) if args.results else None, "sizes": table,
                     "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
