"""The TinySVG goal check and distance: per-pixel RMSE between RGB renderings, solved at RMSE <= 0.0166."""

from __future__ import annotations

import torch

from treediff.engine.errors import InputError

THRESHOLD = 0.0166  # RMSE over all channels and pixels of [0, 1] values (DESIGN: TinySVG goal check)


def rmse(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Root-mean-square difference of each observation [B, 3, H, W] from ``target`` [3, H, W]: float [B].

    The target may also carry a leading batch axis of 1. Shapes must otherwise match exactly.
    """
    if target.dim() == observations.dim():
        target = target.squeeze(0) if target.shape[0] == 1 else target
    if tuple(observations.shape[1:]) != tuple(target.shape):
        raise InputError(f"TinySVG observations of shape {tuple(observations.shape)} cannot be compared with a "
                         f"target of shape {tuple(target.shape)}; expected [B, 3, 128, 128] and [3, 128, 128]")
    diff = observations.float() - target.to(observations.device, torch.float32)[None]
    return diff.square().flatten(1).mean(dim=1).sqrt()


def goal(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Which observations [B, 3, H, W] reproduce ``target`` [3, H, W]: bool [B], RMSE <= :data:`THRESHOLD`."""
    return rmse(observations, target) <= THRESHOLD
