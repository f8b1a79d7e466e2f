"""Independent CSG2D references: skia drawing with anti-aliasing, and exact point-in-shape tests.

Shares no code with ``treediff.plugins.csg2d``; both follow the written semantics (DESIGN.md, CSG2D): 128x128,
pixel (c, r) centred at (c + 0.5, r + 0.5), y down, one unit = 8 px, Circle (8X, 8Y) radius 8R, Quad
centred at (8X, 8Y), 8W wide, 8H high, rotated 45*A degrees clockwise on the image; (+ a b) union and
(- a b) a minus b.

Skia combines anti-aliased coverage with its own blend modes (union: source-over, a + b - ab; difference:
destination-out, a * (1 - b)), so it agrees with the renderer exactly where coverage is 0 or 1 and only
approximately along edges.
"""

from __future__ import annotations

import numpy as np
import skia

from treediff.engine.trees.tree import Node

SIZE = 128
UNIT = 8

_FILL = skia.Paint(AntiAlias=True)
_CUT = skia.Paint(AntiAlias=True, BlendMode=skia.BlendMode.kDstOut)
_CUT_LAYER = skia.Paint(BlendMode=skia.BlendMode.kDstOut)
_A8 = skia.ImageInfo.MakeA8(SIZE, SIZE)


def _has_difference(node: Node) -> bool:
    if node.name == "difference":
        return True
    return node.name == "union" and (_has_difference(node["left"]) or _has_difference(node["right"]))


def _draw_primitive(canvas: skia.Canvas, node: Node, paint: skia.Paint) -> None:
    if node.name == "circle":
        if node["r"] > 0:
            canvas.drawCircle(UNIT * node["x"], UNIT * node["y"], UNIT * node["r"], paint)
        return
    x, y, w, h, a = (UNIT * node["x"], UNIT * node["y"], UNIT * node["w"], UNIT * node["h"], node["a"])
    if w == 0 or h == 0:
        return
    canvas.save()
    canvas.rotate(45.0 * a, x, y)  # skia's y axis points down: positive degrees turn clockwise on screen
    canvas.drawRect(skia.Rect.MakeXYWH(x - w / 2, y - h / 2, w, h), paint)
    canvas.restore()


def _draw(canvas: skia.Canvas, node: Node, paint: skia.Paint = _FILL) -> None:
    """Draw ``node`` onto the current layer; ``paint`` is _FILL (add) or _CUT (remove) for difference-free nodes."""
    if node.name in ("circle", "quad"):
        _draw_primitive(canvas, node, paint)
    elif node.name == "union" and (paint is _CUT or not _has_difference(node["right"])):
        _draw(canvas, node["left"], paint)
        _draw(canvas, node["right"], paint)
    elif node.name == "union":
        _draw(canvas, node["left"])
        canvas.saveLayer(None, None)  # the right side erases inside its own layer only
        _draw(canvas, node["right"])
        canvas.restore()
    else:
        _draw(canvas, node["left"])
        if _has_difference(node["right"]):
            canvas.saveLayer(None, _CUT_LAYER)  # composite the whole right side as an eraser
            _draw(canvas, node["right"])
            canvas.restore()
        else:
            _draw(canvas, node["right"], _CUT)


class SkiaRenderer:
    """Draws CSG2D trees one at a time on a reusable 8-bit alpha surface."""

    def __init__(self) -> None:
        self.surface = skia.Surface.MakeRaster(_A8)
        self.pixels = np.empty((SIZE, SIZE), dtype=np.uint8)

    def render_uint8(self, tree: Node) -> np.ndarray:
        """Coverage of ``tree`` as uint8 [128, 128] (255 = inside); the returned array is reused."""
        canvas = self.surface.getCanvas()
        canvas.clear(skia.ColorTRANSPARENT)
        _draw(canvas, tree)
        self.surface.readPixels(_A8, self.pixels, SIZE, 0, 0)
        return self.pixels

    def render(self, tree: Node) -> np.ndarray:
        """Coverage of ``tree`` as float64 [128, 128] in [0, 1]."""
        return self.render_uint8(tree) / 255.0


def render_reference(tree: Node) -> np.ndarray:
    """Anti-aliased coverage of ``tree`` drawn by skia: float64 [128, 128], 1 = inside."""
    return SkiaRenderer().render(tree)


# ---- exact geometry at pixel centres (integer arithmetic on doubled coordinates) ----

def _centres() -> tuple[np.ndarray, np.ndarray]:
    """Doubled pixel-centre coordinates (2c + 1, 2r + 1) as int64 [128, 128] grids (x, y)."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    return 2 * xs + 1, 2 * ys + 1


def _primitive_geometry(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """(inside, distance) at every pixel centre; inside is exact, distance is the Euclidean boundary distance."""
    x2, y2 = _centres()
    dx, dy = x2 - 2 * UNIT * node["x"], y2 - 2 * UNIT * node["y"]  # doubled offsets, exact integers
    if node.name == "circle":
        r2 = 2 * UNIT * node["r"]
        inside = dx * dx + dy * dy < r2 * r2
        return inside, np.abs(np.hypot(dx, dy) - r2) / 2
    w2, h2, a = 2 * UNIT * node["w"], 2 * UNIT * node["h"], node["a"]
    if a % 2 == 0:  # axis-aligned; the width runs along x for 0 and 180 degrees
        along, across = (np.abs(dx), np.abs(dy)) if a % 4 == 0 else (np.abs(dy), np.abs(dx))
        inside = (2 * along < w2) & (2 * across < h2)
        ex, ey = np.maximum(along - w2 / 2, 0), np.maximum(across - h2 / 2, 0)
        edge = np.where(inside, np.minimum(w2 / 2 - along, h2 / 2 - across), np.hypot(ex, ey))
        return inside & (w2 > 0) & (h2 > 0), edge / 2
    # 45 degrees: width along (1, 1)/sqrt2 for A = 1, 5 and along (-1, 1)/sqrt2 for A = 3, 7
    s, t = np.abs(dx + dy), np.abs(dy - dx)  # sqrt2 * |u|, sqrt2 * |v| (doubled)
    along, across = (s, t) if a % 4 == 1 else (t, s)
    inside = (2 * along * along < w2 * w2) & (2 * across * across < h2 * h2)  # |u| < w/2 without roots
    au, av = along / np.sqrt(2), across / np.sqrt(2)
    eu, ev = np.maximum(au - w2 / 2, 0), np.maximum(av - h2 / 2, 0)
    edge = np.where(inside, np.minimum(w2 / 2 - au, h2 / 2 - av), np.hypot(eu, ev))
    return inside & (w2 > 0) & (h2 > 0), edge / 2


def exact_inside(tree: Node) -> tuple[np.ndarray, np.ndarray]:
    """(inside bool [128, 128], distance to the nearest primitive boundary in px [128, 128]).

    ``inside`` is the set semantics of the tree evaluated exactly at pixel centres; where ``distance``
    exceeds half a pixel no anti-aliasing can touch the pixel, so a faithful renderer gives exactly 1 or 0.
    """
    if tree.name in ("circle", "quad"):
        return _primitive_geometry(tree)
    left, left_edge = exact_inside(tree["left"])
    right, right_edge = exact_inside(tree["right"])
    inside = left | right if tree.name == "union" else left & ~right
    return inside, np.minimum(left_edge, right_edge)
