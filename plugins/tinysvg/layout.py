"""TinySVG layout: absolute pixel boxes and paint order of every shape in a batch of scene trees.

Semantics (the contract the renderer and the skia reference both follow):

* Coordinates are pixels, x right and y down; pixel (col, row) covers [col, col+1] x [row, row+1].
* A shape (Rectangle/Ellipse W H ...) occupies the box 6W x 6H. Its **bounding box is that box**: the
  stroke (SW/2 px wide, centred on the outline) may spill outside it but does not extend it. A shape with
  W = 0 or H = 0 has an empty (zero-area) box that still takes part in the layout, and draws nothing.
* ``Arrange h A B GAP``: A stays where it is; B is translated so that its box's left edge is GAP px right
  of A's box's right edge and the two boxes' vertical centres coincide. ``Arrange v``: B's top edge is GAP px
  below A's bottom edge, horizontal centres coincide. The Arrange box is the union (smallest box containing
  both boxes, zero-area boxes included as points/segments). A is painted before B.
* ``Move S X Y NX NY`` draws S shifted by 6X px right (left if NX) and 6Y px down (up if NY). Its bounding
  box is S's box *before* the shift (``move_shifts_box=False``, the default, as in the paper's reference
  implementation). With ``move_shifts_box=True`` the box moves too; then every Move is invisible, because
  layout only ever positions scenes by their boxes and the root box is centred (see the tests).
* The root scene's box is centred on the 128 x 128 canvas. Shapes are painted in prefix (pre-order)
  order, so later drawing goes on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from treediff.engine.errors import TreeError
from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.palette import WORDS

CANVAS = 128
UNIT = 6.0  # px per size / move step
RECT, ELLIPSE = 0, 1

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), x0 <= x1, y0 <= y1
_COLOR = {word: i for i, word in enumerate(WORDS)}


@dataclass(frozen=True)
class Layout:
    """Flat per-shape arrays for a batch, sorted by (image, order). N = total number of shapes.

    image [N] int64: batch index; order [N] int64: paint order within its image (0 = bottom);
    kind [N] int64: RECT or ELLIPSE; box [N, 4] float64: absolute (x0, y0, w, h) in px;
    fill, stroke [N] int64: colour indices into ``palette.WORDS``; stroke_width [N] float64: SW / 2 px;
    count [B] int64: shapes per image.
    """

    image: np.ndarray
    order: np.ndarray
    kind: np.ndarray
    box: np.ndarray
    fill: np.ndarray
    stroke: np.ndarray
    stroke_width: np.ndarray
    count: np.ndarray

    @property
    def batch(self) -> int:
        """Number of scenes laid out."""
        return int(self.count.shape[0])


def scene_box(node: Node, move_shifts_box: bool = False) -> Box:
    """Bounding box of ``node`` in its own frame (its first shape's box has its top-left corner at 0, 0)."""
    return _place(node, [], move_shifts_box)


def arrange_offset(direction: str, gap: int, first: Box, second: Box) -> tuple[float, float]:
    """Translation applied to the second scene of an Arrange, given both scenes' boxes."""
    if direction == "h":
        return first[2] + gap - second[0], (first[1] + first[3] - second[1] - second[3]) / 2.0
    return (first[0] + first[2] - second[0] - second[2]) / 2.0, first[3] + gap - second[1]


def move_offset(x: int, y: int, nx: bool, ny: bool) -> tuple[float, float]:
    """Translation of a Move's drawing: (+-6X, +-6Y)."""
    return (-UNIT * x if nx else UNIT * x), (-UNIT * y if ny else UNIT * y)


def union(a: Box, b: Box) -> Box:
    """Smallest box containing both boxes."""
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def shift(box: Box, dx: float, dy: float) -> Box:
    """``box`` translated by (dx, dy)."""
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def layout(trees: Sequence[Node], move_shifts_box: bool = False) -> Layout:
    """Lay out a batch of scene trees: absolute boxes and paint order of every shape (see module doc)."""
    table: list[list[float]] = []
    count = np.zeros(len(trees), dtype=np.int64)
    for b, tree in enumerate(trees):
        rows = canvas_rows(tree, move_shifts_box)
        for order, row in enumerate(rows):
            row.append(b)
            row.append(order)
        table.extend(rows)
        count[b] = len(rows)
    array = np.array(table, dtype=np.float64).reshape(len(table), 10)
    ints = array[:, [0, 5, 6, 8, 9]].astype(np.int64)
    return Layout(image=ints[:, 3], order=ints[:, 4], kind=ints[:, 0], box=np.ascontiguousarray(array[:, 1:5]),
                  fill=ints[:, 1], stroke=ints[:, 2], stroke_width=np.ascontiguousarray(array[:, 7]), count=count)


def canvas_rows(tree: Node, move_shifts_box: bool = False) -> list[list[float]]:
    """``tree``'s shapes in paint order on the canvas (root box centred), one row each:
    [kind, x0, y0, w, h, fill, stroke, stroke width] (px; colours as indices into ``palette.WORDS``)."""
    rows: list[list[float]] = []
    x0, y0, x1, y1 = _place(tree, rows, move_shifts_box)
    _translate(rows, 0, CANVAS / 2 - (x0 + x1) / 2, CANVAS / 2 - (y0 + y1) / 2)
    return rows


def _place(node: Node, rows: list[list[float]], move_shifts_box: bool) -> Box:
    """Append ``node``'s shapes in paint order to ``rows`` in the node's own frame; return its box.

    A row is [kind, x0, y0, w, h, fill, stroke, stroke width]; nodes are assumed well-typed. The walk is
    iterative (an explicit stack of frames), so scenes of any depth lay out without recursion.
    """
    # frame: [node, stage, row index where the current part started, first box]
    boxes: list[Box] = []  # boxes of finished subtrees, consumed by their parent frame
    stack: list[list[Any]] = [[node, 0, 0, None]]
    while stack:
        frame = stack[-1]
        cur, stage = frame[0], frame[1]
        name, field = cur.name, cur.production.field_index
        values: tuple[Any, ...] = cur.children  # well-typed by the grammar: ints, words, bools and nodes
        if name == "rectangle" or name == "ellipse":
            w, h = UNIT * values[field["w"]], UNIT * values[field["h"]]
            rows.append([RECT if name == "rectangle" else ELLIPSE, 0.0, 0.0, w, h, _COLOR[values[field["fill"]]],
                         _COLOR[values[field["stroke"]]], values[field["sw"]] / 2.0])
            boxes.append((0.0, 0.0, w, h))
            stack.pop()
        elif name == "arrange":
            if stage == 0:
                frame[1] = 1
                stack.append([values[field["first"]], 0, 0, None])
            elif stage == 1:
                frame[1], frame[2], frame[3] = 2, len(rows), boxes.pop()
                stack.append([values[field["second"]], 0, 0, None])
            else:
                first, second = frame[3], boxes.pop()
                dx, dy = arrange_offset(values[field["dir"]], values[field["gap"]], first, second)
                _translate(rows, frame[2], dx, dy)
                boxes.append(union(first, shift(second, dx, dy)))
                stack.pop()
        elif name == "move":
            if stage == 0:
                frame[1], frame[2] = 1, len(rows)
                stack.append([values[field["scene"]], 0, 0, None])
            else:
                box = boxes.pop()
                dx, dy = move_offset(values[field["x"]], values[field["y"]], values[field["nx"]],
                                     values[field["ny"]])
                _translate(rows, frame[2], dx, dy)
                boxes.append(shift(box, dx, dy) if move_shifts_box else box)
                stack.pop()
        else:
            raise TreeError(f"node {name!r} is not a TinySVG scene; expected rectangle, ellipse, arrange or move. "
                            "hint: lay out trees of plugins/tinysvg/grammar.yaml only")
    return boxes.pop()


def _translate(rows: list[list[float]], start: int, dx: float, dy: float) -> None:
    """Shift the shapes ``rows[start:]`` by (dx, dy) in place."""
    for row in rows[start:]:
        row[1] += dx
        row[2] += dy
