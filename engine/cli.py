"""The ``treediff`` command line: builds the parser from treediff.engine.commands and maps errors to exit codes."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from treediff.engine import __version__, commands
from treediff.engine.errors import InputError, TreediffError, printable


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
    for line in (printable(part) for part in text.split("\n")):  # other breaks (NEL, U+2028) become escapes
        if not line.strip():
            continue
        if out and not _LOCATED.match(line):
            out[-1] = f"{out[-1]} {' '.join(line.split())}"
        else:
            out.append(line.rstrip())
    return "\n".join(out)


def domain_flags(extra: Sequence[str]) -> dict[str, object]:
    """Leftover ``--name``, ``--no-name`` and ``--name=value`` arguments as a domain's observation options
    (validated later against the domain's options model, which names the options it knows)."""
    options: dict[str, object] = {}
    for arg in extra:
        if not arg.startswith("--") or len(arg) < 3:
            raise InputError(f"unexpected argument {arg!r}; expected domain options as --NAME, --no-NAME or "
                             "--NAME=VALUE after the positional arguments")
        name, eq, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if eq:
            options[key] = value
        elif key.startswith("no_"):
            options[key[3:]] = False
        else:
            options[key] = True
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "domain_options", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        try:
            args.options = domain_flags(extra)
        except TreediffError as exc:
            parser.error(str(exc))
    elif getattr(args, "domain_options", False):
        args.options = {}
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except TreediffError as exc:
        print(f"treediff {args.command}: error: {one_paragraph(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `treediff sample ... | head -1`: the reader left; stop quietly
        _silence_stdout()
        return 0
    except OSError as exc:  # a write that failed mid-run (disk full, read-only): one paragraph, no traceback
        from treediff.engine.outputs import os_error_message

        print(f"treediff {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"treediff {args.command}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not report the broken pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
