"""``treediff validate``: located errors for grammar files; exit 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import argparse
import sys

from treediff.engine.errors import InputError
from treediff.engine.grammar.validation import validate_file


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``validate`` subcommand."""
    p = sub.add_parser("validate", help="check grammar YAML files and report located errors")
    p.add_argument("files", nargs="+", metavar="GRAMMAR.yaml")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate every file; print diagnostics as ``path:line:col: message``."""
    status = 0
    for path in args.files:
        try:
            problems = validate_file(path)
        except InputError as exc:
            print(f"treediff validate: error: {exc}", file=sys.stderr)
            status = 2
            continue
        if problems:
            for d in problems:
                print(d)
            noun = "error" if len(problems) == 1 else "errors"
            print(f"{path}: {len(problems)} {noun}", file=sys.stderr)
            status = max(status, 1)
        else:
            print(f"{path}: ok")
    return status
