"""Signed distances of CSG2D primitives over square pixel grids, for many (primitive, grid) pairs at once.

A grid is ``n x n`` points ``(x0 + j * spacing, y0 + i * spacing)`` (row i, column j), one origin per pair.
Distances are exact Euclidean signed distances in pixels, negative inside (so 1-Lipschitz, which the
renderer's tile culling relies on). Each result is multiplied by ``sign`` (+1 or -1, the same for all
pairs of a call). Every function builds its [A, n, n] result from per-row and per-column (or
per-diagonal) [A, n] vectors with a few broadcast passes; no per-pixel trigonometry.
"""

from __future__ import annotations

import math

import torch

from plugins.csg2d.program import BOX, CIRCLE, DIAMOND

INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _axes(x0: torch.Tensor, y0: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, spacing: float,
          n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets from the centre along x (columns) and y (rows): two [A, n] tensors."""
    steps = torch.arange(n, device=x0.device, dtype=x0.dtype) * spacing  # [n]
    return (x0 - cx)[:, None] + steps, (y0 - cy)[:, None] + steps


def circle(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float,
           n: int) -> torch.Tensor:
    """sign * (|p - c| - r) for circles; params [A, 4] = (cx, cy, r, unused). Returns [A, n, n]."""
    dx, dy = _axes(x0, y0, params[:, 0], params[:, 1], spacing, n)  # [A, n] each
    out = torch.add(dx.square_()[:, None, :], dy.square_()[:, :, None])  # [A, n, n] squared distance
    out.sqrt_()
    radius = params[:, 2, None, None]  # [A, 1, 1]
    return out.sub_(radius) if sign > 0 else torch.sub(radius, out, out=out)


def _rectangle(sign: float, along: torch.Tensor, across: torch.Tensor) -> torch.Tensor:
    """sign * Euclidean rectangle distance from the slab excesses ``along`` = |u| - hu and ``across`` = |v| - hv.

    ``hypot(max(along, 0), max(across, 0)) + min(max(along, across), 0)``; the operands broadcast to [A, n, n].
    """
    out = torch.add(along.clamp(min=0).square_(), across.clamp(min=0).square_())  # [A, n, n]
    out.sqrt_()
    pick = torch.maximum if sign > 0 else torch.minimum  # sign * max(a, b) == pick(sign * a, sign * b)
    inner = pick(along.clamp(max=0).mul_(sign), across.clamp(max=0).mul_(sign))  # sign * min(max(a, b), 0)
    return torch.add(inner, out, alpha=sign, out=out)


def box(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float,
        n: int) -> torch.Tensor:
    """sign * distance to axis-aligned rectangles; params = (cx, cy, hx, hy) (half extents)."""
    dx, dy = _axes(x0, y0, params[:, 0], params[:, 1], spacing, n)
    along = dx.abs_().sub_(params[:, 2, None])  # [A, n]: excess of each column
    across = dy.abs_().sub_(params[:, 3, None])  # [A, n]: excess of each row
    return _rectangle(sign, along[:, None, :], across[:, :, None])


def diamond(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float,
            n: int) -> torch.Tensor:
    """sign * distance to rectangles turned 45 degrees clockwise; params = (cx, cy, hu, hv) (half extents).

    The frame is u = (dx + dy)/sqrt2, v = (dy - dx)/sqrt2. On the grid u depends only on i + j and v only on
    i - j, so each slab excess is a vector of 2n - 1 values viewed as an [n, n] Hankel matrix (v's with its
    rows reversed, then flipped back).
    """
    count = params.shape[0]
    diagonal = torch.arange(2 * n - 1, device=x0.device, dtype=x0.dtype) * spacing  # [2n-1]
    u = ((x0 + y0) - (params[:, 0] + params[:, 1]))[:, None] + diagonal  # [A, 2n-1]: dx + dy at i + j
    v = ((y0 - x0) - (params[:, 1] - params[:, 0]) + (n - 1) * spacing)[:, None] - diagonal  # dy - dx
    along = u.abs_().mul_(INV_SQRT2).sub_(params[:, 2, None])  # [A, 2n-1]
    across = v.abs_().mul_(INV_SQRT2).sub_(params[:, 3, None])
    along_view = along.as_strided((count, n, n), (2 * n - 1, 1, 1))  # [A, n, n]: along[a, i + j]
    across_view = across.as_strided((count, n, n), (2 * n - 1, 1, 1)).flip(1)  # across[a, n-1-i + j]
    return _rectangle(sign, along_view, across_view)


KINDS = {CIRCLE: circle, BOX: box, DIAMOND: diamond}


def grid_distances(kind: int, sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor,
                   spacing: float, n: int) -> torch.Tensor:
    """Signed distances [A, n, n] of A primitives of one kind and sign, each over its own grid origin."""
    return KINDS[kind](sign, params, x0, y0, spacing, n)
