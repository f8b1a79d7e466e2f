"""What a TinySVG program draws, as a hashable key: the shapes that paint, where, and in which order.

Many programs draw the same image: a stroke colour under a zero stroke width, a shape of zero width, a shape
with neither fill nor stroke, a Move by zero or two Moves that add up, Arranges that place the same shapes at
the same pixels. :func:`drawing_key` lays a program out (no rasterising) and keeps exactly what the renderer
paints from, so two programs with equal keys render to the same image. It is the TinySVG domain's
``observation_key``: a search executes one program per key, and the others cost no renderer call.
"""

from __future__ import annotations

from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.layout import CANVAS, canvas_rows
from treediff.plugins.tinysvg.palette import WORDS

NONE = WORDS.index("none")
AA_MARGIN = 2.0  # px beyond a shape's stroke that anti-aliasing may touch (the renderer's window uses 1)

Shape = tuple[int, float, float, float, float, int, int, float]  # kind, x0, y0, w, h, fill, stroke, stroke width


def drawing_key(tree: Node) -> tuple[Shape, ...]:
    """The shapes ``tree`` paints on the canvas, bottom first: (kind, x0, y0, w, h, fill, stroke, stroke width).

    A shape is left out when it paints nothing: zero width or height, or no fill and no stroke (``none``, or a
    zero stroke width), or drawn wholly outside the canvas (its box grown by its stroke and anti-aliasing). A
    stroke that paints nothing is written as ``none`` with width 0, whatever colour the program gave it.
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
    return tuple(shapes)
