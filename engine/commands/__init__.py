"""CLI subcommands: one module per command, each exposing ``register(subparsers)``.

A command module adds its parser with ``subparsers.add_parser(NAME, help=...)`` and sets
``parser.set_defaults(run=fn)`` where ``fn(args: argparse.Namespace) -> int`` returns the exit code.
Raise :class:`treediff.engine.errors.TreediffError` subclasses for bad input; the CLI turns them into a
one-paragraph message on stderr and exit code 2.
"""

from __future__ import annotations

import importlib

COMMANDS = ("plugins", "validate", "schema", "sample", "render", "train", "solve", "eval", "demo",
            "new_plugin")


def load(name: str) -> object | None:
    """The command module ``treediff.engine.commands.<name>``, or None while it is not written yet."""
    try:
        return importlib.import_module(f"treediff.engine.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"treediff.engine.commands.{name}":
            return None
        raise
