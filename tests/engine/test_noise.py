"""Noise: mutations, the forward process and reverse edit paths, as properties over every toy grammar."""

from __future__ import annotations

import random

import pytest

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import forward, mutate, path_length, reverse_path, small_nodes
from treediff.engine.trees.tree import Edit, Node, get, validate

# Toy-grammar trees stay small enough for quick tests (the lists grammar grows fast with depth).
DEPTH = 9

TWO_PARTS = """
name: two_parts
start: s
terminals:
  bit: {type: bool}
rules:
  s:
    - name: pair
      form: "( {a:u} {b:v} )"
  u:
    - name: one
      form: "one"
      primitive: true
  v:
    - name: flag
      form: "flag {f:bit}"
      primitive: true
"""


def apply_path(tree: Node, edits: list[Edit]) -> Node:
    for edit in edits:
        tree = edit.apply(tree)
    return tree


def test_mutation_is_a_different_valid_tree_its_edit_reproduces(toy_grammar: Grammar) -> None:
    rng = random.Random(0)
    for _ in range(150):
        tree = sample_tree(toy_grammar, rng, max_depth=DEPTH)
        new, edit = mutate(tree, toy_grammar, rng, max_depth=DEPTH)
        validate(new, toy_grammar)
        assert new != tree and edit.apply(tree) == new
        assert get(tree, edit.path).sigma <= 2 and edit.replacement.sigma <= 2
        assert get(tree, edit.path) != edit.replacement


def test_reversing_one_mutation_takes_one_edit(toy_grammar: Grammar) -> None:
    rng = random.Random(1)
    for _ in range(150):
        tree = sample_tree(toy_grammar, rng, max_depth=DEPTH)
        new, _ = mutate(tree, toy_grammar, rng, max_depth=DEPTH)
        path = reverse_path(new, tree, toy_grammar)
        assert len(path) == 1 and apply_path(new, path) == tree


def test_reverse_path_reaches_the_target_with_small_edits(toy_grammar: Grammar) -> None:
    rng = random.Random(2)
    for i in range(150):
        target = sample_tree(toy_grammar, rng, max_depth=DEPTH)
        if i % 3:
            noised = forward(target, toy_grammar, rng, max_depth=DEPTH)
        else:
            noised = sample_tree(toy_grammar, rng, max_depth=DEPTH)
        path = reverse_path(noised, target, toy_grammar)
        assert apply_path(noised, path) == target
        assert all(e.replacement.sigma <= 2 for e in path)
        assert (len(path) == 0) == (noised == target) and path_length(noised, target, toy_grammar) == len(path)
        assert reverse_path(noised, target, toy_grammar) == path  # deterministic
        current = noised
        for edit in path:  # each path refers to the tree as it is when its edit is applied
            assert get(current, edit.path).production.lhs == edit.replacement.production.lhs
            assert get(current, edit.path) != edit.replacement
            current = edit.apply(current)


def test_large_target_is_laid_down_as_a_small_skeleton(csg_grammar: Grammar) -> None:
    noised = parse(csg_grammar, "(Circle 1 1 1)")
    target = parse(csg_grammar, "(- (+ (Circle 1 1 1) (Circle 2 2 2)) (Quad 1 2 3 4 5))")
    path = reverse_path(noised, target, csg_grammar)
    assert path[0] == Edit((), parse(csg_grammar, "(- (Circle 0 0 0) (Quad 1 2 3 4 5))"))
    assert path[1] == Edit((0,), target.children[0])
    assert len(path) == 2
    assert reverse_path(target, target, csg_grammar) == []


def test_small_target_with_several_differences_is_one_edit(csg_grammar: Grammar) -> None:
    noised = parse(csg_grammar, "(+ (Circle 1 1 1) (Circle 2 2 2))")
    target = parse(csg_grammar, "(+ (Circle 3 3 3) (Circle 4 4 4))")
    assert reverse_path(noised, target, csg_grammar) == [Edit((), target)]
    target2 = parse(csg_grammar, "(+ (Circle 1 1 1) (Circle 4 4 4))")
    assert reverse_path(noised, target2, csg_grammar) == [Edit((1,), target2.children[1])]


def test_path_with_larger_sigma_small(csg_grammar: Grammar) -> None:
    rng = random.Random(3)
    for _ in range(50):
        target = sample_tree(csg_grammar, rng, 2, 8)
        noised = forward(target, csg_grammar, rng, sigma_small=4)
        path = reverse_path(noised, target, csg_grammar, sigma_small=4)
        assert apply_path(noised, path) == target and all(e.replacement.sigma <= 4 for e in path)


