"""Compiled grammars: productions with named fields, typed terminals, sizes and semantic checks."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path as FsPath
from typing import Any

from treediff.engine.errors import GrammarError, InputError
from treediff.engine.grammar.checks import check_grammar, check_symbols  # checks needs grammar types only
from treediff.engine.grammar.spec import EnumTerminalSpec, GrammarSpec, IntTerminalSpec, ProductionSpec
from treediff.engine.grammar.specerrors import Salvage, validate_spec
from treediff.engine.grammar.yamlsource import LocatedDocument, load_located

Value = int | str | bool
INF = 10**9
_SLOT = re.compile(r"\{([^{}]*)\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Terminal:
    """A typed leaf: int range ``lo..hi``, an enum of words, or a bool."""

    name: str
    kind: str  # "int" | "enum" | "bool"
    lo: int = 0
    hi: int = 1
    words: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Number of distinct values."""
        if self.kind == "int":
            return self.hi - self.lo + 1
        return len(self.words) if self.kind == "enum" else 2

    @cached_property
    def values(self) -> tuple[Value, ...]:
        """Every value in canonical order (ints ascending, enum as declared, False then True)."""
        if self.kind == "int":
            return tuple(range(self.lo, self.hi + 1))
        return self.words if self.kind == "enum" else (False, True)

    def index(self, value: Value) -> int:
        """Position of ``value`` in :attr:`values`; ``ValueError`` if it is not one of them."""
        if self.kind == "int":
            if type(value) is not int or not self.lo <= value <= self.hi:
                raise ValueError(value)
            return value - self.lo
        if self.kind == "bool":
            if type(value) is not bool:
                raise ValueError(value)
            return int(value)
        return self.words.index(value)  # type: ignore[arg-type,unused-ignore]

    def contains(self, value: Value) -> bool:
        """Whether ``value`` is a legal value of this terminal."""
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def text(self, value: Value) -> str:
        """How ``value`` is printed in program text."""
        if self.kind == "bool":
            return "true" if value else "false"
        return str(value)

    def describe(self) -> str:
        """Human-readable domain, for error messages."""
        if self.kind == "int":
            return f"an integer {self.lo}..{self.hi}"
        if self.kind == "bool":
            return "true or false"
        return "one of " + ", ".join(self.words)


@dataclass(frozen=True, eq=False)
class Slot:
    """A ``{field:symbol}`` hole in a production's form."""

    field: str
    symbol: str
    terminal: Terminal | None  # None when the symbol is a nonterminal


@dataclass(frozen=True, eq=False)
class Production:
    """One alternative ``lhs -> form``; identity-compared, unique within its grammar."""

    name: str
    lhs: str
    index: int
    pieces: tuple[str | Slot, ...]  # printing template: literal text and slots in order
    slots: tuple[Slot, ...]
    primitive: bool
    weight: float
    line: int = 0  # where the form is written in the grammar file (1-based)
    col: int = 0
    field_index: dict[str, int] = field(default_factory=dict)

    @property
    def child_nonterminals(self) -> tuple[str, ...]:
        """The nonterminal symbols among the slots, in order."""
        return tuple(s.symbol for s in self.slots if s.terminal is None)

    def __repr__(self) -> str:
        return f"Production({self.name!r})"


