"""Independent TinySVG reference: lays a scene out again from the written semantics and draws it with skia.

Deliberately shares no code with ``treediff.plugins.tinysvg`` (not even the colour table): layout is recomputed here
by translating lists of placed shapes, so comparing against it cross-checks layout and rendering. The
semantics are those documented in ``plugins/tinysvg/grammar.yaml`` and ``plugins/tinysvg/layout.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import skia

from treediff.engine.trees.tree import Node

_SIZE = 128
_STEP = 6.0
_RGB = {"red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
        "purple": (128, 0, 128), "orange": (255, 165, 0), "black": (0, 0, 0), "white": (255, 255, 255)}

# A placed shape: (production name, left, top, width, height, fill word, stroke word, stroke width px)
Placed = tuple[str, float, float, float, float, str, str, float]
Bounds = tuple[float, float, float, float]  # left, top, right, bottom


def _moved(shapes: list[Placed], dx: float, dy: float) -> list[Placed]:
    return [(k, x + dx, y + dy, w, h, f, s, sw) for (k, x, y, w, h, f, s, sw) in shapes]


def _scene(tree: Node) -> tuple[Bounds, list[Placed]]:
    """(bounding box, shapes in paint order), in a frame where the scene's first shape sits at 0, 0."""
    node: Any = tree  # fields are typed by the grammar
    kind = tree.name
    if kind in ("rectangle", "ellipse"):
        w, h = _STEP * node["w"], _STEP * node["h"]
        return (0.0, 0.0, w, h), [(kind, 0.0, 0.0, w, h, node["fill"], node["stroke"], node["sw"] / 2.0)]
    if kind == "move":
        bounds, shapes = _scene(node["scene"])
        dx = -_STEP * node["x"] if node["nx"] else _STEP * node["x"]
        dy = -_STEP * node["y"] if node["ny"] else _STEP * node["y"]
        return bounds, _moved(shapes, dx, dy)  # the drawing moves, the layout box stays
    (al, at, ar, ab), first = _scene(node["first"])
    (bl, bt, br, bb), second = _scene(node["second"])
    if node["dir"] == "h":
        dx, dy = ar + node["gap"] - bl, (at + ab) / 2 - (bt + bb) / 2
    else:
        dx, dy = (al + ar) / 2 - (bl + br) / 2, ab + node["gap"] - bt
    bounds = (min(al, bl + dx), min(at, bt + dy), max(ar, br + dx), max(ab, bb + dy))
    return bounds, first + _moved(second, dx, dy)


def placed_shapes(tree: Node) -> list[Placed]:
    """Every shape of ``tree`` with absolute canvas coordinates, in paint order."""
    (left, top, right, bottom), shapes = _scene(tree)
    return _moved(shapes, _SIZE / 2 - (left + right) / 2, _SIZE / 2 - (top + bottom) / 2)


def _paint(word: str, stroke_width: float | None) -> skia.Paint:
    r, g, b = _RGB[word]
    paint = skia.Paint(Color=skia.Color(r, g, b), AntiAlias=True)
    if stroke_width is not None:
        paint.setStyle(skia.Paint.kStroke_Style)
        paint.setStrokeWidth(stroke_width)
        paint.setStrokeJoin(skia.Paint.kMiter_Join)
    return paint


def render_reference(tree: Node) -> np.ndarray:
    """Draw ``tree`` with skia (anti-aliased): float32 [128, 128, 3] RGB in [0, 1], white background."""
    pixels = np.zeros((_SIZE, _SIZE, 4), dtype=np.uint8)
    info = skia.ImageInfo.Make(_SIZE, _SIZE, skia.kRGBA_8888_ColorType, skia.kPremul_AlphaType)
    surface = skia.Surface.MakeRasterDirect(info, pixels)
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    for kind, x, y, w, h, fill, stroke, sw in placed_shapes(tree):
        if w <= 0 or h <= 0:
            continue  # SVG: a zero width or height disables rendering of the element
        rect = skia.Rect.MakeXYWH(x, y, w, h)
        draw = canvas.drawRect if kind == "rectangle" else canvas.drawOval
        if fill != "none":
            draw(rect, _paint(fill, None))
        if stroke != "none" and sw > 0:  # skia would draw width 0 as a hairline
            draw(rect, _paint(stroke, sw))
    surface.flushAndSubmit()
    return pixels[:, :, :3].astype(np.float32) / 255.0
