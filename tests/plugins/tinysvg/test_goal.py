"""The TinySVG goal check (RMSE <= 0.0166) and its RMSE distance."""

from __future__ import annotations

import pytest
import torch

from treediff.engine.errors import InputError
from treediff.plugins.tinysvg.goal import THRESHOLD, goal, rmse


def _images(batch: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(batch, 3, 128, 128, generator=gen)


def test_identity_is_solved_with_zero_distance() -> None:
    images = _images()
    for i in range(3):
        assert rmse(images, images[i])[i] == 0.0
        assert goal(images, images[i]).tolist() == [j == i for j in range(3)]


def test_threshold_on_uniform_offsets() -> None:
    target = torch.full((3, 128, 128), 0.5)
    candidates = torch.stack([target + d for d in (0.0, 0.0165, 0.0167, -0.0165, 0.5)])
    assert torch.allclose(rmse(candidates, target), torch.tensor([0.0, 0.0165, 0.0167, 0.0165, 0.5]), atol=1e-6)
    assert goal(candidates, target).tolist() == [True, True, False, True, False]
    assert THRESHOLD == 0.0166


def test_rmse_is_symmetric_and_counts_every_channel() -> None:
    a, b = _images(2)
    assert torch.allclose(rmse(a[None], b), rmse(b[None], a))
    one_channel = torch.ones(3, 128, 128)
    one_channel[0] = 0.0  # a third of the values differ by 1
    assert torch.allclose(rmse(one_channel[None], torch.ones(3, 128, 128)), torch.tensor([(1 / 3) ** 0.5]))


def test_a_few_wrong_pixels_still_solve_but_a_small_shape_does_not() -> None:
    target = torch.ones(3, 128, 128)
    speck = target.clone()
    speck[:, 10:12, 10:12] = 0.0  # 4 pixels fully wrong: rmse = sqrt(4 / 16384) = 0.0156
    shape = target.clone()
    shape[:, 10:13, 10:13] = 0.0  # 9 pixels: 0.0234
    assert goal(torch.stack([speck, shape]), target).tolist() == [True, False]


def test_batched_target_and_mismatched_shapes() -> None:
    images = _images(2)
    assert torch.equal(rmse(images, images[:1]), rmse(images, images[0]))
    with pytest.raises(InputError, match="expected"):
        rmse(images, torch.ones(1, 64, 64))
