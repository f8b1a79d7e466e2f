"""The CSG2D sketch observation model: hand-drawn-looking outlines of a program's shape.

A sketch of a tree is an ink image [1, 128, 128] (1 = ink) of the boundary of the tree's shape, as if traced
by hand: the outline wobbles (the distance field is sampled through a smooth random displacement), the pen
width is random per sketch and swells and thins along the stroke, the pen lifts now and then (smooth
random gaps), and some sketches trace the outline twice with different wobbles. Everything random comes
from the ``torch.Generator`` passed in, so a sketch is a deterministic function of (trees, generator
state); the generator's device is the device the sketches are drawn on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from treediff.engine.trees.tree import Node
from treediff.plugins.csg2d.render import SIZE, Renderer


@dataclass(frozen=True)
class SketchStyle:
    """Ranges of the random sketch parameters (pixels unless noted)."""

    width: tuple[float, float] = (1.0, 3.0)  # pen width
    width_swell: float = 0.35  # relative variation of the width along the stroke
    wobble: tuple[float, float] = (0.5, 2.5)  # amplitude of the outline displacement
    wobble_cells: int = 6  # control points per side of the displacement field
    lift_fraction: tuple[float, float] = (0.0, 0.25)  # share of the outline left out by pen lifts
    lift_cells: int = 10  # control points per side of the pen-lift field (more = shorter strokes)
    double_stroke: float = 0.3  # probability of tracing the outline a second time

    @property
    def band(self) -> float:
        """How far from the true boundary ink can land: wobble plus half the widest pen, plus a margin."""
        return self.wobble[1] * 3.0 + self.width[1] * (1.0 + self.width_swell) / 2 + 1.0


def _uniform(lo: float, hi: float, count: int, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(count, generator=generator, device=generator.device)


def smooth_noise(count: int, channels: int, cells: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random fields [count, channels, 128, 128] with unit-variance control points on a cells^2 grid."""
    control = torch.randn(count, channels, cells, cells, generator=generator, device=generator.device)
    coarse = F.interpolate(control, size=(SIZE // 4, SIZE // 4), mode="bicubic", align_corners=True)
    return F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)  # cheap last step


def _warp(field: torch.Tensor, amplitude: torch.Tensor, cells: int, generator: torch.Generator) -> torch.Tensor:
    """Sample ``field`` [B, 1, H, W] at pixel centres displaced by a smooth random field of ``amplitude`` px."""
    count = field.shape[0]
    offset = smooth_noise(count, 2, cells, generator) * amplitude[:, None, None, None]  # [B, 2, H, W] px
    axis = (torch.arange(SIZE, device=field.device, dtype=field.dtype) + 0.5) / SIZE * 2 - 1  # [W] in (-1, 1)
    base = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)  # [H, W, 2] as (x, y)
    grid = base + offset.permute(0, 2, 3, 1) * (2.0 / SIZE)  # [B, H, W, 2]
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _stroke(field: torch.Tensor, style: SketchStyle, width: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One traced outline: ink [B, 1, H, W] of a wobbly, width-varying, interrupted line along sd = 0."""
    count = field.shape[0]
    amplitude = _uniform(*style.wobble, count, generator)
    traced = _warp(field, amplitude, style.wobble_cells, generator)  # [B, 1, H, W]
    swell = 1.0 + style.width_swell * torch.tanh(smooth_noise(count, 1, style.wobble_cells, generator))
    half = width[:, None, None, None] * swell / 2  # [B, 1, H, W]
    ink = (half + 0.5 - traced.abs()).clamp_(0.0, 1.0)
    lifts = _uniform(*style.lift_fraction, count, generator)  # share of the line to leave out
    gaps = smooth_noise(count, 1, style.lift_cells, generator)
    cut = torch.special.ndtri(lifts.clamp(1e-4, 1 - 1e-4))[:, None, None, None] * gaps.std(dim=(2, 3), keepdim=True)
    pen_down = torch.sigmoid((gaps - cut) * 6.0)  # ~0 in the gaps, ~1 elsewhere
    return ink * pen_down


def sketch(trees: Sequence[Node], generator: torch.Generator, style: SketchStyle | None = None,
           renderer: Renderer | None = None) -> torch.Tensor:
    """Hand-drawn outline sketches of ``trees``: float32 [B, 1, 128, 128] in [0, 1], 1 = ink.

    Drawn on ``generator.device``; deterministic given the generator's state. An empty shape gives an
    empty sketch.
    """
    style = style or SketchStyle()
    renderer = renderer or Renderer(generator.device)
    field = renderer.distances(trees, style.band).to(generator.device)  # [B, 1, H, W] px, clamped
    count = field.shape[0]
    if count == 0:
        return field
    width = _uniform(*style.width, count, generator)
    ink = _stroke(field, style, width, generator)
    again = torch.rand(count, generator=generator, device=generator.device) < style.double_stroke
    second = _stroke(field, style, width * 0.8, generator)
    ink = torch.where(again[:, None, None, None], torch.maximum(ink, second), ink)
    return ink.clamp_(0.0, 1.0)
