"""TinySVG drawing keys: programs that draw the same share a key, and programs with one key render alike."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import pytest
import torch

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.neighbours import local_edits
from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.drawing import drawing_key
from treediff.plugins.tinysvg.render import TinySVGExecutor

Parse = Callable[[str], Node]

SAME = [
    # a stroke colour under a zero stroke width, and a stroke width under a `none` stroke
    ("(Rectangle 3 4 red blue 0)", "(Rectangle 3 4 red green 0)"),
    ("(Ellipse 3 4 red none 2)", "(Ellipse 3 4 red none 7)"),
    # shapes that draw nothing keep only their box in the layout: kind, colours and stroke do not matter
    ("(Arrange h (Ellipse 3 6 none none 2) (Rectangle 2 2 red red 1) 3)",
     "(Arrange h (Rectangle 3 6 none yellow 0) (Rectangle 2 2 red red 1) 3)"),
    ("(Arrange v (Rectangle 2 0 green white 3) (Rectangle 4 4 red black 1) 2)",
     "(Arrange v (Ellipse 2 0 blue red 9) (Rectangle 4 4 red black 1) 2)"),
    # a Move by zero (either sign), two Moves that add up, and a Move of a scene that draws nothing
    ("(Move (Rectangle 3 3 red blue 2) 0 0 true false)", "(Rectangle 3 3 red blue 2)"),
    ("(Move (Move (Ellipse 2 3 red blue 2) 2 1 false false) 1 1 true true)",
     "(Move (Ellipse 2 3 red blue 2) 1 0 false false)"),
    ("(Arrange h (Move (Rectangle 2 2 none none 0) 4 4 true true) (Ellipse 3 3 red blue 4) 1)",
     "(Arrange h (Rectangle 2 2 none none 0) (Ellipse 3 3 red blue 4) 1)"),
    # a shape moved wholly off the canvas
    ("(Arrange h (Rectangle 2 2 red red 0) (Move (Move (Ellipse 1 1 blue blue 3) 9 9 false false) 9 0 false false) 0)",
     "(Arrange h (Rectangle 2 2 red red 0) (Move (Move (Ellipse 1 1 green red 5) 9 9 false false) 9 0 false false) 0)"),
    # white paint where no other colour lies beneath: beside an ellipse, and edge to edge with a rectangle
    ("(Arrange h (Rectangle 3 3 white white 2) (Ellipse 3 3 red blue 1) 2)",
     "(Arrange h (Rectangle 3 3 none none 2) (Ellipse 3 3 red blue 1) 2)"),
    ("(Arrange h (Rectangle 4 4 red none 0) (Rectangle 2 2 white none 0) 0)",
     "(Arrange h (Rectangle 4 4 red none 0) (Rectangle 2 2 none none 0) 0)"),
]

DIFFERENT = [
    ("(Rectangle 3 4 red blue 1)", "(Rectangle 3 4 red green 1)"),  # a visible stroke colour
    ("(Rectangle 3 4 red none 0)", "(Ellipse 3 4 red none 0)"),
    ("(Move (Rectangle 3 3 red blue 2) 1 0 true false)", "(Move (Rectangle 3 3 red blue 2) 1 0 false false)"),
    # a shape that draws nothing still takes part in the layout, so its size moves the others
    ("(Arrange h (Rectangle 3 6 none none 0) (Rectangle 2 2 red red 1) 3)",
     "(Arrange h (Rectangle 4 6 none none 0) (Rectangle 2 2 red red 1) 3)"),
    # white paint moved onto a red rectangle
    ("(Arrange h (Rectangle 4 4 red none 0) (Move (Rectangle 2 2 white none 0) 5 0 true false) 0)",
     "(Arrange h (Rectangle 4 4 red none 0) (Move (Rectangle 2 2 none none 0) 5 0 true false) 0)"),
]


@pytest.mark.parametrize("a, b", SAME)
def test_programs_that_draw_the_same_share_a_key_and_render_alike(program: Parse, executor: TinySVGExecutor,
                                                                  a: str, b: str) -> None:
    ta, tb = program(a), program(b)
    assert ta != tb and drawing_key(ta) == drawing_key(tb)
    images = executor.execute([ta, tb])
    assert torch.equal(images[0], images[1])


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_programs_that_draw_differently_have_different_keys(program: Parse, executor: TinySVGExecutor,
                                                            a: str, b: str) -> None:
    ta, tb = program(a), program(b)
    assert drawing_key(ta) != drawing_key(tb)
    images = executor.execute([ta, tb])
    assert not torch.equal(images[0], images[1])


def test_an_empty_drawing_is_the_empty_key(program: Parse) -> None:
    assert drawing_key(program("(Arrange h (Rectangle 0 3 red red 4) (Ellipse 2 2 none white 0) 5)")) == ()


def test_equal_keys_render_alike_across_random_programs_and_their_neighbours(svg_grammar: Grammar,
                                                                            executor: TinySVGExecutor) -> None:
    """Every one-leaf step, hoist and production swap of 30 random scenes: within each key, one image."""
    rng = random.Random(7)
    groups: dict[object, list[Node]] = defaultdict(list)
    for _ in range(30):
        tree = sample_tree(svg_grammar, rng, 2, 8)
        for child in {edit.apply(tree) for edit in local_edits(tree)} | {tree}:
            groups[drawing_key(child)].append(child)
    shared = [trees for trees in groups.values() if len(trees) > 1]
    assert sum(len(trees) - 1 for trees in shared) > 100  # the neighbourhoods really do hold repeats
    for trees in shared:
        images = executor.execute(trees)
        assert torch.equal(images, images[:1].expand_as(images)), [str(t) for t in trees]
