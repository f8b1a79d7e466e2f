"""Batched TinySVG rasteriser: anti-aliased fill and stroke coverage of laid-out shapes, painter's order, torch.

Shapes come from :func:`treediff.plugins.tinysvg.layout.layout`. Each shape is drawn inside a window of the canvas
that holds its box, stroke and one pixel of anti-aliasing (shapes are at most 54 px plus stroke, so windows
are far smaller than the canvas). Drawing has two vectorised phases, with no loop over pixels or programs:

1. Coverage: one call per group of shapes sharing a kind and a window size (sizes are rounded up to
   multiples of 16 px, or for small batches to the largest window of the kind) computes fill and stroke
   coverage of every shape of the group, whatever image and paint order it belongs to.
2. Compositing: shapes sharing a paint order and a window size lie in distinct images, so their windows are
   gathered from the canvas, painted and scattered back in one step; steps run bottom layer first, so later
   shapes land on top.

Coverage (pixel (col, row) is the square [col, col+1] x [row, row+1]):

* Rectangles: exact area coverage, separable per axis: ``overlap_x * overlap_y`` of the pixel with the box.
  The stroke is the box grown by SW/4 on each side minus the box shrunk by SW/4 (mitred corners, as SVG and
  skia draw them), so both fill and stroke are exact box-filtered coverage.
* Ellipses: coverage ``clamp(0.5 - d, 0, 1)`` of the signed Euclidean distance ``d`` to the outline; the
  stroke is ``clamp(0.5 - d + s) - clamp(0.5 - d - s)`` with s = SW/4 (the points within s of the curve).
  ``d`` comes from three iterations of Chatfield's trig-free closest-point iteration on the ellipse
  evolute; against brute-force distances its error is at most 0.012 px within 3 px of the outline for
  every TinySVG ellipse (radii 3..27 px, worst for the most eccentric ones), so the coverage is a 1-px-wide
  linear ramp across the exact outline. Known limitation: where a stroke is thicker than a thin ellipse's
  half-width allows, the inner stroke edge ends in a sharp tip on the ellipse's medial axis, and the ramp
  there under-covers the stroke by up to ~0.15 on a few pixels (skia fills them fully).

Each shape paints its fill, then its stroke on top (SVG order); ``none`` paints nothing; a shape with a zero
width or height paints nothing (SVG). Colours composite with ``over`` onto a white canvas.
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.layout import CANVAS, RECT, Layout, layout
from treediff.plugins.tinysvg.palette import rgb_table

_BUCKETS = ((512, 64), (2048, 32), (None, 16))  # (up to this many shapes, round window sides up to this px)
_HUGE_PAGE, _MADV_HUGEPAGE = 2 << 20, 14  # Linux transparent huge pages
_FAR = 1e3  # stands in for the distance of pixels far from an ellipse outline
_ITERATIONS = 3  # closest-point iterations for ellipse distances (see module docstring for the error)

# Columns of the per-shape parameter table sent to the device (float32).
_X0, _Y0, _W, _H, _HALF_STROKE, _OX, _OY = range(7)
_FILL, _STROKE = slice(7, 11), slice(11, 15)  # r, g, b, alpha (0 for `none`, invisible shapes, no stroke)


@dataclass(frozen=True)
class _Group:
    """Shapes of one kind and window size: rows ``[lo, hi)`` of the sorted table, ``runs`` per paint order."""

    kind: int
    window: tuple[int, int]  # (height, width) in px
    lo: int
    hi: int
    runs: list[tuple[int, int, int]]  # (paint order, first row, end row), rows relative to ``lo``


class TinySVGExecutor:
    """Renders batches of TinySVG trees to float32 RGB images ``[B, 3, 128, 128]`` in [0, 1] on ``device``."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self._palette = np.array(rgb_table(), dtype=np.float64)  # [colours, 4] r g b paint

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        """Lay out and draw ``trees``; returns [B, 3, 128, 128] float32 on ``self.device``."""
        return self.draw(layout(trees))

    def draw(self, shapes: Layout) -> torch.Tensor:
        """Draw an already computed layout; returns [B, 3, 128, 128] float32 on ``self.device``."""
        canvas = _blank(shapes.batch, self.device)  # [B, 3, H, W] white
        if not len(shapes.image):
            return canvas
        table, start, groups = _plan(shapes, self._palette)
        if not groups:
            return canvas
        params = torch.as_tensor(table, dtype=torch.float32, device=self.device)  # [N, 15], one copy to device
        starts = torch.as_tensor(start, device=self.device)  # [N] int64 flat offset of each window
        covers = [_cover(params[g.lo:g.hi], g) for g in groups]
        steps = sorted((order, i, a, b) for i, g in enumerate(groups) for order, a, b in g.runs)
        for _, i, a, b in steps:
            g = groups[i]
            alpha_fill, alpha_stroke = covers[i]
            colors = params[g.lo + a:g.lo + b]
            _composite(canvas, g.window, starts[g.lo + a:g.lo + b], alpha_fill[a:b], alpha_stroke[a:b],
                       colors[:, _FILL][:, :3, None, None], colors[:, _STROKE][:, :3, None, None])
        return canvas


