"""Semantic checks on a grammar: symbols, reachability, productivity and printable distinctness."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from treediff.engine.grammar.spec import GrammarSpec
from treediff.engine.grammar.yamlsource import LocatedDocument

if TYPE_CHECKING:
    from treediff.engine.grammar.grammar import Grammar, Production

_LEXEME = re.compile(r"[A-Za-z0-9_]+|\S")


def check_symbols(spec: GrammarSpec, doc: LocatedDocument) -> None:
    """Start symbol defined, no name both a rule and a terminal, production names unique."""
    if spec.start not in spec.rules:
        hint = ("the start symbol must be a nonterminal (a key under rules)" if spec.start in spec.terminals
                else f"define rules.{spec.start} or set start to one of: {', '.join(spec.rules)}")
        doc.problems.append(doc.diagnostic(("start",), f"start symbol {spec.start!r} is not a rule", hint))
    for name in spec.terminals:
        if name in spec.rules:
            doc.problems.append(doc.diagnostic(("rules", name), f"{name!r} is both a rule and a terminal",
                                               "rename one of them", key=True))
    seen: dict[str, tuple[str, int]] = {}
    for nt, alts in spec.rules.items():
        for i, alt in enumerate(alts):
            if alt.name in seen:
                first_nt, first_i = seen[alt.name]
                line = doc.loc(("rules", first_nt, first_i, "name"))[0]
                doc.problems.append(doc.diagnostic(
                    ("rules", nt, i, "name"), f"duplicate production name {alt.name!r} (first used at line {line})",
                    "production names label tree nodes and must be unique across the grammar"))
            else:
                seen[alt.name] = (nt, i)


def check_grammar(g: Grammar, doc: LocatedDocument, broken: set[str] | None = None,
                  check_reachability: bool = True, mentioned: set[str] | None = None) -> set[str]:
    """Reachability, productivity, weights and distinguishable forms; appends to ``doc.problems``.

    Returns the names of productions that print like an earlier production of the same nonterminal.

    Nonterminals in ``broken`` already have a reported error in one of their productions; they are not
    also blamed for being non-productive (the missing production may be what would make them productive).
    Nonterminals in ``mentioned`` (used by such a dropped production) are not blamed for being unreachable.
    A grammar without any ``primitive: true`` production is an error: program sizes count primitives.
    """
    broken = broken or set()
    reachable = _reachable(g, mentioned or set()) if check_reachability else set(g.nonterminals)
    for nt in g.nonterminals:
        if nt in broken:
            continue
        if nt not in reachable:
            doc.problems.append(doc.diagnostic(("rules", nt), f"nonterminal {nt!r} is unreachable from start "
                                               f"symbol {g.start!r}", "use it in a slot or delete the rule",
                                               key=True))
        if not g.productive(nt):
            doc.problems.append(doc.diagnostic(("rules", nt), f"nonterminal {nt!r} is non-productive: every "
                                               "alternative recurses forever", "add an alternative that ends "
                                               "in terminals or literals only", key=True))
        elif all(p.weight == 0 for p in g.rules[nt]):
            doc.problems.append(doc.diagnostic(("rules", nt), f"every alternative of {nt!r} has weight 0",
                                               "give at least one alternative a positive weight", key=True))
    shadowed: set[str] = set()
    for nt, prods in g.rules.items():
        shadowed |= _check_distinct(nt, prods, doc)
    if g.productions and not doc.problems and not any(p.primitive for p in g.productions):
        doc.problems.append(doc.diagnostic(("rules",), "no production is marked `primitive: true`; expected at "
                                           "least one", "mark the productions that draw or produce one element "
                                           "(a shape, a list operation, ...) with `primitive: true`: sampling "
                                           "sizes (min/max_primitives) and edit sizes (sigma_small) count them",
                                           key=True))
    return shadowed


def _reachable(g: Grammar, extra: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    seen = {g.start, *extra}
    todo = list(seen)
    while todo:
        for p in g.rules.get(todo.pop(), ()):
            for sym in p.child_nonterminals:
                if sym not in seen:
                    seen.add(sym)
                    todo.append(sym)
    return seen


def signature(p: Production) -> tuple[str, ...]:
    """What the parser sees of a production: its literal lexemes and the kinds of its slots."""
    out: list[str] = []
    for piece in p.pieces:
        if isinstance(piece, str):
            out.extend(_LEXEME.findall(piece))
        elif piece.terminal is None:
            out.append("<" + piece.symbol + ">")
        else:
            out.append("<" + piece.terminal.kind + ">")
    return tuple(out)


def _clash(p: Production, q: Production) -> bool:
    """Whether some printed program of ``p`` is also a printed program of ``q`` (same lexemes, shared values)."""
    for a, b in zip(p.slots, q.slots):
        if a.terminal is None or b.terminal is None:
            continue
        ta, tb = a.terminal, b.terminal
        if ta.kind == "int" and (ta.hi < tb.lo or tb.hi < ta.lo):
            return False
        if ta.kind == "enum" and not set(ta.words) & set(tb.words):
            return False
    return True


def _check_distinct(nt: str, prods: tuple[Production, ...], doc: LocatedDocument) -> set[str]:
    shadowed: set[str] = set()
    seen: dict[tuple[str, ...], list[Production]] = {}
    for i, p in enumerate(prods):
        same = seen.setdefault(signature(p), [])
        other = next((q for q in same if _clash(q, p)), None)
        if other is not None:
            doc.problems.append(doc.diagnostic(
                ("rules", nt, i, "form"), f"productions {other.name!r} (line {other.line}) and {p.name!r} print "
                "the same way, so parsing cannot tell them apart", "add a distinguishing literal to one form, "
                "or give their typed slots disjoint values"))
            shadowed.add(p.name)
        same.append(p)
    return shadowed
