"""Can the search set a field it is given wrong? Beam search from each target's own program with one field scrambled.

For generated targets (the domain's test-like set, development seed 1 by default) every leaf of the chosen field
(``--field gap`` scrambles every leaf named ``gap``, whatever its production) gets a random value, and beam
search (the domain's shipped model and search settings, plus ``--options``) starts from that program alone.
Everything else is exact, so a search that fails here cannot set that field by execution even when the rest
is right: a field the AR model cannot read (``bench/field_reading.py``) must be found this way. Targets the
scrambling leaves solved are skipped. Prints a table and writes JSON.

    python bench/field_refit.py tinysvg --field gap [-n 24] [--budget 1000] [--options '{"line_steps": 9}']
                                [--seed 1] [--out F]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from treediff.engine.errors import TreediffError
from treediff.engine.files import write_json
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import Edit, Node, get
from treediff.engine.trees.tree import Path as TreePath


def field_leaves(tree: Node, field: str, at: TreePath = ()) -> list[tuple[TreePath, int]]:
    """(node path, child index) of every leaf of ``tree`` in a slot named ``field``, in prefix order."""
    out: list[tuple[TreePath, int]] = []
    for i, (slot, child) in enumerate(zip(tree.production.slots, tree.children, strict=True)):
        if slot.terminal is None:
            out += field_leaves(child, field, (*at, i))  # type: ignore[arg-type]
        elif slot.field == field:
            out.append((at, i))
    return out


def scramble(tree: Node, field: str, rng: random.Random) -> Node:
    """``tree`` with every leaf of ``field`` set to a value drawn uniformly from its terminal (in the order of
    :func:`field_leaves`)."""
    for path, i in field_leaves(tree, field):
        node = get(tree, path)
        terminal = node.production.slots[i].terminal
        assert terminal is not None  # field_leaves gives leaf slots only
        value = rng.choice(terminal.values)
        tree = Edit(path, Node(node.production, node.children[:i] + (value,) + node.children[i + 1:])).apply(tree)
    return tree


def field_names(grammar: Grammar) -> set[str]:
    """Every leaf slot name of ``grammar``."""
    return {s.field for p in grammar.productions for s in p.slots if s.terminal is not None}


def refit(domain_name: str, field: str, n: int, seed: int, budget: int,
          options: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target whose scrambled program is not already a solution: leaves scrambled, solved, call."""
    from treediff.engine.commands.searchargs import model_search_file
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.evaluation.harness import generated_targets, pair_seed
    from treediff.engine.search.config import SearchConfig, load_search_config
    from treediff.engine.search.solve import solve
    from treediff.engine.training.bundle import load_bundle

    registry = load_registry()
    domain = registry.domain(domain_name)
    if field not in field_names(domain.grammar):
        raise TreediffError(f"--field {field!r} is not a leaf of grammar {domain.grammar.name!r}; expected one of "
                            f"{sorted(field_names(domain.grammar))}")
    if domain.checkpoint is None:
        raise TreediffError(f"domain {domain_name!r} ships no model; expected a domain with a shipped denoiser")
    bundle = load_bundle(domain.checkpoint, domain, registry)
    ar = load_bundle(domain.ar_checkpoint, domain, registry) if domain.ar_checkpoint is not None else None
    shipped = model_search_file(domain, None)
    base = load_search_config(shipped) if shipped is not None else SearchConfig()
    config = SearchConfig.model_validate({**base.model_dump(), "beam": {**base.beam.model_dump(), **options}})
    executor = domain.make_executor("cpu")
    rng = random.Random(seed)
    rows = []
    for target in generated_targets(domain, n, seed, executor):
        assert target.program is not None  # generated targets carry their program
        leaves = field_leaves(target.program, field)
        start = scramble(target.program, field, rng)
        if not leaves or bool(domain.goal(executor.execute([start]), target.observation)[0]):
            continue
        result = solve(domain, target.observation, "beam", budget=budget, seed=pair_seed(seed, target.name, "beam"),
                       bundle=bundle, ar_bundle=ar, executor=executor, config=config, seeds=[start])
        rows.append({"target": target.name, "leaves": len(leaves), "solved": result.solved,
                     "calls_at_solve": result.calls_at_solve, "score": result.score})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("domain")
    p.add_argument("--field", required=True, help="the leaf slot to scramble, e.g. gap")
    p.add_argument("-n", type=int, default=24, help="generated targets (default 24)")
    p.add_argument("--seed", type=int, default=1, help="seed of the targets and the scrambling (default 1)")
    p.add_argument("--budget", type=int, default=1000, help="renderer calls per target (default 1000)")
    p.add_argument("--options", default="{}", help="beam options over the shipped search settings, as JSON "
                   "(e.g. '{\"line_steps\": 9}')")
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/field-refit-DOMAIN-FIELD.json")
    args = p.parse_args(argv)
    try:
        options = json.loads(args.options)
        rows = refit(args.domain, args.field, args.n, args.seed, args.budget, options)
    except (TreediffError, ValueError) as exc:  # ValueError: bad JSON or a beam option pydantic refuses
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'target':>8} {'leaves':>6} {'solved':>6} {'call':>6} {'score':>7}")
    for r in rows:
        print(f"{r['target']:>8} {r['leaves']:>6} {str(r['solved']):>6} {r['calls_at_solve'] or '-':>6} "
              f"{r['score']:>7.4f}")
    solved = sum(r["solved"] for r in rows)
    print(f"{args.field}: solved {solved} of {len(rows)} within {args.budget} calls")
    out = args.out or Path(__file__).resolve().parent / "results" / f"field-refit-{args.domain}-{args.field}.json"
    write_json(out, {"domain": args.domain, "field": args.field, "targets": args.n, "seed": args.seed,
                     "budget": args.budget, "options": options, "solved": solved, "rows": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