def _blank(batch: int, device: torch.device) -> torch.Tensor:
    """A white canvas [B, 3, H, W]. Large CPU canvases are first advised onto transparent huge pages.

    Page-faulting a fresh 200 MB batch in 4 KiB pages costs about as much as drawing it (measured 0.10 s
    vs 0.025 s with huge pages for 1024 images); ``madvise`` is only a hint and any failure is ignored.
    """
    canvas = torch.empty(batch, 3, CANVAS, CANVAS, device=device)
    nbytes = canvas.numel() * canvas.element_size()
    if device.type == "cpu" and nbytes >= 4 * _HUGE_PAGE and sys.platform.startswith("linux"):
        first = (canvas.data_ptr() + _HUGE_PAGE - 1) // _HUGE_PAGE * _HUGE_PAGE
        last = (canvas.data_ptr() + nbytes) // _HUGE_PAGE * _HUGE_PAGE
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_HUGEPAGE)
        except (OSError, AttributeError):
            pass
    return canvas.fill_(1.0)


def _plan(shapes: Layout, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[_Group]]:
    """Sort shapes by (kind, window size, paint order); per-shape parameters, window offsets and groups.

    A window covers the shape's box grown by its stroke and one pixel of anti-aliasing on every side (plus
    one for rounding), clamped inside the canvas; its sides are rounded up to a bucket size that grows as
    the batch shrinks (small batches: fewer, larger vectorised calls; large batches: less wasted area).
    Returns (table [N, 15] float64, window start [N] int64, groups), rows in sorted order.
    """
    n = len(shapes.image)
    half = shapes.stroke_width / 2.0
    reach = shapes.box[:, 2:] + shapes.stroke_width[:, None] + 3.0  # [N, 2] (w, h) + stroke + AA + rounding
    bucket = next(px for most, px in _BUCKETS if most is None or n <= most)  # fewer, larger calls when few
    size = np.minimum(np.ceil(reach / bucket).astype(np.int64) * bucket, CANVAS)  # [N, 2] (Sx, Sy)
    origin = np.clip(np.floor(shapes.box[:, :2] - half[:, None] - 1.0), 0, CANVAS - size).astype(np.int64)
    start = (shapes.image * 3 * CANVAS + origin[:, 1]) * CANVAS + origin[:, 0]
    visible = (shapes.box[:, 2] > 0) & (shapes.box[:, 3] > 0)
    fill = palette[shapes.fill] * np.where(visible[:, None], 1.0, [1.0, 1.0, 1.0, 0.0])
    stroke = palette[shapes.stroke] * np.where((visible & (half > 0))[:, None], 1.0, [1.0, 1.0, 1.0, 0.0])
    table = np.concatenate([shapes.box, half[:, None], origin, fill, stroke], axis=1)
    group_key = (shapes.kind * (CANVAS + 1) + size[:, 1]) * (CANVAS + 1) + size[:, 0]
    paints = np.flatnonzero((fill[:, 3] > 0) | (stroke[:, 3] > 0))  # shapes that paint nothing are skipped
    perm = paints[np.lexsort((shapes.order[paints], group_key[paints]))]
    n = len(perm)
    if n == 0:
        return table[perm], start[perm], []
    key, order = group_key[perm], shapes.order[perm]
    cuts = [0, *(np.flatnonzero(np.diff(key)) + 1).tolist(), n]
    groups = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        run_cuts = [0, *(np.flatnonzero(np.diff(order[lo:hi])) + 1).tolist(), hi - lo]
        runs = [(int(order[lo + a]), a, b) for a, b in zip(run_cuts[:-1], run_cuts[1:])]
        first = perm[lo]
        groups.append(_Group(int(shapes.kind[first]), (int(size[first, 1]), int(size[first, 0])), lo, hi, runs))
    return table[perm], start[perm], groups


