"""Primitive signed distances over grids against brute-force numpy geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from treediff.plugins.csg2d.distance import grid_distances
from treediff.plugins.csg2d.program import BOX, CIRCLE, DIAMOND


def _brute(kind: int, params: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Euclidean signed distance at points (xs, ys) [n, n], computed point by point in float64."""
    cx, cy, p, q = params
    dx, dy = xs - cx, ys - cy
    if kind == CIRCLE:
        return np.hypot(dx, dy) - p
    if kind == DIAMOND:
        dx, dy = (dx + dy) / math.sqrt(2), (dy - dx) / math.sqrt(2)
    ax, ay = np.abs(dx) - p, np.abs(dy) - q
    return np.hypot(np.maximum(ax, 0), np.maximum(ay, 0)) + np.minimum(np.maximum(ax, ay), 0)


@pytest.mark.parametrize("kind", [CIRCLE, BOX, DIAMOND])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(("spacing", "n"), [(1.0, 8), (8.0, 16), (1.0, 128)])
def test_grid_distances_match_brute_force(kind: int, sign: float, spacing: float, n: int) -> None:
    generator = torch.Generator().manual_seed(kind * 10 + n)
    count = 12
    params = torch.randint(0, 16, (count, 4), generator=generator).float() * torch.tensor([8.0, 8.0, 4.0, 4.0])
    x0 = torch.randint(0, 16, (count,), generator=generator).float() * 8 + 0.5
    y0 = torch.randint(0, 16, (count,), generator=generator).float() * 8 + 0.5
    got = grid_distances(kind, sign, params, x0, y0, spacing, n)
    assert got.shape == (count, n, n) and got.dtype == torch.float32
    steps = np.arange(n) * spacing
    for i in range(count):
        ys, xs = np.meshgrid(y0[i].item() + steps, x0[i].item() + steps, indexing="ij")
        expected = sign * _brute(kind, params[i].numpy().astype(np.float64), xs, ys)
        np.testing.assert_allclose(got[i].numpy(), expected, atol=2e-4, rtol=1e-6)
