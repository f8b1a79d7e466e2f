"""The error hierarchy: every failure the engine reports derives from TreediffError."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


def printable(text: str) -> str:
    """``text`` on one line: line breaks and tabs become spaces, other control characters (NUL, ESC, NEL,
    U+2028, ...) are shown as escapes, so that a bad value quoted from a user's file cannot break or hide lines."""
    out = []
    for ch in text:
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


class TreediffError(Exception):
    """Base of every error treediff raises on purpose.

    Messages say which object failed, the bad value, what was expected, and a hint.
    The CLI prints ``str(error)`` and exits with code 2, never a traceback.
    """

    exit_code: int = 2


@dataclass(frozen=True)
class Diagnostic:
    """One located problem in a user file: ``path:line:col: message`` plus an optional hint."""

    path: str
    line: int
    col: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.col}: {printable(self.message)}"
        return f"{text}\n    hint: {printable(self.hint).rstrip()}" if self.hint else text


class GrammarError(TreediffError):
    """A grammar YAML file is invalid; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic], partial: object | None = None) -> None:
        self.diagnostics = list(diagnostics)
        self.partial = partial  # the Grammar built from the parts that compiled, when there is one
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ParseError(TreediffError):
    """Program text does not parse under a grammar (or a value is out of its terminal's range)."""


class TreeError(TreediffError):
    """A tree, path or edit does not fit the grammar or the tree it is applied to."""


class PluginError(TreediffError):
    """A plugin failed to load, or two plugins registered the same name."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same domain or encoder name: ``kind``, ``name`` and both ``plugins``."""

    def __init__(self, kind: str, name: str, plugins: tuple[str, str]) -> None:
        self.kind, self.name, self.plugins = kind, name, plugins
        super().__init__(f"{kind} {name!r} is registered twice: by plugin {plugins[0]!r} and by plugin "
                         f"{plugins[1]!r}; hint: uninstall one of them or rename the {kind}")


class DomainError(TreediffError):
    """A domain is unknown, or its executor was given input it cannot handle."""


class InputError(TreediffError):
    """A user-supplied file (image, config, program file) is unreadable or malformed."""


class CheckpointError(TreediffError):
    """A checkpoint is unreadable or does not match the grammar, domain or model asked for."""
