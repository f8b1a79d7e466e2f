"""Paths and names of the toy grammars every engine test can use."""

from __future__ import annotations

import random
from pathlib import Path

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import Node

GRAMMAR_DIR = Path(__file__).parent / "grammars"
TOY_GRAMMARS = sorted(p.stem for p in GRAMMAR_DIR.glob("*.yaml"))


def random_tree(g: Grammar, rng: random.Random, nonterminal: str, depth: int = 6) -> Node:
    """An independent random derivation: uniform productions, shortest ones once ``depth`` runs out."""
    prods = g.rules[nonterminal]
    if depth <= 0:
        lowest = min(g.prod_min_height[p.index] for p in prods)
        prods = tuple(p for p in prods if g.prod_min_height[p.index] == lowest)
    prod = rng.choice(prods)
    kids = tuple(rng.choice(s.terminal.values) if s.terminal else random_tree(g, rng, s.symbol, depth - 1)
                 for s in prod.slots)
    return Node(prod, kids)
