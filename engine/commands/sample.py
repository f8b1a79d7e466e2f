"""``treediff sample``: random programs of a domain (or a grammar file), optionally rendered."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import to_text


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``sample`` subcommand."""
    p = sub.add_parser("sample", help="print random programs, one per line (--out also renders them)")
    p.add_argument("domain", help="a domain name, or a grammar .yaml file (text only)")
    p.add_argument("-n", type=int, default=8, help="number of programs (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-primitives", type=int, default=None)
    p.add_argument("--max-primitives", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="directory for observations and a contact sheet")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="with --out, refuse -n over N (rendered programs are held in memory; default "
                        "treediff.engine.limits.MAX_RENDERED_SAMPLES); without --out programs are streamed")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Sample ``n`` programs deterministically from ``seed``."""
    from treediff.engine.trees.derivation import sample_tree

    if args.n < 1:
        raise InputError(f"-n must be a positive number of programs; got {args.n}")
    domain = None
    if args.domain.endswith((".yaml", ".yml")):
        grammar = Grammar.load(args.domain)
        lo, hi = 1, 8
    else:
        domain = load_registry().domain(args.domain)
        grammar, lo, hi = domain.grammar, domain.min_primitives, domain.max_primitives
    lo = args.min_primitives if args.min_primitives is not None else lo
    hi = args.max_primitives if args.max_primitives is not None else hi
    if lo > hi or lo < 0:
        raise InputError(f"primitive bounds {lo}..{hi} are not a valid range; expected 0 <= min <= max")
    from treediff.engine.limits import MAX_RENDERED_SAMPLES

    cap = args.max_samples if args.max_samples is not None else MAX_RENDERED_SAMPLES
    if args.out is not None:
        if domain is None:
            raise InputError(f"--out renders programs and needs a domain; {args.domain!r} is a grammar file")
        if args.n > cap:
            raise InputError(f"-n {args.n} with --out renders {args.n} programs in memory; expected at most {cap} "
                             "(treediff.engine.limits.MAX_RENDERED_SAMPLES). hint: raise it with --max-samples N, "
                             "or leave out --out to stream program text")
    rng = random.Random(args.seed)
    trees = []
    for _ in range(args.n):  # streamed: each program is printed as soon as it is drawn
        tree = sample_tree(grammar, rng, min_primitives=lo, max_primitives=hi)
        print(to_text(tree))
        if args.out is not None:
            trees.append(tree)
    if args.out is not None:
        _write(domain, trees, args.out, args.device)
    return 0


def _write(domain: object, trees: list, out: Path, device: str) -> None:  # type: ignore[type-arg]
    from treediff.engine.domains.domain import Domain

    assert isinstance(domain, Domain)
    out.mkdir(parents=True, exist_ok=True)
    observations = domain.make_executor(device).execute(trees).cpu()
    width = len(str(len(trees) - 1))
    lines = []
    for i, (tree, obs) in enumerate(zip(trees, observations)):
        domain.save_observation(obs, out / domain.observation_file(f"{i:0{width}d}"))
        lines.append(to_text(tree))
    (out / "programs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if domain.save_sheet is not None:
        domain.save_sheet(observations, out / domain.observation_file("contact_sheet"))
