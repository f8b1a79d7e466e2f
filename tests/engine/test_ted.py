"""Tree edit distance: agreement with zss and apted, metric identities and hand-checked values."""

from __future__ import annotations

import random

import zss
from apted import APTED
from apted.helpers import Tree as AptedTree

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import forward
from treediff.engine.trees.ted import labelled_children, tree_edit_distance
from treediff.engine.trees.tree import Node

DEPTH = 7  # the reference implementations are slow; keep toy trees small


def to_zss(node: Node) -> zss.Node:
    out = zss.Node(node.production.name)
    for label, sub in labelled_children(node):
        out.addkid(to_zss(sub) if sub is not None else zss.Node(label))
    return out


def to_bracket(node: Node) -> str:
    kids = "".join(to_bracket(sub) if sub is not None else "{" + label + "}"
                   for label, sub in labelled_children(node))
    return "{" + node.production.name + kids + "}"


def pairs(grammar: Grammar, seed: int, n: int) -> list[tuple[Node, Node]]:
    """Random pairs: half unrelated programs, half a program and a noised copy."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a = sample_tree(grammar, rng, 0 if grammar.min_sigma[grammar.start] == 0 else 1, 6, max_depth=DEPTH)
        b = forward(a, grammar, rng, max_depth=DEPTH) if i % 2 else sample_tree(grammar, rng, 1, 6, max_depth=DEPTH)
        out.append((a, b))
    return out


def test_matches_zss(toy_grammar: Grammar) -> None:
    for a, b in pairs(toy_grammar, 0, 24):
        assert tree_edit_distance(a, b) == zss.simple_distance(to_zss(a), to_zss(b)), (str(a), str(b))


def test_matches_apted(toy_grammar: Grammar) -> None:
    for a, b in pairs(toy_grammar, 1, 12):
        ref = APTED(AptedTree.from_text(to_bracket(a)), AptedTree.from_text(to_bracket(b))).compute_edit_distance()
        assert tree_edit_distance(a, b) == ref, (str(a), str(b))


def test_metric_identities(toy_grammar: Grammar) -> None:
    rng = random.Random(2)
    trees = [sample_tree(toy_grammar, rng, max_depth=DEPTH) for _ in range(9)]
    for a, b, c in zip(trees, trees[1:], trees[2:]):
        ab, bc, ac = tree_edit_distance(a, b), tree_edit_distance(b, c), tree_edit_distance(a, c)
        assert tree_edit_distance(a, a) == 0 and tree_edit_distance(Node(a.production, a.children), a) == 0
        assert ab == tree_edit_distance(b, a)
        assert ac <= ab + bc
        assert (ab == 0) == (a == b)


def test_hand_checked_values(csg_grammar: Grammar) -> None:
    def d(x: str, y: str) -> int:
        return tree_edit_distance(parse(csg_grammar, x), parse(csg_grammar, y))

    assert d("(Circle 1 2 3)", "(Circle 1 2 4)") == 1
    assert d("(+ (Circle 1 2 3) (Circle 1 2 3))", "(- (Circle 1 2 3) (Circle 1 2 3))") == 1
    # delete one circle (its node and three values) and the union node above the other
    assert d("(+ (Circle 1 2 3) (Circle 4 5 6))", "(Circle 1 2 3)") == 5
    # circle -> quad: relabel the node, relabel r/x/y into x/y/w, insert h and a
    assert d("(Circle 1 2 3)", "(Quad 4 5 6 7 1)") == 6
    assert d("(Circle 1 2 3)", "(Quad 1 2 3 7 1)") == 3