class Grammar:
    """A compiled, checked grammar. Build with :meth:`load` or :meth:`from_text`."""

    def __init__(self, spec: GrammarSpec, productions: list[Production], terminals: dict[str, Terminal],
                 source: str = "<string>") -> None:
        self.spec = spec
        self.name = spec.name
        self.start = spec.start
        self.source = source
        self.terminals = terminals
        self.productions = tuple(productions)
        self.by_name = {p.name: p for p in productions}
        self.rules: dict[str, tuple[Production, ...]] = {
            nt: tuple(p for p in productions if p.lhs == nt) for nt in spec.rules}
        self.nonterminals = tuple(spec.rules)
        self.min_sigma, self.prod_min_sigma = fixpoint_min(self, lambda p: 1 if p.primitive else 0)
        self.min_height, self.prod_min_height = fixpoint_min(self, lambda p: 1, lambda ks: max(ks, default=0))
        self.min_nodes, self.prod_min_nodes = fixpoint_min(self, lambda p: 1)

    def productive(self, nonterminal: str) -> bool:
        """Whether ``nonterminal`` derives at least one finite tree."""
        return self.min_height[nonterminal] < INF

    @classmethod
    def load(cls, path: str | FsPath) -> Grammar:
        """Read and compile a grammar YAML file; raises GrammarError (located) or InputError."""
        try:
            text = FsPath(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"grammar file {str(path)!r} cannot be read: {exc}; expected a UTF-8 YAML "
                             "file") from None
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, path: str = "<string>") -> Grammar:
        """Compile grammar YAML ``text``; every problem found is reported in one GrammarError."""
        doc = load_located(text, path)
        if doc.problems and doc.data is None:
            raise GrammarError(doc.problems)
        spec, salvage = validate_spec(doc)
        if spec is None:
            raise GrammarError(sorted(doc.problems, key=lambda d: (d.line, d.col)))
        return compile_spec(spec, doc, salvage)

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the grammar's content (not its file path): checkpoints record it."""
        blob = json.dumps(self.spec.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Grammar({self.name!r}, {len(self.productions)} productions)"


def fixpoint_min(g: Grammar, cost: Callable[[Production], int],
                 combine: Callable[[list[int]], int] = sum) -> tuple[dict[str, int], list[int]]:
    """Least fixpoint of ``min over productions of cost(p) + combine(minima of child nonterminals)``.

    With ``combine=sum`` and ``cost=1`` this is the minimum node count; with ``max`` the minimum height.
    Returns per-nonterminal and per-production (by index) minima; ``INF`` marks non-productive ones.
    """
    best = {nt: INF for nt in g.nonterminals}
    per_prod = [INF] * len(g.productions)
    changed = True
    while changed:
        changed = False
        for p in g.productions:
            kids = [best[s] for s in p.child_nonterminals]
            total = INF if any(k >= INF for k in kids) else cost(p) + combine(kids)
            if total < per_prod[p.index]:
                per_prod[p.index] = total
            if total < best[p.lhs]:
                best[p.lhs] = total
                changed = True
    return best, per_prod


def _parse_form(form: str) -> tuple[list[str | tuple[str, str]], str | None]:
    """Split a form into literal text and (field, symbol) slots; second item is an error message."""
    pieces: list[str | tuple[str, str]] = []
    pos = 0
    for m in _SLOT.finditer(form):
        literal = form[pos:m.start()]
        if "{" in literal or "}" in literal:
            return [], f"unbalanced brace in form {form!r}"
        if literal:
            pieces.append(literal)
        inner = m.group(1)
        if inner.count(":") != 1:
            return [], f"slot {{{inner}}} in form {form!r} is not of the shape {{field:symbol}}"
        fname, sym = (x.strip() for x in inner.split(":"))
        if not _IDENT.match(fname) or not _IDENT.match(sym):
            return [], f"slot {{{inner}}} needs identifier field and symbol names"
        pieces.append((fname, sym))
        pos = m.end()
    tail = form[pos:]
    if "{" in tail or "}" in tail:
        return [], f"unbalanced brace in form {form!r}"
    if tail:
        pieces.append(tail)
    if not form.strip():
        return [], "empty form: an alternative must print something"
    return pieces, None


def _normalize(pieces: list[str | tuple[str, str]]) -> list[str | tuple[str, str]]:
    """Collapse whitespace runs in literals to one space and strip the ends of the form."""
    out: list[str | tuple[str, str]] = []
    for i, piece in enumerate(pieces):
        if isinstance(piece, str):
            text = re.sub(r"\s+", " ", piece)
            if i == 0:
                text = text.lstrip()
            if i == len(pieces) - 1:
                text = text.rstrip()
            if text:
                out.append(text)
        else:
            out.append(piece)
    return out


def _terminal(name: str, spec: Any) -> Terminal:
    if isinstance(spec, IntTerminalSpec):
        return Terminal(name, "int", spec.min, spec.max)
    if isinstance(spec, EnumTerminalSpec):
        return Terminal(name, "enum", words=tuple(spec.values))
    return Terminal(name, "bool")


def compile_spec(spec: GrammarSpec, doc: LocatedDocument | None = None, salvage: Salvage | None = None) -> Grammar:
    """Turn a validated spec into a Grammar, running every semantic check.

    ``salvage`` names parts already reported and dropped by schema validation; they are not blamed again.
    """
    doc = doc or LocatedDocument(data=None, path="<spec>")
    salvage = salvage or Salvage()
    terminals = {n: _terminal(n, t) for n, t in spec.terminals.items()}
    productions: list[Production] = []
    broken = set(salvage.broken_rules)  # nonterminals with a production that failed to compile
    for nt, alts in spec.rules.items():
        for i, alt in enumerate(alts):
            before = len(doc.problems)
            prod = _compile_production(alt, nt, len(productions), terminals, spec, doc, ("rules", nt, i), salvage)
            if prod is None and len(doc.problems) == before:
                broken.add(nt)
            if len(doc.problems) > before:
                broken.add(nt)
            elif prod is not None:
                productions.append(prod)
    check_symbols(spec, doc)
    if salvage.start_unknown or spec.start in salvage.removed_rules:
        doc.problems[:] = [d for d in doc.problems if "start symbol" not in d.message]
    start_ok = spec.start in spec.rules and not salvage.removed_rules
    grammar = Grammar(spec, productions, terminals, doc.path)
    shadowed = check_grammar(grammar, doc, broken=broken, check_reachability=start_ok,
                             mentioned=_mentioned_by(doc, broken))
    if doc.problems:
        # every production compiled (the problems are between them): the rest is worth probing for more
        whole = start_ok and not broken and not salvage.removed_terminals
        kept = [p for p in productions if p.name not in shadowed]
        partial = Grammar(spec, [replace(p, index=i) for i, p in enumerate(kept)], terminals, doc.path)
        raise GrammarError(sorted(doc.problems, key=lambda d: (d.line, d.col)), partial=partial if whole else None)
    return grammar


_SLOT_SYMBOL = re.compile(r"\{\s*\w+\s*:\s*(\w+)\s*\}")


def _mentioned_by(doc: LocatedDocument, rules: set[str]) -> set[str]:
    """Symbols named in the slots of the written forms of ``rules`` (productions dropped for another error
    still make the symbols they use reachable: no spurious "unreachable" after e.g. a misspelt key)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    rules_data = data.get("rules")
    raw_rules: dict[Any, Any] = rules_data if isinstance(rules_data, dict) else {}
    out: set[str] = set()
    for nt in rules:
        alts = raw_rules.get(nt)
        for alt in alts if isinstance(alts, list) else []:
            form = alt.get("form") if isinstance(alt, dict) else None
            if isinstance(form, str):
                out.update(_SLOT_SYMBOL.findall(form))
    return out


def _compile_production(alt: ProductionSpec, nt: str, index: int, terminals: dict[str, Terminal],
                        spec: GrammarSpec, doc: LocatedDocument, where: tuple[Any, ...],
                        salvage: Salvage) -> Production | None:
    raw, error = _parse_form(alt.form)
    if error:
        doc.problems.append(doc.diagnostic(where + ("form",), f"production {alt.name!r}: {error}",
                                           'write slots as {field:symbol}, e.g. "(Circle {r:coord})"'))
        return None
    pieces: list[str | Slot] = []
    slots: list[Slot] = []
    for piece in _normalize(raw):
        if isinstance(piece, str):
            pieces.append(piece)
            continue
        fname, sym = piece
        if salvage.known(sym):  # defined, but dropped after a schema error already reported
            return None
        if sym not in spec.rules and sym not in terminals:
            doc.problems.append(doc.diagnostic(
                where + ("form",), f"production {alt.name!r}: undefined symbol {sym!r} in slot {{{fname}:{sym}}}",
                _closest(sym, list(spec.rules) + list(terminals))))
            continue
        if any(s.field == fname for s in slots):
            doc.problems.append(doc.diagnostic(where + ("form",),
                                               f"production {alt.name!r}: field {fname!r} appears twice",
                                               "give every slot of a production its own field name"))
            continue
        slot = Slot(fname, sym, terminals.get(sym) if sym not in spec.rules else None)
        slots.append(slot)
        pieces.append(slot)
    line, col = doc.loc(where + ("form",))
    return Production(alt.name, nt, index, tuple(pieces), tuple(slots), alt.primitive, alt.weight, line, col,
                      {s.field: i for i, s in enumerate(slots)})


def _closest(word: str, options: list[str]) -> str:
    import difflib

    near = difflib.get_close_matches(word, options, n=1)
    known = ", ".join(sorted(options))
    return f"did you mean {near[0]!r}? known symbols: {known}" if near else f"known symbols: {known}"
