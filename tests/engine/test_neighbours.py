"""Leaf-neighbour edits: one typed leaf one step away, every result a valid program of the grammar."""

from __future__ import annotations

from pathlib import Path
from random import Random

from treediff.engine.grammar.grammar import Grammar, Terminal
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.neighbours import (
    hoist_edits,
    leaf_steps,
    local_edits,
    neighbour_edits,
    repeat_step,
    wrap_edits,
)
from treediff.engine.trees.tree import Edit, Node, get

GRAMMARS = Path(__file__).parents[1] / "grammars"


def _leaves(tree: Node) -> list[object]:
    out: list[object] = []
    for child in tree.children:
        out += _leaves(child) if type(child) is Node else [child]
    return out


def test_int_steps_stay_in_range() -> None:
    coord = Terminal("coord", "int", 0, 15)
    assert leaf_steps(coord, 0) == [1]
    assert leaf_steps(coord, 15) == [14]
    assert sorted(leaf_steps(coord, 7)) == [6, 8]
    assert sorted(leaf_steps(coord, 7, int_step=2)) == [5, 6, 8, 9]


def test_small_enums_try_every_other_word_and_bools_flip() -> None:
    colour = Terminal("colour", "enum", words=("red", "green", "blue"))
    assert leaf_steps(colour, "green") == ["red", "blue"]
    big = Terminal("big", "enum", words=tuple(f"w{i}" for i in range(20)))
    assert leaf_steps(big, "w5") == ["w4", "w6"]
    assert leaf_steps(Terminal("flag", "bool"), True) == [False]


def test_each_neighbour_differs_from_the_program_in_exactly_one_leaf(csg_grammar: Grammar) -> None:
    rng = Random(4)
    for _ in range(20):
        tree = sample_tree(csg_grammar, rng, 2, 5)
        before = _leaves(tree)
        neighbours = [e.apply(tree) for e in neighbour_edits(tree)]
        assert len(set(neighbours)) == len(neighbours)  # no duplicates
        expected = sum(1 if v in (csg_grammar.terminals[t].lo, csg_grammar.terminals[t].hi) else 2
                       for t, v in _typed_leaves(tree))
        assert len(neighbours) == expected
        for n in neighbours:
            after = _leaves(n)
            assert n.production == tree.production and len(after) == len(before)
            assert sum(a != b for a, b in zip(after, before)) == 1
            assert max(abs(a - b) for a, b in zip(after, before)) == 1  # type: ignore[operator]


def _typed_leaves(tree: Node) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for slot, child in zip(tree.production.slots, tree.children):
        if type(child) is Node:
            out += _typed_leaves(child)
        else:
            assert slot.terminal is not None
            out.append((slot.terminal.name, child))
    return out


def test_hoists_replace_a_node_by_each_descendant_of_its_nonterminal(csg_grammar: Grammar) -> None:
    from treediff.engine.grammar.parse import parse

    tree = parse(csg_grammar, "(+ (Circle 1 2 3) (- (Circle 4 5 6) (Circle 7 8 9)))")
    hoisted = {str(e.apply(tree)) for e in hoist_edits(tree)}
    assert hoisted == {"(Circle 1 2 3)", "(- (Circle 4 5 6) (Circle 7 8 9))", "(Circle 4 5 6)", "(Circle 7 8 9)",
                       "(+ (Circle 1 2 3) (Circle 4 5 6))", "(+ (Circle 1 2 3) (Circle 7 8 9))"}
    assert len(local_edits(tree)) == len(list(neighbour_edits(tree))) + 6


def test_joint_edits_step_two_leaves_of_one_node(csg_grammar: Grammar) -> None:
    from treediff.engine.grammar.parse import parse
    from treediff.engine.trees.neighbours import joint_edits

    tree = parse(csg_grammar, "(+ (Circle 0 5 7) (Circle 4 5 6))")
    joint = [e.apply(tree) for e in joint_edits(tree)]
    # per circle, leaves with 1, 2, 2 alternatives (a 0 only steps up): 1*2 + 1*2 + 2*2 = 8 pairs
    # second circle: 2, 2, 2 alternatives: 3 pairs of 4 = 12
    assert len(joint) == len(set(joint)) == 8 + 12
    before = _leaves(tree)
    for program in joint:
        after = _leaves(program)
        changed = [i for i, (a, b) in enumerate(zip(after, before)) if a != b]
        assert len(changed) == 2 and changed[1] - changed[0] <= 2 and changed[0] // 3 == changed[1] // 3
        assert all(abs(after[i] - before[i]) == 1 for i in changed)  # type: ignore[operator]
    assert "(+ (Circle 1 4 7) (Circle 4 5 6))" in {str(p) for p in joint}


