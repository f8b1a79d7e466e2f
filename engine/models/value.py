"""The value network: (target, current observation, current program) -> remaining edit-path length."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from treediff.engine.models.backbone import ContextEncoder
from treediff.engine.models.batch import EditBatch
from treediff.engine.models.config import ModelConfig
from treediff.engine.models.denoiser import condition_views
from treediff.engine.models.layers import init_weights
from treediff.engine.trees.tokens import Vocab


class ValueNet(nn.Module):
    """Regresses how many edits remain from the current program to the target.

    Same context encoder design as the denoiser (its own weights); the context tokens are mean-pooled
    over real tokens and an MLP predicts ``z = log(1 + length)``. Training minimises the smooth-L1 loss
    between ``z`` and ``log(1 + path_length)``: the log scale keeps fresh random programs (long paths)
    from dominating, while the error near the goal (short paths, where ranking matters most) stays sharp.
    """

    def __init__(self, cfg: ModelConfig, vocab: Vocab, observation_shape: Sequence[int],
                 encoder_factory: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.context = ContextEncoder(cfg, vocab.size, observation_shape, encoder_factory, n_views=3)
        self.head = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 1))
        self.head.apply(init_weights)

    def predict_log(self, target: torch.Tensor, current: torch.Tensor, program: torch.Tensor) -> torch.Tensor:
        """``z = log(1 + predicted length)`` ``[B]`` float32 for observations ``[B, *S]`` and ``program [B, L]``."""
        memory, mask = self.context(condition_views(target, current), program)  # [B, T+L, d], [B, T+L]
        weights = mask.to(memory.dtype)[..., None]  # [B, T+L, 1]
        pooled = (memory * weights).sum(1) / weights.sum(1)  # [B, d]
        z: torch.Tensor = self.head(pooled).squeeze(-1).float()  # [B]
        return z

    def forward(self, batch: EditBatch) -> torch.Tensor:
        """Predicted remaining path length ``[B]`` (non-negative, float32)."""
        return torch.expm1(self.predict_log(batch.target, batch.current, batch.program)).clamp_min(0.0)

    def loss(self, batch: EditBatch) -> dict[str, torch.Tensor]:
        """Smooth-L1 on the log scale, plus the mean absolute error in path-length units (``mae``)."""
        z = self.predict_log(batch.target, batch.current, batch.program)  # [B]
        loss = F.smooth_l1_loss(z, torch.log1p(batch.path_length.float()))
        with torch.no_grad():
            mae = (torch.expm1(z).clamp_min(0.0) - batch.path_length).abs().mean()
        return {"loss": loss, "value": loss.detach(), "mae": mae}
