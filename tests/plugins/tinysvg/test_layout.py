"""TinySVG layout: boxes and paint order computed by hand for Arrange, Move, nesting and zero sizes."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from tests.references.tinysvg_skia import placed_shapes
from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.layout import ELLIPSE, RECT, layout, scene_box
from treediff.plugins.tinysvg.palette import color_index

Parse = Callable[[str], Node]


def boxes(tree: Node, **kwargs: bool) -> list[tuple[float, float, float, float]]:
    """Absolute (x0, y0, w, h) of each shape in paint order."""
    result = layout([tree], **kwargs)
    assert (result.order == np.arange(len(result.order))).all()
    return [tuple(float(v) for v in row) for row in result.box]  # type: ignore[misc]


def test_single_shape_is_centred(program: Parse) -> None:
    assert boxes(program("(Rectangle 3 2 red none 0)")) == [(55.0, 58.0, 18.0, 12.0)]
    assert boxes(program("(Ellipse 9 9 red none 0)")) == [(37.0, 37.0, 54.0, 54.0)]


def test_arrange_h_gap_and_vertical_centres(program: Parse) -> None:
    a, b = boxes(program("(Arrange h (Rectangle 2 2 red none 0) (Rectangle 4 6 blue none 0) 3)"))
    assert a == (44.5, 58.0, 12.0, 12.0)
    assert b == (59.5, 46.0, 24.0, 36.0)
    assert b[0] - (a[0] + a[2]) == 3  # the gap between the boxes
    assert a[1] + a[3] / 2 == b[1] + b[3] / 2 == 64  # centres aligned, union centred


def test_arrange_v_gap_and_horizontal_centres(program: Parse) -> None:
    a, b = boxes(program("(Arrange v (Ellipse 4 2 red none 0) (Rectangle 2 4 blue none 0) 5)"))
    assert a == (52.0, 43.5, 24.0, 12.0)
    assert b == (58.0, 60.5, 12.0, 24.0)


def test_move_shifts_drawing_not_the_box(program: Parse) -> None:
    assert boxes(program("(Move (Rectangle 2 2 red none 0) 3 1 false true)")) == [(76.0, 52.0, 12.0, 12.0)]
    assert boxes(program("(Move (Rectangle 2 2 red none 0) 3 1 true false)")) == [(40.0, 64.0, 12.0, 12.0)]
    assert scene_box(program("(Move (Rectangle 2 2 red none 0) 3 1 true false)")) == (0.0, 0.0, 12.0, 12.0)


def test_move_inside_arrange_overlaps_the_neighbour(program: Parse) -> None:
    tree = program("(Arrange h (Move (Rectangle 2 2 red none 0) 2 0 false false) (Rectangle 2 2 blue none 0) 0)")
    assert boxes(tree) == [(64.0, 58.0, 12.0, 12.0), (64.0, 58.0, 12.0, 12.0)]


def test_move_that_shifts_its_box_would_be_invisible(program: Parse, svg_grammar: Grammar) -> None:
    """Why Move keeps its box: if the box moved too, layout (which only sees boxes) would undo every Move."""
    tree = program("(Arrange h (Move (Rectangle 2 2 red none 0) 2 0 false false) (Rectangle 2 2 blue none 0) 0)")
    plain = program("(Arrange h (Rectangle 2 2 red none 0) (Rectangle 2 2 blue none 0) 0)")
    assert boxes(tree, move_shifts_box=True) == boxes(plain) == [(52.0, 58.0, 12.0, 12.0), (64.0, 58.0, 12.0, 12.0)]
    rng = random.Random(5)
    for _ in range(50):
        sampled = sample_tree(svg_grammar, rng, 2, 8)
        stripped = _strip_moves(sampled, svg_grammar)
        assert boxes(sampled, move_shifts_box=True) == boxes(stripped, move_shifts_box=True)


def _strip_moves(tree: Node, grammar: Grammar) -> Node:
    if tree.name == "move":
        return _strip_moves(tree["scene"], grammar)  # type: ignore[arg-type]
    children = tuple(_strip_moves(c, grammar) if isinstance(c, Node) else c for c in tree.children)
    return Node(tree.production, children)


def test_nested_arrange(program: Parse) -> None:
    tree = program("(Arrange h (Arrange v (Rectangle 1 1 red none 0) (Rectangle 3 3 blue none 0) 2) "
                   "(Ellipse 2 4 green none 0) 4)")
    assert boxes(tree) == [(53.0, 51.0, 6.0, 6.0), (47.0, 59.0, 18.0, 18.0), (69.0, 52.0, 12.0, 24.0)]


def test_zero_size_boxes_take_part_in_layout(program: Parse) -> None:
    tree = program("(Arrange h (Rectangle 0 0 red none 0) (Rectangle 2 2 blue none 0) 5)")
    assert boxes(tree) == [(55.5, 64.0, 0.0, 0.0), (60.5, 58.0, 12.0, 12.0)]


def test_columns_and_paint_order(program: Parse) -> None:
    trees = [program("(Arrange v (Ellipse 1 2 red blue 3) (Move (Rectangle 4 5 none white 9) 1 1 true true) 0)"),
             program("(Rectangle 1 1 black orange 0)")]
    result = layout(trees)
    assert result.image.tolist() == [0, 0, 1] and result.order.tolist() == [0, 1, 0]
    assert result.count.tolist() == [2, 1] and result.batch == 2
    assert result.kind.tolist() == [ELLIPSE, RECT, RECT]
    assert result.fill.tolist() == [color_index("red"), color_index("none"), color_index("black")]
    assert result.stroke.tolist() == [color_index("blue"), color_index("white"), color_index("orange")]
    assert result.stroke_width.tolist() == [1.5, 4.5, 0.0]


def test_empty_batch() -> None:
    result = layout([])
    assert result.batch == 0 and result.box.shape == (0, 4)


def test_deep_nesting(program: Parse) -> None:
    text = "(Rectangle 1 1 red none 0)"
    for i in range(150):
        text = f"(Move {text} 1 0 false false)" if i % 2 else f"(Arrange v {text} (Ellipse 1 1 blue none 0) 0)"
    result = layout([program(text)])
    assert len(result.box) == 76 and np.isfinite(result.box).all()


def test_agrees_with_the_independent_reference_layout(svg_grammar: Grammar) -> None:
    rng = random.Random(11)
    for _ in range(300):
        tree = sample_tree(svg_grammar, rng, 1, 8)
        reference = [(x, y, w, h) for _, x, y, w, h, *_ in placed_shapes(tree)]
        assert boxes(tree) == reference


def test_foreign_trees_are_rejected() -> None:
    other = Grammar.from_text("name: t\nstart: s\nrules:\n  s:\n    - name: dot\n      form: '.'\n"
                              "      primitive: true\n")
    with pytest.raises(TreeError, match="not a TinySVG scene"):
        layout([parse(other, ".")])
