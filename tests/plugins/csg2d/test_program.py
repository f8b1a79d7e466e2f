"""Compiling trees: signs pushed to the leaves, min/max combines by height, foreign nodes rejected."""

from __future__ import annotations

import pytest
import torch

from tests.toys import GRAMMAR_DIR
from treediff.engine.errors import DomainError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.plugins.csg2d.plugin import GRAMMAR_PATH
from treediff.plugins.csg2d.program import BOX, CIRCLE, DIAMOND, EMPTY_HALF_SIZE, MAX, MIN, assemble, compile_tree

GRAMMAR = Grammar.load(GRAMMAR_PATH)


def test_signs_and_operations_follow_the_tree() -> None:
    prims, combines, rows = compile_tree(parse(GRAMMAR, "(- (Circle 1 2 3) (+ (Quad 4 5 2 6 1) (Quad 1 1 2 2 2)))"))
    assert rows == 5
    assert [(p[0], p[1], p[2]) for p in prims] == [(0, CIRCLE, 1.0), (1, DIAMOND, -1.0), (2, BOX, -1.0)]
    assert prims[0][3:] == (16.0, 24.0, 8.0, 0.0)  # centre (8X, 8Y), radius 8R
    assert prims[1][3:] == (32.0, 40.0, 8.0, 24.0)  # 45 degrees: half width along u, half height along v
    assert prims[2][3:] == (8.0, 8.0, 8.0, 8.0)
    # -(b u c) = max(-b, -c) at height 1; a - (...) = max(a, -(...)) at height 2
    assert combines == [(1, MAX, 3, 1, 2), (2, MAX, 4, 0, 3)]


def test_quarter_turns_swap_extents_and_zero_area_is_empty() -> None:
    def quad(a: int, w: int = 6, h: int = 2) -> tuple[float, ...]:
        return compile_tree(parse(GRAMMAR, f"(Quad 8 8 {w} {h} {a})"))[0][0][1:]

    assert quad(0)[4:] == quad(4)[4:] == (24.0, 8.0)
    assert quad(2)[4:] == quad(6)[4:] == (8.0, 24.0)
    assert quad(1)[4:] == quad(5)[4:] == (24.0, 8.0) and quad(1)[0] == DIAMOND
    assert quad(3)[4:] == quad(7)[4:] == (8.0, 24.0)
    assert quad(3, w=0)[4:] == (EMPTY_HALF_SIZE, EMPTY_HALF_SIZE)


def test_union_under_difference_flips_to_max_and_back() -> None:
    _, combines, _ = compile_tree(parse(GRAMMAR, "(- (Circle 1 1 1) (- (Circle 2 2 2) (Circle 3 3 3)))"))
    # -(b - c) = min(-b, c) at height 1, then max(a, ...)
    assert [c[1] for c in combines] == [MIN, MAX]


def test_foreign_productions_are_rejected() -> None:
    arith = Grammar.load(GRAMMAR_DIR / "arith.yaml")
    tree = parse(arith, "(1 + x)")
    with pytest.raises(DomainError, match="csg2d cannot render"):
        compile_tree(tree)


def test_assemble_groups_by_image_and_orders_steps() -> None:
    texts = ["(Circle 1 1 1)", "(+ (Circle 1 1 1) (- (Circle 2 2 2) (Circle 3 3 3)))",
             "(- (Circle 1 1 1) (Circle 1 1 1))"]
    codes = [compile_tree(parse(GRAMMAR, text)) for text in texts]
    program = assemble(codes, torch.device("cpu"))
    assert program.images == 3 and program.rows == 5
    assert program.prim_count.tolist() == [1, 3, 2] and program.prim_start.tolist() == [0, 1, 4]
    assert program.comb_count.tolist() == [0, 2, 1] and program.root_row.tolist() == [0, 4, 2]
    assert program.step_ops == (MAX, MIN)  # height 1: both differences; height 2: the union
    assert program.comb_step.tolist() == [0, 1, 0]
