"""CLI subcommands: one module per command, each exposing ``register(subparsers)``.

A command module adds its parser with ``subparsers.add_parser(NAME, help=...)`` and sets
``parser.set_defaults(run=fn)`` where ``fn(args: argparse.Namespace) -> int`` returns the exit code.
Raise :class:`treediff.engine.errors.TreediffError` subclasses for bad input; the CLI turns them into a
one-paragraph message on stderr and exit code 2.
"""

from __future__ import annotations

import importlib

COMMANDS = ("plugins", "validate", "schema", "sample", "render", "train", "solve", "eval", "demo",
            "new_plugin", "check_plugin")


def load(name: str) -> object:
    """The command module ``treediff.engine.commands.<name>`` (every name in :data:`COMMANDS` must exist: a
    missing one is an installation bug and raises, rather than silently dropping the command)."""
    return importlib.import_module(f"treediff.engine.commands.{name}")
