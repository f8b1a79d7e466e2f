"""The CSG2D goal check and distance: foreground IoU of binarized coverage images."""

from __future__ import annotations

import torch

THRESHOLD = 0.5  # a pixel is foreground when its coverage is > 0.5
GOAL_IOU = 0.98


def foreground(images: torch.Tensor) -> torch.Tensor:
    """Binarize coverage images: bool, True where the value is > 0.5 (a pixel centred on an edge is not)."""
    return images > THRESHOLD


def iou(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Foreground IoU of each observation [B, *S] against ``target`` [*S] (or [B, *S]) -> float [B].

    Computed on binarized images; two empty foregrounds count as identical (IoU 1).
    """
    target = target.to(observations.device)
    if target.dim() == observations.dim() - 1:
        target = target.unsqueeze(0)
    ours, theirs = foreground(observations), foreground(target)
    dims = tuple(range(1, observations.dim()))
    inter = (ours & theirs).sum(dims).to(torch.float32)
    union = (ours | theirs).sum(dims).to(torch.float32)
    return torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(union))


def goal(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Which observations solve the target: binarized foreground IoU >= 0.98 -> bool [B].

    An inverted image is not a match (its foreground is the target's background).
    """
    return iou(observations, target) >= GOAL_IOU


def distance(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - binarized foreground IoU -> float [B] in [0, 1]; 0 is a perfect match, goal iff <= 0.02."""
    return 1.0 - iou(observations, target)
