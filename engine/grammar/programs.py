"""Program input at the edges: text or a file of programs, read and parsed with located errors."""

from __future__ import annotations

from pathlib import Path

from treediff.engine.errors import InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.limits import check_program_length
from treediff.engine.trees.tree import Node


def read_program(grammar: Grammar, text_or_path: str) -> Node:
    """Parse ``text_or_path``: a file when one exists at that path, otherwise program text itself."""
    path = Path(text_or_path)
    looks_like_file = len(text_or_path) < 4096 and "\n" not in text_or_path and path.suffix != ""
    if looks_like_file and path.is_file():
        try:
            check_program_length(path.stat().st_size, str(path))  # before reading: bytes >= characters
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"program file {text_or_path!r} cannot be read: {exc}; expected UTF-8 "
                             f"{grammar.name} program text") from None
        return parse(grammar, text.strip(), source=str(path))
    if looks_like_file and not path.exists() and not text_or_path.lstrip().startswith(("(", "[")):
        if path.suffix.lower() in (".txt", ".prog", ".lisp", ".sexp"):
            raise InputError(f"program file {text_or_path!r} does not exist; expected a readable file or "
                             "program text")
    check_program_length(len(text_or_path), "<argument>")
    return parse(grammar, text_or_path.strip(), source="<argument>")
