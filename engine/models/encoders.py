"""Built-in observation encoders (registered as plugin "treediff-engine"), all domain-free.

- ``grid``: observations ``[C, H, W]`` (images, boards, small grids) -> spatial patch tokens.
- ``records``: observations ``[N, F]`` (a sequence or set of N records of F small integers or floats, e.g. the
  input/output examples of a programming-by-example domain) -> one token per record.

Every encoder receives the three views the model compares (target, current, target - current) stacked on
axis 0 under the default ``conditioning: channels``: a domain with ``observation_shape = (C, H, W)`` gives
the ``grid`` encoder ``[B, 3C, H, W]``, one with ``(N, F)`` gives ``records`` ``[B, 3N, F]``. With
``conditioning: tokens`` each view is encoded separately (``[B, *observation_shape]``).
"""

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

    Options left out are derived from the grid and the model width (see :func:`grid_defaults`): a 128x128
    image gives 8x8 tokens below ``d_model`` 256 and 16x16 from 256 on; a small grid keeps at least 4x4
    tokens where it has that many cells (an 8x8 board gives 16 tokens, never one).

    ``fine_channels`` > 0 adds a second stem at full resolution (stride 1, that many channels) whose own
    patchify convolution covers each token's whole ``s`` x ``s`` cell and is added to the first stem's: the
    tokens then see every cell exactly, at little cost, where the strided stem blurs single-cell offsets.
    """

    def __init__(self, observation_shape: tuple[int, ...], d_model: int, patch_size: int | None = None,
                 stem_channels: int | None = None, stem_stride: int | None = None, fine_channels: int = 0) -> None:
        super().__init__()
        if len(observation_shape) != 3 or min(observation_shape) < 1:
            raise DomainError(f"the 'grid' observation encoder got observation shape {tuple(observation_shape)}; "
                              "expected [channels, height, width]; hint: use the 'records' encoder for [N, F] "
                              "observations, or register a custom encoder")
        auto = grid_defaults(tuple(observation_shape), d_model)
        patch_size = auto["patch_size"] if patch_size is None else patch_size
        stem_channels = auto["stem_channels"] if stem_channels is None else stem_channels
        stem_stride = auto["stem_stride"] if stem_stride is None else stem_stride
        if patch_size < 1 or stem_stride < 1 or stem_channels < 1 or fine_channels < 0:
            raise DomainError(f"grid encoder options patch_size={patch_size}, stem_stride={stem_stride}, "
                              f"stem_channels={stem_channels}, fine_channels={fine_channels}; expected positive "
                              "integers (fine_channels: 0 for none)")
        self.observation_shape = tuple(observation_shape)
        channels, height, width = observation_shape
        self.patch_size = patch_size
        self.stem = nn.Sequential(
            nn.Conv2d(channels, stem_channels, 3, stride=stem_stride, padding=1), nn.GELU(),
            nn.Conv2d(stem_channels, stem_channels, 3, padding=1), nn.GELU())
        self.stem_hw = (math.ceil(height / stem_stride), math.ceil(width / stem_stride))
        self.grid_hw = (math.ceil(self.stem_hw[0] / patch_size), math.ceil(self.stem_hw[1] / patch_size))
        self.patchify = nn.Conv2d(stem_channels, d_model, patch_size, stride=patch_size)
        self.cell = stem_stride * patch_size  # cells per token side
        self.fine = nn.Sequential(
            nn.Conv2d(channels, fine_channels, 3, padding=1), nn.GELU(),
            nn.Conv2d(fine_channels, fine_channels, 3, padding=1), nn.GELU()) if fine_channels else None
        self.fine_patchify = nn.Conv2d(fine_channels, d_model, self.cell, stride=self.cell) if fine_channels else None
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
        if self.fine is not None and self.fine_patchify is not None:
            f = self.fine(x)  # [B, f, H, W]
            f = F.pad(f, (0, self.grid_hw[1] * self.cell - f.shape[3], 0, self.grid_hw[0] * self.cell - f.shape[2]))
            h = h + self.fine_patchify(f)  # [B, d, Hp, Wp]
        h = h.permute(0, 2, 3, 1) + self.row + self.col  # [B, Hp, Wp, d]
        out: torch.Tensor = self.norm(h.flatten(1, 2))  # [B, T, d]
        return out


MIN_GRID_SIDE = 4  # tokens per side the grid encoder keeps when the observation has that many cells


def grid_defaults(observation_shape: tuple[int, ...], d_model: int) -> dict[str, int]:
    """The grid encoder's options when none are given: stride 2 for grids of 32 cells a side or more (else 1),
    ``max(8, d_model // 8)`` stem channels, and patches of 8 (4 from d_model 256 on) shrunk until there are at
    least ``MIN_GRID_SIDE`` tokens a side (or one cell per token)."""
    _, height, width = observation_shape
    stride = 2 if min(height, width) >= 32 else 1
    patch = 8 if d_model < 256 else 4
    side = math.ceil(min(height, width) / stride)
    while patch > 1 and math.ceil(side / patch) < MIN_GRID_SIDE:
        patch //= 2
    return {"patch_size": patch, "stem_channels": max(8, d_model // 8), "stem_stride": stride}


def grid_encoder(observation_shape: tuple[int, ...], d_model: int, **options: Any) -> GridEncoder:
    """Factory of the "grid" encoder; options: ``patch_size``, ``stem_channels``, ``stem_stride``,
    ``fine_channels`` (each optional)."""
    allowed = {"patch_size", "stem_channels", "stem_stride", "fine_channels"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DomainError(f"unknown 'grid' encoder option(s) {unknown}; expected some of {sorted(allowed)}")
    return GridEncoder(tuple(observation_shape), d_model, **options)


class RecordsEncoder(nn.Module):
    """Observations ``[B, N, F]`` (N records of F numbers) -> one token per record ``[B, N, d_model]``.

    Each record is embedded by an MLP over its F values (``scale`` divides them first: small integers
    such as list elements stay in a range the MLP handles well) plus a learned position embedding
    (``positional: false`` for sets, where the order means nothing).
    """

    def __init__(self, observation_shape: tuple[int, ...], d_model: int, scale: float = 1.0,
                 positional: bool = True, hidden: int | None = None) -> None:
        super().__init__()
        if len(observation_shape) != 2 or min(observation_shape) < 1:
            raise DomainError(f"the 'records' observation encoder got observation shape {tuple(observation_shape)}; "
                              "expected [records, fields]; hint: use the 'grid' encoder for [C, H, W] observations")
        if scale <= 0:
            raise DomainError(f"records encoder option scale={scale}; expected a positive number")
        self.observation_shape = tuple(observation_shape)
        n, f = observation_shape
        self.scale = float(scale)
        width = hidden or 2 * d_model
        self.embed = nn.Sequential(nn.Linear(f, width), nn.GELU(), nn.Linear(width, d_model))
        self.pos = nn.Parameter(torch.randn(n, d_model) * 0.02) if positional else None
        self.norm = nn.LayerNorm(d_model)

    @property
    def n_tokens(self) -> int:
        """Number of tokens produced per observation (one per record)."""
        return self.observation_shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.observation_shape:
            raise DomainError(f"records encoder built for observations {self.observation_shape} got a batch of "
                              f"shape {tuple(x.shape)}; expected [B, {', '.join(map(str, self.observation_shape))}]")
        h = self.embed(x / self.scale)  # [B, N, d]
        if self.pos is not None:
            h = h + self.pos
        out: torch.Tensor = self.norm(h)
        return out


def records_encoder(observation_shape: tuple[int, ...], d_model: int, **options: Any) -> RecordsEncoder:
    """Factory of the "records" encoder; options: ``scale``, ``positional``, ``hidden``."""
    allowed = {"scale", "positional", "hidden"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DomainError(f"unknown 'records' encoder option(s) {unknown}; expected some of {sorted(allowed)}")
    return RecordsEncoder(tuple(observation_shape), d_model, **options)


@hookimpl
def treediff_register_observation_encoders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the engine's built-in encoders."""
    register("grid", grid_encoder)
    register("records", records_encoder)
