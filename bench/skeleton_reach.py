"""How often the AR model's samples hold the target's structure, by target size, and what search makes of it.

A program's skeleton is its tree without leaf values (:func:`~treediff.engine.trees.tree.skeleton`): which
productions, nested how. For generated targets (the domain's complexity-filtered test-like set, development
seed 2 by default) this draws the largest of ``--samples`` whole programs from the AR model per target and
counts, for each sample count, the targets where some sample has the target program's skeleton and where some
sample already executes to a goal match. With ``--results`` (a ``bench/search_levers.py`` JSON of the same
targets) it also splits the search's solved targets by whether the samples held the skeleton: when search
almost always solves the targets whose skeleton the samples hold and seldom the others, structure is what limits
it, not the leaf values. With ``--vote`` it also counts the same hits among the first programs of the
largest count's draws ranked by :func:`~treediff.engine.search.starts.skeleton_vote` (the order a search with
``ar_pool`` runs its AR samples in). Prints a table by target size (primitives) and writes JSON.

    python bench/skeleton_reach.py tinysvg [--ar plugins/tinysvg/model_ar] [-n 64] [--seed 2]
                                   [--samples 64,512] [--vote] [--results F] [--out F]
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
from treediff.engine.evaluation.probe import ModelProbe, add_probe_arguments, open_probe
from treediff.engine.files import write_json
from treediff.engine.search.starts import skeleton_vote
from treediff.engine.trees.tree import Node, skeleton

ROOT = Path(__file__).resolve().parent.parent


def first_hits(samples: list[Node], program: Node, goals: list[bool]) -> tuple[int | None, int | None]:
    """The 1-based sample number of the first sample with ``program``'s skeleton and of the first goal match
    (``goals`` per sample), None where there is none."""
    want = skeleton(program)
    skel = next((i + 1 for i, tree in enumerate(samples) if skeleton(tree) == want), None)
    goal = next((i + 1 for i, ok in enumerate(goals) if ok), None)
    return skel, goal


def reach(probe: ModelProbe, n: int, seed: int, samples: int, vote: bool = False) -> list[dict[str, Any]]:
    """Per generated target: its name, primitives, and the first sample with its skeleton and with a goal match
    among ``samples`` AR samples (drawn at temperature 1 with a generator seeded 0); with ``vote`` also the
    first such program in the skeleton vote's order of the same draws (``voted_skeleton_at``,
    ``voted_goal_at``, 1-based among distinct programs)."""
    from treediff.engine.models.inference import sample_programs

    domain, ar, vocab = probe.domain, probe.bundle.need_ar(), probe.bundle.vocab
    generator = torch.Generator().manual_seed(0)
    rows = []
    for target in probe.targets(n, seed):
        assert target.program is not None  # generated targets carry their program
        drawn = sample_programs(ar, vocab, target.observation[None], samples, generator)[0]
        trees = [tree for tree, _ in drawn]
        goals = domain.goal(probe.executor.execute(trees), target.observation).tolist() if trees else []
        row: dict[str, Any] = {"target": target.name, "primitives": target.program.sigma}
        row["skeleton_at"], row["goal_at"] = first_hits(trees, target.program, goals)
        if vote:  # the same programs reordered: their goals are already known
            goal_of = dict(zip(trees, goals, strict=True))
            voted = [tree for tree, _ in skeleton_vote(drawn, len(drawn))]
            row["voted_skeleton_at"], row["voted_goal_at"] = first_hits(voted, target.program,
                                                                        [goal_of[t] for t in voted])
        rows.append(row)
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
        for prefix in ("", "voted_") if "voted_skeleton_at" in group[0] else ("",):
            for k in counts:
                line[f"{prefix}skeleton@{k}"] = _within(group, f"{prefix}skeleton_at", k)
                line[f"{prefix}goal@{k}"] = _within(group, f"{prefix}goal_at", k)
        if solved is not None:
            held = [r for r in group if r["skeleton_at"] is not None]
            line["search_solved_held"] = f"{sum(solved[r['target']] for r in held)}/{len(held)}"
            rest = [r for r in group if r["skeleton_at"] is None]
            line["search_solved_rest"] = f"{sum(solved[r['target']] for r in rest)}/{len(rest)}"
        out.append(line)
    return out


def _within(rows: list[dict[str, Any]], key: str, k: int) -> int:
    return sum(r[key] is not None and r[key] <= k for r in rows)


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
    add_probe_arguments(p, n=64, seed=2)
    p.add_argument("--samples", default="64,512", help="sample counts, comma-separated (default 64,512)")
    p.add_argument("--vote", action="store_true", help="also count hits in the skeleton vote's order")
    p.add_argument("--results", type=Path, default=None, help="search_levers JSON of the same targets")
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/skeleton-reach-DOMAIN.json")
    args = p.parse_args(argv)
    try:
        counts = sorted({int(c) for c in args.samples.split(",")})
        if not counts or counts[0] < 1:
            raise InputError(f"--samples {args.samples!r}; expected positive counts such as 64,512")
        solved = search_solved(args.results) if args.results is not None else None
        probe = open_probe(args.domain, args.ar)
        rows = reach(probe, args.n, args.seed, counts[-1], args.vote)
        if solved is not None and (missing := [r["target"] for r in rows if r["target"] not in solved]):
            raise InputError(f"--results {args.results} has no row for {missing[0]}; expected the same targets "
                             f"(-n {args.n} --seed {args.seed})")
    except (TreediffError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = size_table(rows, counts, solved)
    keys = list(table[0])
    widths = [max(len(k), 6) for k in keys]
    print(" ".join(f"{k:>{w}}" for k, w in zip(keys, widths)))
    for line in table:
        print(" ".join(f"{line[k]!s:>{w}}" for k, w in zip(keys, widths)))
    out = args.out or ROOT / "bench" / "results" / f"skeleton-reach-{args.domain}.json"
    write_json(out, {"domain": args.domain, "ar": str(probe.model_dir), "targets": args.n, "seed": args.seed,
                     "samples": counts, "vote": args.vote, "results": str(args.results) if args.results else None,
                     "sizes": table, "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
