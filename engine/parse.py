"""Program text -> tree: a Lark parser generated from the grammar (LALR strict, Earley fallback)."""

from __future__ import annotations

import re
import weakref
from typing import Any

import lark
from lark import Lark, Token
from lark import Tree as LarkTree

from engine.errors import ParseError
from engine.grammar import Grammar, Production
from engine.tree import Node

_LEXEME = re.compile(r"[A-Za-z0-9_]+|\S")
_CACHE: weakref.WeakKeyDictionary[Grammar, Parser] = weakref.WeakKeyDictionary()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Parser:
    """Parses program text under one grammar. Get one with :func:`parser_for`."""

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.nt_index = {nt: i for i, nt in enumerate(grammar.nonterminals)}
        self.term_names: dict[str, str] = {}
        self.lark_source = self._generate()
        try:
            self.lark = Lark(self.lark_source, parser="lalr", strict=True, start="start", maybe_placeholders=False)
            self.algorithm = "lalr"
        except (lark.exceptions.GrammarError, AssertionError, ImportError):
            self.lark = Lark(self.lark_source, parser="earley", start="start", ambiguity="resolve",
                             maybe_placeholders=False)
            self.algorithm = "earley"

    def _terminal_token(self, slot_terminal: Any) -> str:
        t = slot_terminal
        if t.kind == "int":
            return "INT"
        if t.kind == "bool":
            return "BOOL"
        return f"E_{t.name.upper()}_{list(self.grammar.terminals).index(t.name)}"

    def _generate(self) -> str:
        g = self.grammar
        lines = [f"start: n{self.nt_index[g.start]}"]
        for nt, prods in g.rules.items():
            alts = []
            for p in prods:
                alts.append(" ".join(self._symbols(p)) + f" -> p{p.index}")
            lines.append(f"n{self.nt_index[nt]}: " + "\n    | ".join(alts))
        negative = any(t.kind == "int" and t.lo < 0 for t in g.terminals.values())
        lines.append(r"INT: /-?[0-9]+/" if negative else r"INT: /[0-9]+/")
        lines.append('BOOL: "true" | "false"')
        self.term_names.update({"INT": "an integer", "BOOL": "true or false"})
        for i, (name, t) in enumerate(g.terminals.items()):
            if t.kind == "enum":
                tok = f"E_{name.upper()}_{i}"
                lines.append(f"{tok}: " + " | ".join(_quote(w) for w in sorted(t.words, key=len, reverse=True)))
                self.term_names[tok] = f"a {name} ({t.describe()})"
        lines += ["%import common.WS", "%ignore WS"]
        return "\n".join(lines) + "\n"

    def _symbols(self, p: Production) -> list[str]:
        out: list[str] = []
        for piece in p.pieces:
            if isinstance(piece, str):
                out.extend(_quote(x) for x in _LEXEME.findall(piece))
            elif piece.terminal is None:
                out.append(f"n{self.nt_index[piece.symbol]}")
            else:
                out.append(self._terminal_token(piece.terminal))
        return out or ['""']

    def parse(self, text: str, source: str = "<program>") -> Node:
        """Parse ``text``; raises ParseError naming ``source``, line, column and what was expected."""
        try:
            tree = self.lark.parse(text)
        except lark.exceptions.UnexpectedInput as exc:
            raise ParseError(self._message(exc, text, source)) from None
        root = tree.children[0]
        assert isinstance(root, LarkTree)
        return self._convert(root, source)

    def _message(self, exc: lark.exceptions.UnexpectedInput, text: str, source: str) -> str:
        line, col = getattr(exc, "line", 1), getattr(exc, "column", 1)
        expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
        names = sorted({self._describe(e) for e in expected})
        at_end = isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END"
        if isinstance(exc, lark.exceptions.UnexpectedEOF) or line == -1 or at_end:
            line, col = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
            found = "end of input"
        elif isinstance(exc, lark.exceptions.UnexpectedToken):
            found = repr(str(exc.token))
        else:
            pos = getattr(exc, "pos_in_stream", 0) or 0
            found = repr(text[pos:pos + 12].split()[0] if text[pos:pos + 12].split() else text[pos:pos + 1])
        want = ", ".join(names[:12]) if names else "nothing more"
        return (f"{source}:{line}:{col}: program text does not parse under grammar {self.grammar.name!r}: "
                f"unexpected {found}; expected {want}")

    def _describe(self, terminal: str) -> str:
        if terminal in self.term_names:
            return self.term_names[terminal]
        try:
            pattern = self.lark.get_terminal(terminal).pattern
            return repr(pattern.value)
        except (KeyError, AttributeError):
            return terminal

    def _convert(self, tree: LarkTree[Token], source: str) -> Node:
        prod = self.grammar.productions[int(str(tree.data)[1:])]
        kids: list[Any] = []
        for slot, child in zip(prod.slots, tree.children):
            if slot.terminal is None:
                kids.append(self._convert(child, source))  # type: ignore[arg-type]
                continue
            assert isinstance(child, Token)
            term = slot.terminal
            value: Any = int(child) if term.kind == "int" else (child == "true" if term.kind == "bool" else str(child))
            if not term.contains(value):
                raise ParseError(f"{source}:{child.line}:{child.column}: value {str(child)!r} for field "
                                 f"{slot.field!r} of {prod.name!r} is out of range; expected {term.describe()}")
            kids.append(value)
        return Node(prod, tuple(kids))


def parser_for(grammar: Grammar) -> Parser:
    """The (cached) parser of ``grammar``."""
    parser = _CACHE.get(grammar)
    if parser is None:
        parser = _CACHE[grammar] = Parser(grammar)
    return parser


def parse(grammar: Grammar, text: str, source: str = "<program>") -> Node:
    """Parse program ``text`` into a tree of ``grammar``."""
    return parser_for(grammar).parse(text, source)