def test_field_pair_edits_step_one_field_of_two_nodes_at_once(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.neighbours import field_pair_edits

    tree = parse(csg_grammar, "(+ (Circle 0 5 7) (Quad 4 5 6 2 3))")
    pairs = [e.apply(tree) for e in field_pair_edits(tree)]
    # fields shared by the two nodes: x (5, 4: 2 x 2 steps) and y (7, 5: 2 x 2); r and the Quad's w/h/a are not
    assert len(pairs) == len(set(pairs)) == 8
    before = _leaves(tree)
    for program in pairs:
        after = _leaves(program)
        changed = [i for i, (a, b) in enumerate(zip(after, before)) if a != b]
        assert changed in ([1, 3], [2, 4])  # circle's x with quad's x, circle's y with quad's y
        assert all(abs(after[i] - before[i]) == 1 for i in changed)  # type: ignore[operator]
    assert "(+ (Circle 0 4 7) (Quad 5 5 6 2 3))" in {str(p) for p in pairs}


def test_field_pair_edits_replace_the_lowest_common_ancestor(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.neighbours import field_pair_edits

    tree = parse(csg_grammar, "(+ (Circle 0 0 0) (- (Circle 15 4 4) (Circle 15 9 9)))")
    edits = list(field_pair_edits(tree))
    inner = [e for e in edits if e.path == (1,)]  # the two circles under the difference
    assert {str(e.replacement) for e in inner if "(Circle 15 3 4)" in str(e.replacement)} == \
        {"(- (Circle 15 3 4) (Circle 15 8 9))", "(- (Circle 15 3 4) (Circle 15 10 9))"}
    # r: 15 and 15 step only down (1 x 1), x and y 2 x 2 each; the outer circle's leaves are 0 (up only)
    assert len(inner) == 1 + 4 + 4
    assert [e.path for e in edits if e.path != (1,)] == [()] * 2 * (1 + 2 + 2)
    assert len({e.apply(tree) for e in edits}) == len(edits)
    assert all(str(e.apply(tree)) != str(tree) for e in edits)


def test_wrap_edits_are_the_hoists_inverse(csg_grammar: Grammar) -> None:
    tree = parse(csg_grammar, "(+ (Circle 1 2 3) (Circle 4 5 6))")
    edits = list(wrap_edits(csg_grammar, tree))
    # 3 nodes, each under + and -, on either side, beside the minimal shape (Circle 0 0 0)
    assert len(edits) == len({e.apply(tree) for e in edits}) == 3 * 2 * 2
    assert [str(e.replacement) for e in edits[:4]] == [
        "(+ (+ (Circle 1 2 3) (Circle 4 5 6)) (Circle 0 0 0))", "(+ (Circle 0 0 0) (+ (Circle 1 2 3) (Circle 4 5 6)))",
        "(- (+ (Circle 1 2 3) (Circle 4 5 6)) (Circle 0 0 0))", "(- (Circle 0 0 0) (+ (Circle 1 2 3) (Circle 4 5 6)))"]
    for edit in edits:
        wrapped = edit.apply(tree)
        assert Edit(edit.path, get(tree, edit.path)).apply(wrapped) == tree  # the hoist back
        assert tree in {e.apply(wrapped) for e in hoist_edits(wrapped)}


def test_wrap_edits_try_every_leaf_combination_of_a_small_parent_and_steps_of_a_large_one() -> None:
    grammar = Grammar.load(GRAMMARS / "layout.yaml")
    tree = parse(grammar, "(Box 2)")
    wrapped = [str(e.apply(tree)) for e in wrap_edits(grammar, tree)]
    # pair: 2 directions x 4 gaps x 2 sides; shift: 10 x 10 places are too many, so (0 0) and one step of each
    assert len(wrapped) == len(set(wrapped)) == 16 + 3
    assert {"(Pair v (Box 2) (Box 0) 0)", "(Pair h (Box 0) (Box 2) 3)", "(Shift (Box 2) 0 0)",
            "(Shift (Box 2) 1 0)", "(Shift (Box 2) 0 1)"} <= set(wrapped)
    assert "(Shift (Box 2) 1 1)" not in wrapped


def test_swap_edits_change_a_production_and_keep_what_it_shares(csg_grammar: Grammar) -> None:
    from treediff.engine.grammar.parse import parse
    from treediff.engine.trees.neighbours import swap_edits

    tree = parse(csg_grammar, "(+ (Circle 1 2 3) (Circle 4 5 6))")
    swapped = [str(e.apply(tree)) for e in swap_edits(csg_grammar, tree)]
    assert len(swapped) == len(set(swapped))
    assert "(- (Circle 1 2 3) (Circle 4 5 6))" in swapped  # children carry over
    assert not any(s.startswith("(Circle") or s.startswith("(Quad") for s in swapped)  # no subtree is dropped
    by_node = {s for s in swapped if s.endswith("(Circle 4 5 6))") and s.startswith("(+ (Quad")}
    assert by_node == {f"(+ (Quad 2 3 {w} {w} 0) (Circle 4 5 6))" for w in range(16)}
    leaf = parse(csg_grammar, "(Quad 7 8 1 2 3)")
    assert {str(e.apply(leaf)) for e in swap_edits(csg_grammar, leaf)} == {f"(Circle {r} 7 8)" for r in range(16)}


def test_repeat_step_takes_an_integer_step_once_more_and_nothing_else(csg_grammar: Grammar) -> None:
    tree = parse(csg_grammar, "(+ (Circle 3 8 8) (Quad 8 8 12 8 0))")
    quad = tree.children[1]
    assert isinstance(quad, Node)

    def step(text: str) -> Edit:
        return Edit((1,), parse(csg_grammar, text))

    up = repeat_step(tree, step("(Quad 8 8 13 8 0)"))  # w 12 -> 13: next 14, at the same place
    assert up is not None and up.path == (1,) and up.apply(step("(Quad 8 8 13 8 0)").apply(tree)) == \
        parse(csg_grammar, "(+ (Circle 3 8 8) (Quad 8 8 14 8 0))")
    down = repeat_step(tree, step("(Quad 8 8 10 8 0)"))  # a step of 2 goes on by 2
    assert down is not None and down.replacement == parse(csg_grammar, "(Quad 8 8 8 8 0)")
    assert repeat_step(tree, step("(Quad 8 8 15 8 0)")) is None  # 18 is out of range (0..15)
    assert repeat_step(tree, step("(Quad 8 9 13 8 0)")) is None  # two leaves changed
    assert repeat_step(tree, step("(Quad 8 8 12 8 0)")) is None  # nothing changed
    assert repeat_step(tree, step("(Circle 3 8 8)")) is None  # another production
    assert repeat_step(tree, Edit((), parse(csg_grammar, "(- (Circle 3 8 8) (Quad 8 8 12 8 0))"))) is None
