"""Compiled CSG2D programs: a batch of trees flattened into primitive and combine-step tensors.

Every tree is evaluated as a signed distance field (negative inside). Coverage is ``clamp(0.5 - sd, 0, 1)``;
because that map is monotone, combining coverages with ``max`` (union) and ``min(a, 1 - b)`` (difference)
equals combining distances with ``min(a, b)`` and ``max(a, -b)`` and converting once. Negations are pushed
down to the leaves when compiling (``-min(a, b) = max(-a, -b)``), so each node is computed with a sign and
every combine is a plain ``min`` or ``max`` of two rows, grouped by tree height so that one step combines
all nodes of one height and one operation across the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from treediff.engine.errors import DomainError
from treediff.engine.trees.tree import Node

CIRCLE, BOX, DIAMOND = 0, 1, 2  # primitive kinds: circle, axis-aligned rectangle, rectangle rotated 45 deg
MIN, MAX = 0, 1  # combine operations
UNIT = 8.0  # pixels per grid unit
EMPTY_HALF_SIZE = -1.0e4  # half size that makes a zero-area rectangle empty everywhere

# one compiled tree: prims (row, kind, sign, cx, cy, p, q), combines (height, op, dst, left, right), rows
TreeCode = tuple[list[tuple[int, int, float, float, float, float, float]], list[tuple[int, int, int, int, int]], int]


Prim = tuple[int, int, float, float, float, float, float]  # (row, kind, sign, cx, cy, p, q)


def primitive(node: Node, sign: float, row: int = 0) -> Prim:
    """(row, kind, sign, cx, cy, p, q) in pixels for a circle or quad node.

    Circle: p = radius. BOX: p, q = half extents along x and y. DIAMOND: p, q = half extents along
    u = (dx + dy)/sqrt(2) and v = (dy - dx)/sqrt(2), the image axes rotated 45 degrees clockwise.
    """
    fields, values = node.production.field_index, node.children
    x, y = UNIT * values[fields["x"]], UNIT * values[fields["y"]]  # type: ignore[operator]
    if node.production.name == "circle":
        return row, CIRCLE, sign, x, y, UNIT * values[fields["r"]], 0.0  # type: ignore[operator]
    w, h, a = values[fields["w"]], values[fields["h"]], values[fields["a"]]
    if w <= 0 or h <= 0:  # type: ignore[operator]  # zero area: draws nothing (not even a 45-degree line)
        return row, BOX, sign, x, y, EMPTY_HALF_SIZE, EMPTY_HALF_SIZE
    half_w, half_h = UNIT / 2 * w, UNIT / 2 * h  # type: ignore[operator]
    if a % 4 >= 2:  # type: ignore[operator]  # 90 or 135 degrees: the width runs along y (BOX) or v (DIAMOND)
        half_w, half_h = half_h, half_w
    return row, BOX if a % 2 == 0 else DIAMOND, sign, x, y, half_w, half_h  # type: ignore[operator]


def _signed_postorder(tree: Node) -> list[tuple[Node, float]]:
    """Nodes with their signs, children before parents (left subtree, right subtree, node)."""
    order: list[tuple[Node, float]] = []
    work = [(tree, 1.0)]
    while work:  # visits node, right, left; reversed that is left, right, node
        node, sign = item = work.pop()
        order.append(item)
        name = node.production.name
        if name == "union" or name == "difference":
            fields, children = node.production.field_index, node.children
            work.append((children[fields["left"]], sign))  # type: ignore[arg-type]
            work.append((children[fields["right"]], sign if name == "union" else -sign))  # type: ignore[arg-type]
        elif name != "circle" and name != "quad":
            raise DomainError(f"csg2d cannot render a node of production {name!r}; expected circle, quad, union "
                              "or difference. hint: build trees with the csg2d grammar")
    order.reverse()
    return order


def compile_tree(tree: Node) -> TreeCode:
    """Flatten one tree in postfix order: its primitives, its combine steps and its row count."""
    prims: list[Prim] = []
    combines: list[tuple[int, int, int, int, int]] = []
    done: list[tuple[int, int]] = []  # (row, height) of finished subtrees
    for row, (node, sign) in enumerate(_signed_postorder(tree)):
        name = node.production.name
        if name == "circle" or name == "quad":
            prims.append(primitive(node, sign, row))
            done.append((row, 0))
            continue
        right_row, right_height = done.pop()
        left_row, left_height = done.pop()
        height = 1 + (left_height if left_height > right_height else right_height)
        combines.append((height, MIN if (name == "union") == (sign > 0) else MAX, row, left_row, right_row))
        done.append((row, height))
    return prims, combines, done[-1][0] + 1  # the root is the last row


@dataclass(frozen=True)
class Program:
    """A compiled batch of B trees with P primitives and C combines in all; every image has ``rows`` slots.

    Primitives are grouped by image (``prim_start``/``prim_count`` [B]): prim_row/prim_kind [P] long,
    prim_key [P] = 2 * kind + (sign < 0), prim_sign [P], prim_params [P, 4] = (cx, cy, p, q) in pixels.
    Combines are grouped by image too (``comb_start``/``comb_count``): comb_image/comb_dst/comb_left/
    comb_right [C] long, and comb_step [C], the index of their (height, op) step; ``step_ops`` gives each
    step's operation in evaluation order (children before parents). root_row: [B] long.
    """

    images: int
    rows: int
    prim_start: torch.Tensor
    prim_count: torch.Tensor
    prim_image: torch.Tensor
    prim_row: torch.Tensor
    prim_key: torch.Tensor
    prim_params: torch.Tensor
    comb_start: torch.Tensor
    comb_count: torch.Tensor
    comb_image: torch.Tensor
    comb_dst: torch.Tensor
    comb_left: torch.Tensor
    comb_right: torch.Tensor
    comb_step: torch.Tensor
    step_ops: tuple[int, ...]
    root_row: torch.Tensor


def _longs(values: list[int] | np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64)).to(device)


def _starts(counts: list[int]) -> list[int]:
    return [0, *np.cumsum(counts)[:-1].tolist()] if counts else []


def assemble(codes: Sequence[TreeCode], device: torch.device) -> Program:
    """Concatenate compiled trees into one Program on ``device``."""
    prim_rows = [prim for prims, _, _ in codes for prim in prims]
    comb_rows = [comb for _, combines, _ in codes for comb in combines]
    prim_count = [len(prims) for prims, _, _ in codes]
    comb_count = [len(combines) for _, combines, _ in codes]
    prim = np.array(prim_rows, dtype=np.float64).reshape(-1, 7)
    comb = np.array(comb_rows, dtype=np.int64).reshape(-1, 5)
    keys = comb[:, 0] * 2 + comb[:, 1]  # (height, op) -> one sortable key
    unique, comb_step = np.unique(keys, return_inverse=True)
    return Program(
        images=len(codes),
        rows=max((code[2] for code in codes), default=1),
        prim_start=_longs(_starts(prim_count), device),
        prim_count=_longs(prim_count, device),
        prim_image=_longs(np.repeat(np.arange(len(codes)), prim_count), device),
        prim_row=_longs(prim[:, 0], device),
        prim_key=_longs(prim[:, 1] * 2 + (prim[:, 2] < 0), device),
        prim_params=torch.from_numpy(np.ascontiguousarray(prim[:, 3:7], dtype=np.float32)).to(device),
        comb_start=_longs(_starts(comb_count), device),
        comb_count=_longs(comb_count, device),
        comb_image=_longs(np.repeat(np.arange(len(codes)), comb_count), device),
        comb_dst=_longs(comb[:, 2], device),
        comb_left=_longs(comb[:, 3], device),
        comb_right=_longs(comb[:, 4], device),
        comb_step=_longs(comb_step.reshape(-1), device),
        step_ops=tuple(int(key % 2) for key in unique),
        root_row=_longs([code[2] - 1 for code in codes], device),
    )
