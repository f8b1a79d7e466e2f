"""Program text -> tree: a Lark parser generated from the grammar (LALR strict, Earley fallback)."""

from __future__ import annotations

import re
from typing import Any

import lark
from lark import Lark, Token
from lark import Tree as LarkTree

from treediff.engine.errors import Diagnostic, GrammarError, ParseError
from treediff.engine.grammar.grammar import Grammar, Production
from treediff.engine.trees.tree import Node

_LEXEME = re.compile(r"[A-Za-z0-9_]+|\S")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Parser:
    """Parses program text under one grammar. Get one with :func:`parser_for`."""

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.nt_index = {nt: i for i, nt in enumerate(grammar.nonterminals)}
        self.term_names: dict[str, str] = {}
        # productions whose forms give the same token pattern share one Lark alternative; the values of
        # their typed leaves decide between them after parsing (e.g. {v:digit} vs {v:big})
        self.groups: list[tuple[Production, ...]] = []
        self.lark_source = self._generate()
        try:
            self.lark = Lark(self.lark_source, parser="lalr", strict=True, start="start", maybe_placeholders=False)
            self.algorithm = "lalr"
        except (lark.exceptions.LarkError, AssertionError, ImportError):
            try:
                self.lark = Lark(self.lark_source, parser="earley", start="start", ambiguity="resolve",
                                 maybe_placeholders=False)
            except lark.exceptions.LarkError as exc:
                raise GrammarError([Diagnostic(grammar.source, 1, 1, f"cannot build a parser for grammar "
                                               f"{grammar.name!r}: {exc}", "report this grammar as a bug")]) from None
            self.algorithm = "earley"

    @staticmethod
    def _terminal_token(kind: str) -> str:
        return {"int": "INT", "bool": "BOOL"}.get(kind, "WORD")

    def _generate(self) -> str:
        g = self.grammar
        lines = [f"start: n{self.nt_index[g.start]}"]
        for nt, prods in g.rules.items():
            by_pattern: dict[str, list[Production]] = {}
            for p in prods:
                by_pattern.setdefault(" ".join(self._symbols(p)), []).append(p)
            alts = []
            for pattern, members in by_pattern.items():
                alts.append(f"{pattern} -> g{len(self.groups)}")
                self.groups.append(tuple(members))
            lines.append(f"n{self.nt_index[nt]}: " + "\n    | ".join(alts))
        negative = any(t.kind == "int" and t.lo < 0 for t in g.terminals.values())
        lines.append(r"INT: /-?[0-9]+/" if negative else r"INT: /[0-9]+/")
        lines.append('BOOL: "true" | "false"')
        self.term_names.update({"INT": "an integer", "BOOL": "true or false"})
        words = sorted({w for t in g.terminals.values() for w in t.words}, key=lambda w: (-len(w), w))
        if words:
            lines.append("WORD: " + " | ".join(_quote(w) for w in words))
            enums = [t for t in g.terminals.values() if t.kind == "enum"]
            self.term_names["WORD"] = " or ".join(f"a {t.name} ({t.describe()})" for t in enums)
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
                out.append(self._terminal_token(piece.terminal.kind))
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
        """Lark tree -> Node, iteratively (no recursion limit) and refusing trees deeper than the limit."""
        from treediff.engine.limits import MAX_TREE_DEPTH

        done: dict[int, Node] = {}  # id(lark subtree) -> its converted node
        stack: list[tuple[LarkTree[Token], int, bool]] = [(tree, 1, False)]
        while stack:
            sub, depth, expanded = stack.pop()
            if not expanded:
                if depth > MAX_TREE_DEPTH:
                    raise ParseError(f"{source}: program is nested more than {MAX_TREE_DEPTH} levels deep; "
                                     f"expected at most {MAX_TREE_DEPTH} (treediff.engine.limits.MAX_TREE_DEPTH). "
                                     "hint: split the program, or flatten long chains of nested operators")
                stack.append((sub, depth, True))
                stack.extend((c, depth + 1, False) for c in sub.children if isinstance(c, LarkTree))
                continue
            done[id(sub)] = self._node(sub, done, source)
        return done[id(tree)]

    def _node(self, tree: LarkTree[Token], done: dict[int, Node], source: str) -> Node:
        group = self.groups[int(str(tree.data)[1:])]
        for prod in group:
            values = self._values(prod, tree.children)
            if values is not None:
                kids = [done.pop(id(c)) if isinstance(c, LarkTree) else v for c, v in zip(tree.children, values)]
                return Node(prod, tuple(kids))
        raise ParseError(self._range_message(group, tree.children, source))

    @staticmethod
    def _values(prod: Production, children: list[Any]) -> list[Any] | None:
        """The typed leaf values of ``children`` under ``prod`` (None where a value is out of range)."""
        out: list[Any] = []
        for slot, child in zip(prod.slots, children):
            term = slot.terminal
            if term is None:
                out.append(None)
                continue
            value = _typed(term.kind, str(child))
            if not term.contains(value):
                return None
            out.append(value)
        return out

    @staticmethod
    def _range_message(group: tuple[Production, ...], children: list[Any], source: str) -> str:
        prod = group[0]
        for i, (slot, child) in enumerate(zip(prod.slots, children)):
            if slot.terminal is None or not isinstance(child, Token):
                continue
            options = [p.slots[i] for p in group if p.slots[i].terminal is not None]
            wanted = " or ".join(f"{s.terminal.describe()} (field {s.field!r} of {p.name!r})"  # type: ignore[union-attr]
                                 for p, s in zip(group, options))
            if all(Parser._values(p, children) is None for p in group):
                value: Any = str(child)
                if not any(s.terminal.contains(_typed(s.terminal.kind, value)) for s in options):  # type: ignore[union-attr]
                    return (f"{source}:{child.line}:{child.column}: value {value!r} is out of range; expected "
                            f"{wanted}")
        return f"{source}: values do not fit any of the productions {[p.name for p in group]}"


def _typed(kind: str, text: str) -> Any:
    return int(text) if kind == "int" else (text == "true" if kind == "bool" else text)


def parser_for(grammar: Grammar) -> Parser:
    """The parser of ``grammar``, built once and kept on the grammar (so both are freed together)."""
    parser = grammar.__dict__.get("_parser")
    if parser is None:
        parser = grammar.__dict__["_parser"] = Parser(grammar)
    return parser


def parse(grammar: Grammar, text: str, source: str = "<program>") -> Node:
    """Parse program ``text`` into a tree of ``grammar``."""
    return parser_for(grammar).parse(text, source)
