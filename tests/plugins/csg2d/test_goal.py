"""The CSG2D goal check and distance: binarized foreground IoU."""

from __future__ import annotations

import torch

from treediff.plugins.csg2d.goal import distance, goal, iou


def _square(top: int, left: int, size: int = 40) -> torch.Tensor:
    image = torch.zeros(1, 128, 128)
    image[0, top:top + size, left:left + size] = 1.0
    return image


def test_identical_images_match_and_inverted_do_not() -> None:
    target = _square(10, 10)
    observations = torch.stack([target, 1.0 - target, target * 0.8])
    assert goal(observations, target).tolist() == [True, False, True]
    assert torch.allclose(distance(observations, target), torch.tensor([0.0, 1.0, 0.0]))


def test_two_empty_images_match_and_empty_against_shape_does_not() -> None:
    empty = torch.zeros(1, 128, 128)
    assert goal(empty[None], empty).tolist() == [True]
    assert distance(empty[None], empty).tolist() == [0.0]
    assert goal(empty[None], _square(0, 0)).tolist() == [False]
    assert goal(_square(0, 0)[None], empty).tolist() == [False]


def test_threshold_is_iou_098_on_binarized_pixels() -> None:
    target = _square(20, 20, size=50)  # 2500 px
    shifted = _square(20, 21, size=50)  # overlap 2450, union 2550 -> IoU 0.9608
    grown = target.clone()
    grown[0, 70, 20:45] = 1.0  # 25 more px -> IoU 2500 / 2525 = 0.990
    observations = torch.stack([shifted, grown])
    assert torch.allclose(iou(observations, target), torch.tensor([2450 / 2550, 2500 / 2525]))
    assert goal(observations, target).tolist() == [False, True]
    half = target * 0.5  # exactly 0.5 is not foreground
    assert goal(half[None], target).tolist() == [False]
    assert goal((target * 0.51)[None], target).tolist() == [True]


def test_batched_targets_and_shapes() -> None:
    targets = torch.stack([_square(0, 0), _square(50, 50)])
    assert goal(targets, targets).tolist() == [True, True]
    assert distance(targets.flip(0), targets).tolist() == [1.0, 1.0]
    assert goal(targets, targets[0]).dtype == torch.bool
