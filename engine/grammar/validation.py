"""Full validation of grammar files: compile checks plus a print -> parse round-trip probe."""

from __future__ import annotations

import random
from pathlib import Path

from treediff.engine.errors import Diagnostic, GrammarError, ParseError, TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parser_for
from treediff.engine.trees.tree import Node, to_text

PROBE_TREES = 200


def round_trip_problems(grammar: Grammar, trees: int = PROBE_TREES, seed: int = 0) -> list[Diagnostic]:
    """Sample programs, print and re-parse them; every production involved in a mismatch is reported."""
    from treediff.engine.trees.derivation import sample_tree  # sampling is a layer above parsing

    rng = random.Random(seed)
    try:
        parser = parser_for(grammar)
    except GrammarError as exc:
        return exc.diagnostics
    problems: dict[str, Diagnostic] = {}
    for i in range(trees):  # small programs first, so a reported example is as short as possible
        try:
            tree = sample_tree(grammar, rng, min_primitives=0, max_primitives=1 + 4 * i // trees)
        except TreeError:
            break
        text = to_text(tree)
        try:
            back = parser.parse(text)
        except ParseError as exc:
            _note(problems, grammar, tree, text, f"does not parse back ({str(exc).split(': ', 1)[-1]})")
            continue
        if back != tree:
            what = f"has more than one parse: printed from {structure(tree)} but parsed as {structure(back)}"
            _note(problems, grammar, culprit(tree, back), text, what)
    return list(problems.values())


def structure(node: Node) -> str:
    """A bracketed production-name view of a tree, e.g. ``sub(sub(6, 3), 2)``."""
    parts = [structure(c) if isinstance(c, Node) else repr(c) for c in node.children]
    return f"{node.name}({', '.join(parts)})" if parts else node.name


def culprit(printed: Node, parsed: Node) -> Node:
    """The node of ``printed`` whose form let the parser read it differently.

    Descend while both trees agree on a node and differ in exactly one child; the first node whose
    production differs, or whose children differ in several places, is the one to blame.
    """
    if printed.name != parsed.name:
        return printed
    diffs = [i for i, (a, b) in enumerate(zip(printed.children, parsed.children)) if a != b]
    if len(diffs) == 1:
        a, b = printed.children[diffs[0]], parsed.children[diffs[0]]
        if isinstance(a, Node) and isinstance(b, Node):
            return culprit(a, b)
    return printed


def _note(problems: dict[str, Diagnostic], grammar: Grammar, tree: Node, text: str, what: str) -> None:
    prod = tree.production
    if prod.name in problems:
        return
    hint = ("add distinguishing literals or brackets to the forms involved so every printed program has a "
            "single parse (e.g. wrap infix forms in parentheses)")
    problems[prod.name] = Diagnostic(grammar.source, prod.line, prod.col,
                                     f"printing then parsing does not round-trip: program {text!r} {what}", hint)


def validate_file(path: str | Path) -> list[Diagnostic]:
    """Every problem in one grammar file (empty list when valid); InputError when it cannot be read."""
    try:
        grammar = Grammar.load(path)
    except GrammarError as exc:
        if not isinstance(exc.partial, Grammar):
            return exc.diagnostics
        # the parts that compiled can still print ambiguously: probe them, without repeating a line
        lines = {d.line for d in exc.diagnostics}
        extra = [d for d in round_trip_problems(exc.partial) if d.line not in lines]
        return sorted(exc.diagnostics + extra, key=lambda d: (d.line, d.col))
    return round_trip_problems(grammar)
