"""The denoiser: (target, current observation, current program) -> an edit (node pointer + replacement)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from treediff.engine.models.backbone import ContextEncoder, DecoderCache, TokenDecoder
from treediff.engine.models.batch import EditBatch
from treediff.engine.models.config import ModelConfig
from treediff.engine.models.layers import init_weights
from treediff.engine.trees.tokens import PAD, Vocab


def production_table(vocab: Vocab) -> torch.Tensor:
    """``[V]`` bool: which token ids are production tokens (the only places an edit may point to)."""
    table = torch.zeros(vocab.size, dtype=torch.bool)
    table[vocab.prod_offset:vocab.value_offset] = True
    return table


def condition_views(target: torch.Tensor, current: torch.Tensor) -> list[torch.Tensor]:
    """The three observation views the denoiser and value net read: target, current, target - current."""
    return [target, current, target - current]


@dataclass
class DenoiserContext:
    """What one forward of the context encoder yields for ``B`` (target, current, program) triples."""

    memory: torch.Tensor  # [B, T+L, d] context tokens
    memory_mask: torch.Tensor  # [B, T+L] True = real token
    program_hidden: torch.Tensor  # [B, L, d] hidden state of each program token
    position_logits: torch.Tensor  # [B, L] float32, -inf at non-production positions


class Denoiser(nn.Module):
    """Edit proposal network.

    The target, the current program's observation and their difference are encoded into spatial
    tokens; bidirectional blocks run over ``[observation tokens; program tokens]``. A pointer head
    scores every program token position (masked to production tokens: PAD and value tokens can never
    be chosen). The replacement subtree is decoded by a causal decoder that cross-attends to the whole
    context and is conditioned on the hidden state of the chosen node.
    """

    is_production: torch.Tensor  # [V] bool buffer

    def __init__(self, cfg: ModelConfig, vocab: Vocab, observation_shape: Sequence[int],
                 encoder_factory: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab.size
        self.context = ContextEncoder(cfg, vocab.size, observation_shape, encoder_factory, n_views=3)
        self.pointer = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 1))
        self.decoder = TokenDecoder(cfg, vocab.size, cfg.max_edit_tokens, conditioned=True)
        self.register_buffer("is_production", production_table(vocab), persistent=False)
        self.pointer.apply(init_weights)
        self.decoder.apply(init_weights)

    def encode(self, target: torch.Tensor, current: torch.Tensor, program: torch.Tensor) -> DenoiserContext:
        """Run the context encoder and the pointer head: ``target/current [B, *S]``, ``program [B, L]``."""
        memory, mask = self.context(condition_views(target, current), program)  # [B, T+L, d], [B, T+L]
        hidden = memory[:, memory.shape[1] - program.shape[1]:]  # [B, L, d]
        logits = self.pointer(hidden).squeeze(-1).float()  # [B, L]
        allowed = self.is_production[program]  # [B, L]
        logits = logits.masked_fill(~allowed, float("-inf"))  # [B, L]
        return DenoiserContext(memory, mask, hidden, logits)

    def forward(self, batch: EditBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced: returns position logits ``[B, L]`` and replacement token logits ``[B, R-1, V]``."""
        ctx = self.encode(batch.target, batch.current, batch.program)
        rows = torch.arange(batch.program.shape[0], device=batch.program.device)  # [B]
        anchor = ctx.program_hidden[rows, batch.edit_position]  # [B, d]
        token_logits = self.decoder(batch.replacement[:, :-1], ctx.memory, ctx.memory_mask, anchor)  # [B, R-1, V]
        return ctx.position_logits, token_logits

    def loss(self, batch: EditBatch) -> dict[str, torch.Tensor]:
        """Pointer loss (mean over edits) + token cross-entropy (mean over replacement tokens).

        With ``batch.position_mask`` the pointer maximises the total probability of every position whose
        edit may come first (marginal likelihood: several edits are equally right), else the cross-entropy
        of ``edit_position``. Rows with ``path_length == 0`` (goal examples, for the value network) are left
        out. Also returns detached accuracies: ``position_acc`` (argmax is a right position), ``token_acc``
        (teacher-forced argmax) and ``edit_acc`` (the labelled position and every replacement token right).
        """
        pos_logits, tok_logits = self(batch)  # [B, L], [B, R-1, V]
        active = batch.path_length > 0  # [B]
        rows = torch.arange(len(batch), device=pos_logits.device)  # [B]
        mask = batch.position_mask
        right = mask.clone() if mask is not None else torch.zeros_like(batch.program, dtype=torch.bool)  # [B, L]
        right[rows, batch.edit_position] = True  # [B, L] the labelled position is right (keeps goal rows finite)
        total = torch.logsumexp(pos_logits, -1)  # [B]
        good = torch.logsumexp(pos_logits.masked_fill(~right, float("-inf")), -1)  # [B]
        n_active = active.sum().clamp_min(1)
        position = ((total - good) * active).sum() / n_active
        targets = batch.replacement[:, 1:].masked_fill(~active[:, None], PAD)  # [B, R-1]
        if bool((targets != PAD).any()):
            tokens = F.cross_entropy(tok_logits.reshape(-1, tok_logits.shape[-1]), targets.reshape(-1),
                                     ignore_index=PAD)
        else:
            tokens = tok_logits.sum() * 0.0
        with torch.no_grad():
            pos_ok = right[rows, pos_logits.argmax(-1)] & active  # [B]
            label_ok = pos_logits.argmax(-1) == batch.edit_position  # [B]
            real = targets != PAD  # [B, R-1]
            tok_ok = (tok_logits.argmax(-1) == targets) | ~real  # [B, R-1]
            stats = {"position_acc": pos_ok.float().sum() / n_active,
                     "token_acc": (tok_ok & real).sum() / real.sum().clamp_min(1),
                     "edit_acc": (label_ok & tok_ok.all(-1) & active).float().sum() / n_active}
        return {"loss": position + tokens, "position": position, "tokens": tokens, **stats}

    def start_decoding(self, ctx: DenoiserContext, positions: torch.Tensor) -> DecoderCache:
        """Prefill the replacement decoder for ``positions [B, g]`` (g edits per program, rows grouped).

        Decoding rows are ordered program-major: row ``i*g + j`` is edit ``j`` of program ``i``.
        """
        b, g = positions.shape
        rows = torch.arange(b, device=positions.device)[:, None].expand(b, g)  # [B, g]
        anchor = ctx.program_hidden[rows, positions].reshape(b * g, -1)  # [B*g, d]
        return self.decoder.prefill(ctx.memory, ctx.memory_mask, anchor)

    def decode_step(self, cache: DecoderCache, tokens: torch.Tensor) -> torch.Tensor:
        """Feed the previous replacement token ``[N]`` (BOS first); next-token logits ``[N, V]`` float32."""
        return self.decoder.step(tokens, cache)
