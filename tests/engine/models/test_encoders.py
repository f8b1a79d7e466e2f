"""Tests for treediff.engine.models.encoders: the "grid" encoder's shapes, padding, registration and errors."""

from __future__ import annotations

import pytest
import torch

from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import DomainError
from treediff.engine.models.encoders import GridEncoder, grid_encoder


@pytest.mark.parametrize(("shape", "options", "tokens"), [
    ((1, 8, 8), {"patch_size": 2, "stem_stride": 1}, 16),
    ((3, 128, 128), {"patch_size": 4, "stem_stride": 2}, 256),
    ((2, 7, 9), {"patch_size": 2, "stem_stride": 2}, 6),  # 4x5 after the stem, padded to 2x3 patches
    ((1, 4, 4), {"patch_size": 8, "stem_stride": 1}, 1),
])
def test_grid_encoder_shapes(shape: tuple[int, ...], options: dict[str, int], tokens: int) -> None:
    enc = grid_encoder(shape, 32, stem_channels=4, **options)
    assert isinstance(enc, GridEncoder) and enc.n_tokens == tokens
    out = enc(torch.rand(3, *shape))
    assert out.shape == (3, tokens, 32)
    assert torch.isfinite(out).all()


def test_grid_encoder_is_spatial() -> None:
    enc = grid_encoder((1, 8, 8), 16, patch_size=2, stem_stride=1, stem_channels=4)
    x = torch.zeros(1, 1, 8, 8)
    y = x.clone()
    y[0, 0, 0, 0] = 1.0  # change one cell: only tokens near it may move
    diff = (enc(x) - enc(y)).abs().sum(-1)[0]  # [T]
    assert diff[0] > 0 and diff[-1] == 0


def test_registered_as_builtin() -> None:
    registry = load_registry(entry_points=[])
    assert registry.encoder("grid") is grid_encoder
    assert any(p.name == "treediff-engine" and "grid" in p.encoders for p in registry.plugins)


def test_errors_name_the_problem() -> None:
    with pytest.raises(DomainError, match=r"\[channels, height, width\]"):
        grid_encoder((64,), 16)
    with pytest.raises(DomainError, match="unknown 'grid' encoder option"):
        grid_encoder((1, 8, 8), 16, patch=3)
    enc = grid_encoder((1, 8, 8), 16, patch_size=2)
    with pytest.raises(DomainError, match="got a batch of shape"):
        enc(torch.rand(2, 1, 9, 8))
