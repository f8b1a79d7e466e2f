"""What a TinySVG program draws, as a hashable key: the shapes that paint, where, and in which order.

Many programs draw the same image: a stroke colour under a zero stroke width, a shape of zero width, a shape
with neither fill nor stroke, a Move by zero or two Moves that add up, Arranges that place the same shapes at
the same pixels. :func:`drawing_key` lays a program out (no rasterising) and keeps exactly what the renderer
paints from, so two programs with equal keys render to the same image. White paint on the white canvas is
nothing either: a shape painted only in white where no other colour has been painted is left out too. It is the
TinySVG domain's
``observation_key``: a search executes one program per key, and the others cost no renderer call.
"""

from __future__ import annotations

import math

from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.layout import CANVAS, RECT, canvas_rows
from treediff.plugins.tinysvg.palette import WORDS

NONE, WHITE = WORDS.index("none"), WORDS.index("white")
AA_MARGIN = 2.0  # px beyond a shape's stroke that anti-aliasing may touch (the renderer's window uses 1)

Shape = tuple[int, float, float, float, float, int, int, float]  # kind, x0, y0, w, h, fill, stroke, stroke width
Pixels = tuple[int, int, int, int]  # first column, first row, last column, last row (inclusive)


def drawing_key(tree: Node) -> tuple[Shape, ...]:
    """The shapes ``tree`` paints on the canvas, bottom first: (kind, x0, y0, w, h, fill, stroke, stroke width).

    A shape is left out when it paints nothing: zero width or height, or no fill and no stroke (``none``, or a
    zero stroke width), or drawn wholly outside the canvas (its box grown by its stroke and anti-aliasing), or
    painted only in white on pixels that no other colour has reached (:func:`_white_on_white`). A stroke that
    paints nothing is written as ``none`` with width 0, whatever colour the program gave it.
    """
    shapes: list[Shape] = []
    for kind, x0, y0, w, h, fill, stroke, width in canvas_rows(tree):
        if w <= 0 or h <= 0:
            continue
        if stroke == NONE or width <= 0:
            stroke, width = NONE, 0.0
        if fill == NONE and stroke == NONE:
            continue
        margin = width / 2 + AA_MARGIN
        if x0 + w + margin <= 0 or y0 + h + margin <= 0 or x0 - margin >= CANVAS or y0 - margin >= CANVAS:
            continue
        shapes.append((int(kind), x0, y0, w, h, int(fill), int(stroke), width))
    return _white_on_white(shapes)


def _white_on_white(shapes: list[Shape]) -> tuple[Shape, ...]:
    """``shapes`` without those painted only in white (or ``none``) whose pixels no earlier shape of another
    colour may have touched.

    The canvas starts white, and white composited over white stays exactly white (the renderer interpolates
    between equal colours), so a pixel that only white paint has reached is white whatever was drawn there,
    and a white shape on such pixels changes nothing. Shapes of other colours mark their pixels (the box
    grown by the stroke; an ellipse's also by the anti-aliasing margin) as possibly coloured.
    """
    kept: list[Shape] = []
    coloured: list[Pixels] = []
    for shape in shapes:
        box = _pixels(shape)
        if shape[5] in (WHITE, NONE) and shape[6] in (WHITE, NONE):
            if not any(box[0] <= c[2] and c[0] <= box[2] and box[1] <= c[3] and c[1] <= box[3] for c in coloured):
                continue
        else:
            coloured.append(box)
        kept.append(shape)
    return tuple(kept)


def _pixels(shape: Shape) -> Pixels:
    """The pixels ``shape`` may paint: a rectangle's box grown by half its stroke width (the renderer covers a
    pixel by the exact area it shares with that box), an ellipse's grown by :data:`AA_MARGIN` more."""
    kind, x0, y0, w, h, _, _, width = shape
    margin = width / 2 + (0.0 if kind == RECT else AA_MARGIN)
    return (math.floor(x0 - margin), math.floor(y0 - margin),
            math.ceil(x0 + w + margin) - 1, math.ceil(y0 + h + margin) - 1)
