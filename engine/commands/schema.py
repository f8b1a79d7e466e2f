"""``treediff schema``: write the JSON Schemas of the grammar and config formats."""

from __future__ import annotations

import argparse
from pathlib import Path

from treediff.engine.errors import InputError
from treediff.engine.grammar.schema import SCHEMA_DIR, write_schemas


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``schema`` subcommand."""
    p = sub.add_parser("schema", help="write JSON Schemas for grammar and config files")
    p.add_argument("--out", type=Path, default=SCHEMA_DIR, help=f"directory (default {SCHEMA_DIR})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the schemas and list them."""
    try:
        paths = write_schemas(args.out)
    except OSError as exc:
        raise InputError(f"cannot write schemas into {str(args.out)!r}: {exc}; expected a writable "
                         "directory") from None
    for path in paths:
        print(path)
    return 0