def test_mutate_skips_nodes_without_a_different_replacement() -> None:
    g = Grammar.from_text(TWO_PARTS)
    tree = parse(g, "( one flag true )")
    rng = random.Random(4)
    for _ in range(20):
        new, edit = mutate(tree, g, rng, sigma_small=1)
        assert edit.path == (1,) and new == parse(g, "( one flag false )")
    only = tree.children[0]  # the single derivation of u
    assert isinstance(only, Node)
    with pytest.raises(TreeError, match="no subtree .* can be replaced"):
        mutate(only, g, rng, sigma_small=1)


def test_small_nodes_lists_every_small_subtree(csg_grammar: Grammar) -> None:
    tree = parse(csg_grammar, "(- (+ (Circle 1 1 1) (Circle 2 2 2)) (Quad 1 2 3 4 5))")
    assert [p for p, _ in small_nodes(tree, 2)] == [(0,), (0, 0), (0, 1), (1,)]
    assert [p for p, _ in small_nodes(tree, 3)][0] == ()


def test_forward_fresh_and_single_mutation(csg_grammar: Grammar) -> None:
    rng = random.Random(5)
    target = sample_tree(csg_grammar, rng, 2, 8)
    for _ in range(30):
        fresh = forward(target, csg_grammar, rng, p_fresh=1.0, min_primitives=3, max_primitives=4)
        assert 3 <= fresh.sigma <= 4
        once = forward(target, csg_grammar, rng, k_max=1, p_fresh=0.0)
        assert path_length(once, target, csg_grammar) == 1
    with pytest.raises(ValueError, match="k_max"):
        forward(target, csg_grammar, rng, k_max=0)


def test_forward_is_reproducible(toy_grammar: Grammar) -> None:
    target = sample_tree(toy_grammar, random.Random(6), max_depth=DEPTH)
    a = [forward(target, toy_grammar, random.Random(7), max_depth=DEPTH) for _ in range(3)]
    b = [forward(target, toy_grammar, random.Random(7), max_depth=DEPTH) for _ in range(3)]
    assert a == b


def test_reverse_path_rejects_trees_of_different_nonterminals() -> None:
    g = Grammar.load("tests/grammars/logo.yaml")
    program = parse(g, "fd 1")
    with pytest.raises(TreeError, match="same nonterminal"):
        reverse_path(program, program.children[0], g)  # type: ignore[arg-type]


def test_leaf_step_moves_exactly_one_leaf_by_a_small_step(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.noise import leaf_step

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Quad 1 2 3 4 5))")
    leaves = [3, 5, 7, 1, 2, 3, 4, 5]
    seen = set()
    rng = random.Random(0)
    for _ in range(200):
        moved = leaf_step(tree, rng)
        validate(moved, csg_grammar)
        now = [v for side in moved.children for v in side.children]  # type: ignore[union-attr]
        changed = [(a, b) for a, b in zip(leaves, now) if a != b]
        assert len(changed) == 1 and 1 <= abs(changed[0][0] - changed[0][1]) <= 2
        seen.add(moved)
    assert len(seen) > 20  # every leaf, both directions, both step sizes turn up


def test_forward_with_leaf_steps_keeps_the_structure(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.tree import skeleton

    rng = random.Random(1)
    for _ in range(50):
        target = sample_tree(csg_grammar, rng, 2, 5)
        noised = forward(target, csg_grammar, rng, k_max=3, p_fresh=0.0, p_leaf=1.0)
        assert skeleton(noised) == skeleton(target)
        assert path_length(noised, target, csg_grammar) <= 3
    with pytest.raises(ValueError, match="p_leaf"):
        forward(target, csg_grammar, rng, p_leaf=1.5)


def test_hoist_drops_a_part_that_one_edit_writes_back(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.noise import hoist

    rng = random.Random(4)
    for _ in range(60):
        target = sample_tree(csg_grammar, rng, 2, 6)
        hoisted = hoist(target, rng)
        validate(hoisted, csg_grammar)
        assert hoisted.sigma < target.sigma  # a part is missing
        path = reverse_path(hoisted, target, csg_grammar)
        assert len(path) == 1 and path[0].replacement.sigma <= 2  # the rest is exact: one small edit restores it
    single = parse(csg_grammar, "(Circle 3 8 8)")
    assert hoist(single, rng) is single  # nothing to hoist


def test_forward_with_hoists_shrinks_programs_and_checks_the_shares(csg_grammar: Grammar) -> None:
    rng = random.Random(2)
    targets = [sample_tree(csg_grammar, rng, 4, 6) for _ in range(40)]
    noised = [forward(t, csg_grammar, rng, k_max=2, p_fresh=0.0, p_hoist=1.0) for t in targets]
    assert all(n.sigma < t.sigma for n, t in zip(noised, targets))
    with pytest.raises(ValueError, match="p_hoist"):
        forward(targets[0], csg_grammar, rng, p_leaf=0.6, p_hoist=0.6)
