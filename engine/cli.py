"""The ``treediff`` command line: builds the parser from treediff.engine.commands and maps errors to exit codes."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from treediff.engine import __version__, commands
from treediff.engine.errors import TreediffError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="treediff", description="Program synthesis by diffusion over syntax trees.")
    parser.add_argument("--version", action="version", version=f"treediff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands.COMMANDS:
        commands.load(name).register(sub)  # type: ignore[attr-defined]
    return parser


_LOCATED = re.compile(r"^(\S+:\d+:\d+: |    hint: )")


def one_paragraph(text: str) -> str:
    """An error message as one paragraph: line breaks inside it (e.g. a pydantic dump) become spaces; only
    located diagnostics (``path:line:col: ...`` and their hints) keep a line each."""
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if out and not _LOCATED.match(line):
            out[-1] = f"{out[-1]} {' '.join(line.split())}"
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except TreediffError as exc:
        print(f"treediff {args.command}: error: {one_paragraph(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a write that failed mid-run (disk full, read-only): one paragraph, no traceback
        from treediff.engine.outputs import os_error_message

        print(f"treediff {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"treediff {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
