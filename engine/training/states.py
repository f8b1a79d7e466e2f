"""On-policy training states: the programs a search actually expanded, each paired with its target.

The forward process makes training states by mutating the target a few times, so the denoiser and the value
network learn from programs that are at most ``k_max`` edits from their target. A search spends its budget on
other programs: samples of the AR model and the beam states it climbs to from them, often many edits away and
wrong in ways no mutation makes. This module runs a model's default search (the shipped models' unless given)
on generated targets (seed 1000 by default, away from the eval's 0 and the development sets' 1-3), records
the beam states of each search next to its target, and writes them as JSON lines. A training config with
``states: FILE`` and ``p_states`` draws that share of its examples from the file, labelled by the reverse
path from the state to the target like every other example.

    python -m treediff.engine.training.states DOMAIN --out FILE [--targets N] [--seed S] [--budget B]
                                              [--per-target K] [--checkpoint M] [--ar-checkpoint M]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from treediff.engine.errors import InputError, TreediffError
from treediff.engine.files import write_atomic
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain, Executor
    from treediff.engine.search.config import SearchConfig
    from treediff.engine.training.bundle import ModelBundle


@dataclass(frozen=True)
class StatePair:
    """One on-policy training state: a program a search expanded (``state``) and the target it searched for."""

    target: Node
    state: Node


def sample_states(expanded: Sequence[Node], target: Node, per_target: int, rng: random.Random) -> list[StatePair]:
    """Up to ``per_target`` of a search's ``expanded`` programs (the target itself left out), drawn at random."""
    pool = [s for s in dict.fromkeys(expanded) if s != target]
    chosen = rng.sample(pool, per_target) if len(pool) > per_target else pool
    return [StatePair(target, s) for s in chosen]


def collect_states(domain: Domain, executor: Executor, bundle: ModelBundle, ar_bundle: ModelBundle | None,
                   config: SearchConfig, targets: Sequence[Node], *, budget: int, per_target: int,
                   seed: int, progress: bool = False) -> list[StatePair]:
    """Run beam search on each of ``targets`` (observations from ``executor``) and sample its beam states;
    ``progress`` shows a bar on stderr."""
    from tqdm import tqdm

    from treediff.engine.search.solve import solve

    rng = random.Random(seed)
    out: list[StatePair] = []
    for i, target in enumerate(tqdm(targets, desc="searches", unit="target", disable=not progress)):
        observation = executor.execute([target])[0]
        result = solve(domain, observation, "beam", budget=budget, seed=seed * 1_000_003 + i, bundle=bundle,
                       ar_bundle=ar_bundle, executor=executor, config=config)
        out.extend(sample_states(result.expanded(), target, per_target, rng))
    return out


def write_states(path: Path, pairs: Sequence[StatePair]) -> None:
    """Write ``pairs`` as JSON lines ``{"target": program, "state": program}`` (atomically)."""
    text = "".join(json.dumps({"target": str(p.target), "state": str(p.state)}) + "\n" for p in pairs)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_states(path: Path, grammar: Grammar) -> tuple[StatePair, ...]:
    """The state pairs of a file written by :func:`write_states`; InputError naming the file and line when a
    line is not such a pair of programs of ``grammar``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read training states file {str(path)!r}: {exc.strerror}; expected a JSON-lines "
                         "file written by `python -m treediff.engine.training.states`") from None
    pairs: list[StatePair] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"training states file {str(path)!r}, line {number}"
        try:
            row = json.loads(line)
            target_text, state_text = row["target"], row["state"]
        except (json.JSONDecodeError, TypeError, KeyError):
            raise InputError(f"{where}: {line[:60]!r} is not an object with \"target\" and \"state\"; expected "
                             '{"target": "PROGRAM", "state": "PROGRAM"}') from None
        target, state = parse(grammar, target_text, where), parse(grammar, state_text, where)
        if target.production.lhs != state.production.lhs:
            raise InputError(f"{where}: the state derives {state.production.lhs!r} but the target "
                             f"{target.production.lhs!r}; expected programs of the same nonterminal")
        pairs.append(StatePair(target, state))
    if not pairs:
        raise InputError(f"training states file {str(path)!r} holds no state pairs; expected at least one line")
    return tuple(pairs)


def main(argv: list[str] | None = None) -> int:
    """CLI: collect on-policy training states for a domain with its shipped (or given) models."""
    p = argparse.ArgumentParser(prog="python -m treediff.engine.training.states", description=__doc__.splitlines()[0])
    p.add_argument("domain")
    p.add_argument("--out", type=Path, required=True, help="JSON-lines file to write")
    p.add_argument("--targets", type=int, default=100, help="generated targets to search (default 100)")
    p.add_argument("--seed", type=int, default=1000, help="targets' seed; keep it off the eval's (0) and the "
                   "development sets' (1-3) (default 1000)")
    p.add_argument("--budget", type=int, default=2000, help="renderer calls per search (default 2000)")
    p.add_argument("--per-target", type=int, default=24, help="beam states kept per search (default 24)")
    p.add_argument("--checkpoint", type=Path, default=None, help="denoiser (default: the shipped model)")
    p.add_argument("--ar-checkpoint", type=Path, default=None, help="AR model for start: ar (default: the shipped one)")
    args = p.parse_args(argv)
    try:
        count, seconds = run(args)
    except TreediffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} state pairs from {args.targets} searches to {args.out} in {seconds:.0f} s")
    return 0


def run(args: argparse.Namespace) -> tuple[int, float]:
    """Load the domain and models, collect the states, write them; (pairs written, seconds)."""
    import torch

    from treediff.engine.commands.searchargs import load_models, model_search_file, models_needed
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.search.config import SearchConfig, load_search_config

    if args.targets < 1 or args.budget < 1 or args.per_target < 1:
        raise InputError(f"--targets {args.targets}, --budget {args.budget}, --per-target {args.per_target}; "
                         "expected positive numbers")
    torch.set_num_threads(1)
    start = time.perf_counter()
    registry = load_registry()
    domain = registry.domain(args.domain)
    if domain.test_targets is None:
        raise InputError(f"domain {domain.name!r} declares no test_targets generator; expected one to draw "
                         "search targets from")
    found = model_search_file(domain, args.checkpoint)
    config = load_search_config(found) if found is not None else SearchConfig()
    bundle, ar_bundle = load_models(domain, registry, models_needed(["beam"], config), args.checkpoint,
                                    args.ar_checkpoint, "cpu")
    assert bundle is not None  # load_models raised unless beam search has its diffusion model
    targets = list(domain.test_targets(args.targets, args.seed))[:args.targets]
    executor = domain.make_executor("cpu")
    pairs = collect_states(domain, executor, bundle, ar_bundle, config, targets, budget=args.budget,
                           per_target=args.per_target, seed=args.seed, progress=sys.stderr.isatty())
    write_states(args.out, pairs)
    return len(pairs), time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
