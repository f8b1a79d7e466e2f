"""Full validation of grammar files: compile checks plus a print -> parse round-trip probe."""

from __future__ import annotations

import random
from pathlib import Path

from engine.errors import Diagnostic, GrammarError, InputError, ParseError, TreeError
from engine.grammar import Grammar
from engine.parse import parser_for
from engine.tree import Node, to_text, walk

PROBE_TREES = 200


def round_trip_problems(grammar: Grammar, trees: int = PROBE_TREES, seed: int = 0) -> list[Diagnostic]:
    """Sample programs, print and re-parse them; every production involved in a mismatch is reported."""
    from engine.sample import sample_tree  # sampling is a layer above parsing

    rng = random.Random(seed)
    parser = parser_for(grammar)
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
            _note(problems, grammar, tree, text, f"has more than one parse: printed from {structure(tree)} "
                                                 f"but parsed as {structure(back)}")
    return list(problems.values())


def structure(node: Node) -> str:
    """A bracketed production-name view of a tree, e.g. ``sub(sub(6, 3), 2)``."""
    parts = [structure(c) if isinstance(c, Node) else repr(c) for c in node.children]
    return f"{node.name}({', '.join(parts)})" if parts else node.name


def _note(problems: dict[str, Diagnostic], grammar: Grammar, tree: Node, text: str, what: str) -> None:
    if any(node.name in problems for _, node in walk(tree)):
        return
    prod = tree.production
    hint = ("add distinguishing literals or brackets to the forms involved so every printed program has a "
            "single parse (e.g. wrap infix forms in parentheses)")
    problems[prod.name] = Diagnostic(grammar.source, prod.line, prod.col,
                                     f"printing then parsing does not round-trip: program {text!r} {what}", hint)


def validate_file(path: str | Path) -> list[Diagnostic]:
    """Every problem in one grammar file (empty list when valid); InputError when it cannot be read."""
    try:
        grammar = Grammar.load(path)
    except GrammarError as exc:
        return exc.diagnostics
    except InputError:
        raise
    return round_trip_problems(grammar)
