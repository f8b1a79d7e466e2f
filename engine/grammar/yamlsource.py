"""Located YAML: load a document into plain Python values plus the line:col of every key and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from treediff.engine.errors import Diagnostic

Loc = tuple[int, int]
Path = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document and where each part of it came from (1-based line and column)."""

    data: Any
    path: str
    value_locs: dict[Path, Loc] = field(default_factory=dict)
    key_locs: dict[Path, Loc] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)

    def loc(self, where: Path, key: bool = False) -> Loc:
        """The location of ``where`` (or of its key), falling back to the nearest located parent."""
        table = self.key_locs if key else self.value_locs
        probe = tuple(where)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.key_locs:
                return self.key_locs[probe]
            probe = probe[:-1]
        return self.value_locs.get((), (1, 1))

    def diagnostic(self, where: Path, message: str, hint: str = "", key: bool = False) -> Diagnostic:
        """A diagnostic located at ``where`` in this document."""
        line, col = self.loc(where, key=key)
        return Diagnostic(self.path, line, col, message, hint)


def _mark(node: yaml.Node) -> Loc:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(doc: LocatedDocument, node: yaml.Node, where: Path) -> Any:
    constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
    yaml.SafeLoader.__init__(constructor, "")
    doc.value_locs[where] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                doc.problems.append(Diagnostic(doc.path, *_mark(key_node), "mapping keys must be scalars"))
                continue
            if key in out:
                first = doc.key_locs[where + (key,)]
                doc.problems.append(Diagnostic(
                    doc.path, *_mark(key_node), f"duplicate key {key!r} (first defined at line {first[0]})",
                    "YAML keeps only the last value of a repeated key; merge the two entries or rename one"))
                continue
            doc.key_locs[where + (key,)] = _mark(key_node)
            out[key] = _build(doc, value_node, where + (key,))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(doc, item, where + (i,)) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def load_located(text: str, path: str) -> LocatedDocument:
    """Parse YAML ``text``; syntax errors and duplicate keys become diagnostics, not exceptions."""
    doc = LocatedDocument(data=None, path=path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        doc.problems.append(_syntax_diagnostic(exc, text, path))
        return doc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (e.g. NUL), at a character offset
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        doc.problems.append(Diagnostic(path, line, col, f"YAML error: the character {char!r} is not allowed in YAML",
                                       "remove it; in a double-quoted string it can be written as an escape"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Diagnostic(path, 1, 1, f"YAML error: {' '.join(str(exc).split())}"))
        return doc
    if root is None:
        doc.problems.append(Diagnostic(path, 1, 1, "the file is empty", "a grammar needs name, start and rules"))
        return doc
    doc.data = _build(doc, root, ())
    return doc


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, path: str) -> Diagnostic:
    """Locate a YAML syntax error where the user has to fix it, not where the parser gave up."""
    # scanner errors and unclosed flow brackets are best shown where the construct opened
    scanning = bool(exc.context and exc.context.startswith(("while scanning", "while parsing a flow")))
    mark = (exc.context_mark if scanning else exc.problem_mark) or exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = exc.problem or "invalid YAML"
    if exc.context and exc.problem_mark and scanning:
        what = f"{exc.context}: {what} (line {exc.problem_mark.line + 1})"
    hint = "check indentation, quoting and colons on this line"
    if "\\t" in what:
        what, hint = "a tab character cannot indent YAML", "indent with spaces only"
    unclosed = _unclosed_quote_line(text, line)
    if unclosed is not None and not scanning:
        return Diagnostic(path, unclosed, 1, f"YAML syntax error: the quoted string opened on this line is not "
                          f"closed on it (the parser then failed at line {line}: {what})",
                          'close the quote at the end of the value, e.g. form: "(Circle {r:coord})"')
    return Diagnostic(path, line, col, f"YAML syntax error: {what}", hint)


def _unclosed_quote_line(text: str, before: int) -> int | None:
    """The first line up to ``before`` whose double quotes (outside comments) do not pair up."""
    for number, raw in enumerate(text.splitlines()[:before], start=1):
        body = raw.replace('\\"', "")
        quotes = 0
        for ch in body:
            if ch == "#" and quotes % 2 == 0:
                break
            quotes += ch == '"'
        if quotes % 2:
            return number
    return None
