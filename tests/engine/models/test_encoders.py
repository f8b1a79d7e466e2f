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


@pytest.mark.parametrize(("shape", "options"), [((3, 128, 128), {"patch_size": 8, "stem_stride": 2}),
                                                ((2, 7, 9), {"patch_size": 2, "stem_stride": 2})])
def test_fine_stem_keeps_the_token_grid_and_reads_single_cells(shape: tuple[int, ...],
                                                               options: dict[str, int]) -> None:
    coarse = grid_encoder(shape, 32, stem_channels=4, **options)
    fine = grid_encoder(shape, 32, stem_channels=4, fine_channels=3, **options)
    assert fine.n_tokens == coarse.n_tokens and fine.cell == options["patch_size"] * options["stem_stride"]
    assert fine.fine_patchify is not None and fine.fine_patchify.kernel_size == (fine.cell, fine.cell)
    x = torch.rand(2, *shape)
    assert fine(x).shape == coarse(x).shape
    fine.load_state_dict(coarse.state_dict(), strict=False)
    torch.nn.init.zeros_(fine.fine_patchify.weight)
    torch.nn.init.zeros_(fine.fine_patchify.bias)
    assert torch.allclose(fine(x), coarse(x), atol=1e-6)  # a silent fine stem adds nothing
    torch.nn.init.normal_(fine.fine_patchify.weight)
    assert not torch.allclose(fine(x), coarse(x), atol=1e-4)  # a live one does


def test_registered_as_builtin() -> None:
    registry = load_registry(entry_points=[])
    assert registry.encoder("grid") is grid_encoder
    assert any(p.name == "treediff-engine" and "grid" in p.encoders for p in registry.plugins)


def test_errors_name_the_problem() -> None:
    with pytest.raises(DomainError, match=r"\[channels, height, width\]"):
        grid_encoder((64,), 16)
    with pytest.raises(DomainError, match="unknown 'grid' encoder option"):
        grid_encoder((1, 8, 8), 16, patch=3)
    with pytest.raises(DomainError, match="fine_channels=-1"):
        grid_encoder((1, 8, 8), 16, fine_channels=-1)
    enc = grid_encoder((1, 8, 8), 16, patch_size=2)
    with pytest.raises(DomainError, match="got a batch of shape"):
        enc(torch.rand(2, 1, 9, 8))