def _cover(params: torch.Tensor, group: _Group) -> tuple[torch.Tensor, torch.Tensor]:
    """Coverage of one group times paint (0 for `none`): (alpha_fill, alpha_stroke), each [M, 1, Sy, Sx]."""
    height, width = group.window
    dev = params.device
    cols = params[:, _OX, None] + torch.arange(width, device=dev)  # [M, Sx] canvas columns of the window
    rows = params[:, _OY, None] + torch.arange(height, device=dev)  # [M, Sy] canvas rows
    box, half_stroke = params[:, _X0:_H + 1], params[:, _HALF_STROKE]
    paint = params[:, [_FILL.stop - 1, _STROKE.stop - 1]]  # [M, 2] fill and stroke paint (0 or 1)
    cover = _rect_coverage if group.kind == RECT else _ellipse_coverage
    alpha_fill, alpha_stroke = cover(box, half_stroke, paint, cols, rows)  # [M, Sy, Sx] each
    return alpha_fill.unsqueeze(1), alpha_stroke.unsqueeze(1)


def _composite(canvas: torch.Tensor, window: tuple[int, int], start: torch.Tensor, alpha_fill: torch.Tensor,
               alpha_stroke: torch.Tensor, fill: torch.Tensor, stroke: torch.Tensor) -> None:
    """Paint fill then stroke of shapes in distinct images over their canvas windows (``over``, in place).

    start [M]; alpha_fill, alpha_stroke [M, 1, Sy, Sx]; fill, stroke [M, 3, 1, 1].
    """
    height, width = window
    windows = _windows(canvas, height, width)  # [positions, 3, Sy, Sx] view of every possible window
    patch = windows.index_select(0, start)  # [M, 3, Sy, Sx]
    patch = torch.lerp(patch, fill, alpha_fill)
    patch = torch.lerp(patch, stroke, alpha_stroke)
    windows.index_copy_(0, start, patch)  # windows of distinct images never overlap


