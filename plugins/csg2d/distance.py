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

from treediff.plugins.csg2d.program import BOX, CIRCLE, DIAMOND

INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _axes(x0: torch.Tensor, y0: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, spacing: float,
          n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets from the centre along x (columns) and y (rows): two [A, n] tensors."""
    steps = torch.arange(n, device=x0.device, dtype=x0.dtype) * spacing  # [n]
    return (x0 - cx)[:, None] + steps, (y0 - cy)[:, None] + steps


def circle(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float, n: int,
           out: torch.Tensor) -> torch.Tensor:
    """sign * (|p - c| - r) for circles; params [A, 4] = (cx, cy, r, unused). Writes ``out`` [A, n, n]."""
    dx, dy = _axes(x0, y0, params[:, 0], params[:, 1], spacing, n)  # [A, n] each
    torch.add(dx.square_()[:, None, :], dy.square_()[:, :, None], out=out)  # [A, n, n] squared distance
    out.sqrt_()
    radius = params[:, 2, None, None]  # [A, 1, 1]
    return out.sub_(radius) if sign > 0 else torch.sub(radius, out, out=out)


def _pieces(sign: float, excess: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From slab excesses (|u| - hu), the terms of the rectangle distance: max(e, 0)^2 and sign * min(e, 0)."""
    return excess.clamp(min=0).square_(), excess.clamp(max=0).mul_(sign)


def _rectangle(sign: float, along: tuple[torch.Tensor, torch.Tensor], across: tuple[torch.Tensor, torch.Tensor],
               out: torch.Tensor) -> torch.Tensor:
    """sign * (hypot(max(a, 0), max(b, 0)) + min(max(a, b), 0)) from the _pieces of a and b (broadcastable)."""
    torch.add(along[0], across[0], out=out)  # [A, n, n]
    out.sqrt_()
    pick = torch.maximum if sign > 0 else torch.minimum  # sign * max(a, b) == pick(sign * a, sign * b)
    return torch.add(pick(along[1], across[1]), out, alpha=sign, out=out)


def box(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float, n: int,
        out: torch.Tensor) -> torch.Tensor:
    """sign * distance to axis-aligned rectangles; params = (cx, cy, hx, hy) (half extents)."""
    dx, dy = _axes(x0, y0, params[:, 0], params[:, 1], spacing, n)
    along = _pieces(sign, dx.abs_().sub_(params[:, 2, None]))  # [A, n] terms of each column
    across = _pieces(sign, dy.abs_().sub_(params[:, 3, None]))  # [A, n] terms of each row
    return _rectangle(sign, (along[0][:, None, :], along[1][:, None, :]),
                      (across[0][:, :, None], across[1][:, :, None]), out)


def diamond(sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, spacing: float, n: int,
            out: torch.Tensor) -> torch.Tensor:
    """sign * distance to rectangles turned 45 degrees clockwise; params = (cx, cy, hu, hv) (half extents).

    The frame is u = (dx + dy)/sqrt2, v = (dy - dx)/sqrt2. On the grid u depends only on i + j and v only on
    i - j, so each term is a vector of 2n - 1 values viewed as an [n, n] Hankel matrix (v's with its rows
    reversed, then flipped back: strides cannot be negative).
    """
    count, width = params.shape[0], 2 * n - 1
    diagonal = torch.arange(width, device=x0.device, dtype=x0.dtype) * spacing  # [2n-1]
    u = ((x0 + y0) - (params[:, 0] + params[:, 1]))[:, None] + diagonal  # [A, 2n-1]: dx + dy at i + j
    v = ((y0 - x0) - (params[:, 1] - params[:, 0]) + (n - 1) * spacing)[:, None] - diagonal  # dy - dx
    along = _pieces(sign, u.abs_().mul_(INV_SQRT2).sub_(params[:, 2, None]))  # [A, 2n-1] each
    across = torch.stack(_pieces(sign, v.abs_().mul_(INV_SQRT2).sub_(params[:, 3, None])), dim=1)  # [A, 2, 2n-1]
    along_views = tuple(t.as_strided((count, n, n), (width, 1, 1)) for t in along)  # [A, n, n]: t[a, i + j]
    across_grid = across.as_strided((count, 2, n, n), (2 * width, width, 1, 1)).flip(2)  # t[a, k, n-1-i + j]
    return _rectangle(sign, along_views, (across_grid[:, 0], across_grid[:, 1]), out)  # type: ignore[arg-type]


KINDS = {CIRCLE: circle, BOX: box, DIAMOND: diamond}


def grid_distances(kind: int, sign: float, params: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor,
                   spacing: float, n: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Signed distances [A, n, n] of A primitives of one kind and sign, each over its own grid origin.

    Written into ``out`` (a contiguous [A, n, n] tensor) when given.
    """
    if out is None:
        out = torch.empty(params.shape[0], n, n, device=params.device, dtype=params.dtype)
    return KINDS[kind](sign, params, x0, y0, spacing, n, out)
