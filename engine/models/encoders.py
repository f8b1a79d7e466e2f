"""Built-in observation encoders (registered as plugin "treediff-engine"): the domain-free "grid" encoder."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.errors import DomainError


class GridEncoder(nn.Module):
    """Observations ``[B, C, H, W]`` -> spatial feature tokens ``[B, T, d_model]``.

    A small convolutional stem (two 3x3 convolutions, the first with stride ``stem_stride``) followed by
    a ``patch_size`` x ``patch_size`` patchify convolution, plus learned row and column embeddings.
    ``T = ceil(H / s) * ceil(W / s)`` with ``s = stem_stride * patch_size``: the stem output is zero-padded
    at the bottom/right to a multiple of the patch size, so any grid size works.
    """

    def __init__(self, observation_shape: tuple[int, ...], d_model: int, patch_size: int = 4,
                 stem_channels: int = 16, stem_stride: int = 2) -> None:
        super().__init__()
        if len(observation_shape) != 3 or min(observation_shape) < 1:
            raise DomainError(f"the 'grid' observation encoder got observation shape {tuple(observation_shape)}; "
                              "expected [channels, height, width]; hint: register a custom encoder for other shapes")
        if patch_size < 1 or stem_stride < 1 or stem_channels < 1:
            raise DomainError(f"grid encoder options patch_size={patch_size}, stem_stride={stem_stride}, "
                              f"stem_channels={stem_channels}; expected positive integers")
        self.observation_shape = tuple(observation_shape)
        channels, height, width = observation_shape
        self.patch_size = patch_size
        self.stem = nn.Sequential(
            nn.Conv2d(channels, stem_channels, 3, stride=stem_stride, padding=1), nn.GELU(),
            nn.Conv2d(stem_channels, stem_channels, 3, padding=1), nn.GELU())
        self.stem_hw = (math.ceil(height / stem_stride), math.ceil(width / stem_stride))
        self.grid_hw = (math.ceil(self.stem_hw[0] / patch_size), math.ceil(self.stem_hw[1] / patch_size))
        self.patchify = nn.Conv2d(stem_channels, d_model, patch_size, stride=patch_size)
        self.row = nn.Parameter(torch.randn(self.grid_hw[0], 1, d_model) * 0.02)
        self.col = nn.Parameter(torch.randn(1, self.grid_hw[1], d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)

    @property
    def n_tokens(self) -> int:
        """Number of tokens produced per observation."""
        return self.grid_hw[0] * self.grid_hw[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.observation_shape:
            raise DomainError(f"grid encoder built for observations {self.observation_shape} got a batch of "
                              f"shape {tuple(x.shape)}; expected [B, {', '.join(map(str, self.observation_shape))}]")
        h = self.stem(x)  # [B, c, H', W']
        pad_h = self.grid_hw[0] * self.patch_size - h.shape[2]
        pad_w = self.grid_hw[1] * self.patch_size - h.shape[3]
        if pad_h or pad_w:
            h = F.pad(h, (0, pad_w, 0, pad_h))  # [B, c, Hp*p, Wp*p]
        h = self.patchify(h)  # [B, d, Hp, Wp]
        h = h.permute(0, 2, 3, 1) + self.row + self.col  # [B, Hp, Wp, d]
        out: torch.Tensor = self.norm(h.flatten(1, 2))  # [B, T, d]
        return out


def grid_encoder(observation_shape: tuple[int, ...], d_model: int, **options: Any) -> GridEncoder:
    """Factory of the "grid" encoder; options: ``patch_size``, ``stem_channels``, ``stem_stride``."""
    allowed = {"patch_size", "stem_channels", "stem_stride"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DomainError(f"unknown 'grid' encoder option(s) {unknown}; expected some of {sorted(allowed)}")
    return GridEncoder(tuple(observation_shape), d_model, **options)


@hookimpl
def treediff_register_observation_encoders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the engine's built-in encoders."""
    register("grid", grid_encoder)