def _windows(canvas: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Strided view [P, 3, height, width] of ``canvas`` [B, 3, H, W]: entry p is the window whose first
    channel starts at float p.

    Only starts of windows that lie inside one image are used, so reads and writes stay in that image.
    """
    plane = CANVAS * CANVAS
    positions = canvas.numel() - (2 * plane + (height - 1) * CANVAS + width) + 1
    return canvas.view(-1).as_strided((positions, 3, height, width), (1, plane, CANVAS, 1))


def _rect_coverage(box: torch.Tensor, s: torch.Tensor, paint: torch.Tensor, cols: torch.Tensor,
                   rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fill, stroke) coverage [M, Sy, Sx] of rectangles ``box`` [M, 4], stroke half-width ``s`` [M], times
    ``paint`` [M, 2].

    Exact pixel-area coverage of the box, the box grown by ``s`` and the box shrunk by ``s`` (empty when the
    stroke covers the middle), each the outer product of its overlaps with the pixel along y and along x;
    the stroke is grown minus shrunk, one batched matrix product of rank 2.
    """
    x0, y0 = box[:, 0], box[:, 1]
    x1, y1 = x0 + box[:, 2], y0 + box[:, 3]
    grow = torch.stack([torch.zeros_like(s), s, -s], dim=1)  # [M, 3]: box, outer, inner
    along_x = _overlap(x0[:, None] - grow, x1[:, None] + grow, cols)  # [M, 3, Sx]
    along_y = _overlap(y0[:, None] - grow, y1[:, None] + grow, rows)  # [M, 3, Sy]
    along_y = along_y * torch.stack([paint[:, 0], paint[:, 1], -paint[:, 1]], dim=1)[:, :, None]
    fill = along_y[:, 0, :, None] * along_x[:, 0, None, :]  # [M, Sy, Sx]
    stroke = torch.bmm(along_y[:, 1:].transpose(1, 2), along_x[:, 1:])  # [M, Sy, 2] @ [M, 2, Sx]
    return fill, stroke


def _overlap(lo: torch.Tensor, hi: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Length of [lo, hi] inside unit pixels [p, p+1]: lo, hi [M, K], pixels [M, S] -> [M, K, S] in [0, 1]."""
    p = pixels[:, None, :]
    return (torch.minimum(hi[:, :, None], p + 1.0) - torch.maximum(lo[:, :, None], p)).clamp(0.0, 1.0)


def _ellipse_coverage(box: torch.Tensor, s: torch.Tensor, paint: torch.Tensor, cols: torch.Tensor,
                      rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fill, stroke) coverage [M, Sy, Sx] of ellipses inscribed in ``box`` [M, 4], stroke half-width ``s``
    [M], times ``paint`` [M, 2].

    The distance is only needed within ``s + 0.5`` px of the outline; elsewhere fill coverage is 1 inside and
    0 outside and stroke coverage is 0. A pixel whose normalised radius k = |(x/a, y/b)| has
    |k - 1| * min(a, b) > s + 1 is farther than s + 1 px from the outline (the ellipse scaled by k lies at
    least |k - 1| * min(a, b) from it), so the closest-point iteration runs only on the band of other pixels.
    """
    height, width = rows.shape[1], cols.shape[1]
    a = (box[:, 2] / 2).clamp_min(0.5)  # [M] semi-axes (zero-size shapes are invisible anyway)
    b = (box[:, 3] / 2).clamp_min(0.5)
    px = cols + 0.5 - (box[:, 0:1] + box[:, 2:3] / 2)  # [M, Sx] pixel centre - ellipse centre
    py = rows + 0.5 - (box[:, 1:2] + box[:, 3:4] / 2)  # [M, Sy]
    k2 = (px / a[:, None]).square()[:, None, :] + (py / b[:, None]).square()[:, :, None]  # [M, Sy, Sx] k squared
    reach = (s + 1.0) / torch.minimum(a, b)  # [M] band half-width in units of k
    inner = (1.0 - reach).clamp_min(0.0).square()[:, None, None]
    outer = (1.0 + reach).square()[:, None, None]
    fill = (k2 < 1.0).float().mul_(paint[:, 0, None, None])  # [M, Sy, Sx] (torch.where broadcasts slowly)
    stroke = torch.zeros_like(fill)
    band = torch.nonzero(((k2 >= inner) & (k2 <= outer)).view(-1)).squeeze(1)  # [n] flat pixel indices
    i, r, c = band // (height * width), band // width % height, band % width
    d = ellipse_distance(a[i], b[i], px[i, c], py[i, r])  # [n] signed distances
    si, pi = s[i], paint[i]
    fill.view(-1).index_put_((band,), (0.5 - d).clamp(0.0, 1.0) * pi[:, 0])
    stroke.view(-1).index_put_((band,), ((0.5 - d + si).clamp(0.0, 1.0) - (0.5 - d - si).clamp(0.0, 1.0)) * pi[:, 1])
    return fill, stroke


def ellipse_distance(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance from points (x, y) (same shape) to axis-aligned ellipses with semi-axes a, b (broadcast).

    Negative inside. Closest point by Chatfield's evolute iteration in the first quadrant (3 iterations).
    """
    px, py = x.abs() + 1e-4, y.abs() + 1e-4  # nudge: the centre has no direction
    tx = torch.full_like(px, math.sqrt(0.5))
    ty = torch.full_like(px, math.sqrt(0.5))
    ea = (a * a - b * b) / a  # evolute coefficients
    eb = (b * b - a * a) / b
    for _ in range(_ITERATIONS):
        ex, ey = ea * tx ** 3, eb * ty ** 3
        rx, ry = a * tx - ex, b * ty - ey
        qx, qy = px - ex, py - ey
        ratio = torch.hypot(rx, ry) / torch.hypot(qx, qy).clamp_min(1e-9)
        tx = ((qx * ratio + ex) / a).clamp(0.0, 1.0)
        ty = ((qy * ratio + ey) / b).clamp(0.0, 1.0)
        norm = torch.hypot(tx, ty).clamp_min(1e-12)
        tx, ty = tx / norm, ty / norm
    dist = torch.hypot(px - a * tx, py - b * ty)
    inside = (px / a) ** 2 + (py / b) ** 2 < 1.0
    return torch.where(inside, -dist, dist)
