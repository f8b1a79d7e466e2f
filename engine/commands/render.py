"""``treediff render``: execute one program of a domain and save its observation."""

from __future__ import annotations

import argparse
from pathlib import Path

from treediff.engine.domains.registry import load_registry
from treediff.engine.grammar.programs import read_program


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``render`` subcommand."""
    p = sub.add_parser("render", help="execute a program and save its observation file (e.g. a PNG)")
    p.add_argument("domain")
    p.add_argument("program", metavar="PROGRAM|FILE", help="program text, or a file holding it")
    p.add_argument("--out", type=Path, required=True, metavar="FILE",
                   help="where to write the observation, in the domain's format (e.g. .png for csg2d)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-program-chars", type=int, default=None, metavar="N",
                   help="refuse program text over N characters (default treediff.engine.limits.MAX_PROGRAM_CHARS)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Parse, execute, save atomically; nothing is written when parsing fails."""
    from treediff.engine import limits
    from treediff.engine.outputs import check_output_file

    if args.max_program_chars is not None:
        limits.MAX_PROGRAM_CHARS = args.max_program_chars

    check_output_file(args.out)
    domain = load_registry().domain(args.domain)
    tree = read_program(domain.grammar, args.program)
    observation = domain.make_executor(args.device).execute([tree])[0].cpu()
    domain.save_observation(observation, args.out)
    print(args.out)
    return 0
