"""Trees: equality and hashing, fields, paths, replacement, validation and printing."""

from __future__ import annotations

import pytest

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.tree import Edit, Node, build, get, nodes_prefix, replace, to_text, validate, walk


def test_equal_programs_hash_equal_across_grammar_loads(csg_grammar: Grammar) -> None:
    other = Grammar.from_text(open(csg_grammar.source).read())
    a = parse(csg_grammar, "(+ (Circle 1 2 3) (Circle 3 2 1))")
    b = parse(other, "(+ (Circle 1 2 3) (Circle 3 2 1))")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != parse(csg_grammar, "(+ (Circle 3 2 1) (Circle 1 2 3))")


def test_fields_sizes_and_paths(csg_grammar: Grammar) -> None:
    t = parse(csg_grammar, "(- (+ (Circle 1 2 3) (Quad 1 2 3 4 5)) (Circle 4 4 4))")
    assert t.sigma == 3 and t.size == 5
    assert t["left"]["right"]["a"] == 5
    paths = [p for p, _ in walk(t)]
    assert paths == [(), (0,), (0, 0), (0, 1), (1,)]
    assert [n.name for _, n in nodes_prefix(t)] == ["difference", "union", "circle", "quad", "circle"]
    assert get(t, (0, 1)).name == "quad"
    with pytest.raises(TreeError, match="no field 'z'"):
        t["z"]
    with pytest.raises(TreeError, match="leaf value"):
        get(t, (1, 0))


def test_replace_shares_untouched_subtrees(csg_grammar: Grammar) -> None:
    t = parse(csg_grammar, "(+ (Circle 1 2 3) (Circle 3 2 1))")
    new = build(csg_grammar, "quad", x=1, y=1, w=2, h=2, a=0)
    r = replace(t, (1,), new)
    assert to_text(r) == "(+ (Circle 1 2 3) (Quad 1 1 2 2 0))"
    assert r.children[0] is t.children[0]
    assert Edit((1,), new).apply(t) == r
    assert to_text(t) == "(+ (Circle 1 2 3) (Circle 3 2 1))"  # original unchanged


def test_validate_rejects_ill_typed_trees(csg_grammar: Grammar) -> None:
    circle = csg_grammar.by_name["circle"]
    union = csg_grammar.by_name["union"]
    with pytest.raises(TreeError, match="expected an integer 0..15"):
        validate(Node(circle, (1, 2, 99)), csg_grammar)
    with pytest.raises(TreeError, match="expected a shape"):
        validate(Node(union, (Node(circle, (1, 1, 1)), 3)), csg_grammar)
    with pytest.raises(TreeError, match="missing"):
        build(csg_grammar, "circle", r=1, x=1)


def test_skeleton_ignores_leaf_values_but_not_productions_or_shape(csg_grammar: Grammar) -> None:
    from treediff.engine.trees.tree import skeleton

    def sk(text: str) -> tuple[str, ...]:
        return skeleton(parse(csg_grammar, text))

    assert sk("(+ (Circle 3 5 7) (Circle 4 5 6))") == sk("(+ (Circle 1 1 1) (Circle 9 9 9))")
    assert sk("(+ (Circle 3 5 7) (Circle 4 5 6))") != sk("(- (Circle 3 5 7) (Circle 4 5 6))")
    assert sk("(+ (+ (Circle 1 1 1) (Circle 1 1 1)) (Circle 1 1 1))") != \
        sk("(+ (Circle 1 1 1) (+ (Circle 1 1 1) (Circle 1 1 1)))")
