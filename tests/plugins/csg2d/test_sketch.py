"""Sketch observations: deterministic by generator, outline-shaped, varied, batched."""

from __future__ import annotations

import random

import numpy as np
import torch

from tests.references.csg2d_skia import exact_inside
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.plugins.csg2d.plugin import GRAMMAR_PATH
from treediff.plugins.csg2d.render import Renderer
from treediff.plugins.csg2d.sketch import SketchStyle, sketch

GRAMMAR = Grammar.load(GRAMMAR_PATH)


def _trees() -> list:
    rng = random.Random(7)
    return [parse(GRAMMAR, "(Circle 4 8 8)"), parse(GRAMMAR, "(- (Quad 8 8 10 8 1) (Circle 3 8 8))")] + [
        sample_tree(GRAMMAR, rng, 2, 6) for _ in range(6)]


def test_deterministic_given_the_generator_and_varied_across_seeds() -> None:
    trees = _trees()
    first = sketch(trees, torch.Generator().manual_seed(11))
    again = sketch(trees, torch.Generator().manual_seed(11))
    other = sketch(trees, torch.Generator().manual_seed(12))
    assert first.shape == (len(trees), 1, 128, 128) and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_ink_follows_the_outline_not_the_fill() -> None:
    style = SketchStyle()
    trees = _trees()[:2]
    ink = sketch(trees, torch.Generator().manual_seed(3), style=style)[:, 0].numpy()
    filled = Renderer().execute(trees)[:, 0].numpy()
    for image, tree, solid in zip(ink, trees, filled):
        _, edge = exact_inside(tree)
        assert image.sum() > 100  # there is a drawing
        assert image[edge > style.band].max() == 0.0  # all ink lies near the true boundary
        assert image.sum() < 0.5 * solid.sum()  # an outline, not a filled shape
        assert (image > 0.5).any()


def test_strokes_differ_in_width_and_pen_lifts() -> None:
    tree = parse(GRAMMAR, "(Circle 5 8 8)")
    ink = sketch([tree] * 16, torch.Generator().manual_seed(5))
    amounts = ink.sum(dim=(1, 2, 3)).numpy()
    assert np.ptp(amounts) > 0.15 * amounts.mean()  # stroke width and pen lifts vary between sketches
    assert len({round(float(a), 3) for a in amounts}) == 16


def test_empty_shapes_give_empty_sketches_and_empty_batches_work() -> None:
    empty = parse(GRAMMAR, "(- (Circle 2 8 8) (Circle 3 8 8))")
    assert float(sketch([empty], torch.Generator().manual_seed(0)).max()) == 0.0
    assert sketch([], torch.Generator().manual_seed(0)).shape == (0, 1, 128, 128)
