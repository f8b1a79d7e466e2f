"""The autoregressive baseline (CSGNet-style): target observation -> whole program tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from treediff.engine.models.backbone import ContextEncoder, DecoderCache, TokenDecoder
from treediff.engine.models.batch import EditBatch
from treediff.engine.models.config import ModelConfig
from treediff.engine.trees.tokens import BOS, EOS, PAD, Vocab


def program_sequence(program: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` PAD-padded program ids -> ``[B, L+2]``: BOS + ids + EOS, PAD-padded."""
    b = program.shape[0]
    lengths = (program != PAD).sum(1)  # [B]
    seq = torch.cat([torch.full((b, 1), BOS, dtype=program.dtype, device=program.device), program,
                     torch.full((b, 1), PAD, dtype=program.dtype, device=program.device)], dim=1)  # [B, L+2]
    rows = torch.arange(b, device=program.device)
    seq[rows, lengths + 1] = EOS
    return seq


class ARModel(nn.Module):
    """Generates a whole program from the target only, with the same backbone pieces as the denoiser.

    The target is encoded into spatial tokens, ``n_layers`` blocks run over them, and a causal decoder
    cross-attending to them emits BOS ... EOS. Trained teacher-forced on ``batch.program`` (the program
    whose execution is ``batch.target``); ``batch.current``, ``edit_position`` and ``replacement`` are
    ignored.
    """

    def __init__(self, cfg: ModelConfig, vocab: Vocab, observation_shape: Sequence[int],
                 encoder_factory: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab.size
        self.context = ContextEncoder(cfg, vocab.size, observation_shape, encoder_factory, n_views=1,
                                      with_program=False)
        self.decoder = TokenDecoder(cfg, vocab.size, cfg.max_program_tokens + 1, conditioned=False)

    def encode(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target ``[B, *S]`` -> context tokens ``[B, T, d]`` and mask ``[B, T]``."""
        return self.context([target])  # type: ignore[no-any-return]

    def forward(self, batch: EditBatch) -> torch.Tensor:
        """Teacher-forced next-token logits ``[B, L+1, V]`` for BOS + program (predicting program + EOS)."""
        seq = program_sequence(batch.program)  # [B, L+2]
        memory, mask = self.encode(batch.target)  # [B, T, d], [B, T]
        logits: torch.Tensor = self.decoder(seq[:, :-1], memory, mask)  # [B, L+1, V]
        return logits

    def loss(self, batch: EditBatch) -> dict[str, torch.Tensor]:
        """Token cross-entropy (mean over program tokens + EOS), token and whole-program accuracy."""
        logits = self(batch)  # [B, L+1, V]
        targets = program_sequence(batch.program)[:, 1:]  # [B, L+1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)
        with torch.no_grad():
            real = targets != PAD
            ok = (logits.argmax(-1) == targets) | ~real
            stats = {"token_acc": (ok & real).sum() / real.sum().clamp_min(1),
                     "program_acc": ok.all(-1).float().mean()}
        return {"loss": loss, "tokens": loss.detach(), **stats}

    def start_decoding(self, target: torch.Tensor) -> DecoderCache:
        """Prefill for targets ``[B, *S]``; then decode ``N = B * g`` rows, row ``i*g + j`` reading target ``i``."""
        memory, mask = self.encode(target)  # [B, T, d], [B, T]
        return self.decoder.prefill(memory, mask, None)

    def decode_step(self, cache: DecoderCache, tokens: torch.Tensor) -> torch.Tensor:
        """Feed the previous token ``[N]`` (BOS first); next-token logits ``[N, V]`` float32."""
        return self.decoder.step(tokens, cache)
