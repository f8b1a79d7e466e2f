"""The shared backbone: observation views + program tokens -> context tokens, and the token decoder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from treediff.engine.errors import InputError
from treediff.engine.models.config import ModelConfig
from treediff.engine.models.layers import Block, KVCache, init_weights
from treediff.engine.trees.tokens import PAD


class ContextEncoder(nn.Module):
    """Encodes ``n_views`` observations and (optionally) program tokens into one context sequence.

    Observation views ``[B, *S]`` (e.g. target, current, target - current) are encoded by the
    registered observation encoder into ``T`` spatial tokens (see ``ModelConfig.conditioning``), the
    program ``[B, L]`` is embedded with learned positions, and ``n_layers`` bidirectional blocks run
    over ``[observation tokens; program tokens]``. PAD program tokens are masked out as keys.
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, observation_shape: Sequence[int],
                 encoder_factory: Callable[..., nn.Module], n_views: int, with_program: bool = True) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.n_views = n_views
        self.observation_shape = tuple(observation_shape)
        if cfg.conditioning == "channels":
            shape = (n_views * self.observation_shape[0], *self.observation_shape[1:]) if n_views > 1 \
                else self.observation_shape
            self.role = None
        else:
            shape = self.observation_shape
            self.role = nn.Parameter(torch.zeros(n_views, 1, d))
        self.observation_encoder = encoder_factory(shape, d, **cfg.encoder_options)
        self.obs_type = nn.Parameter(torch.zeros(1, 1, d))  # marks observation tokens apart from program tokens
        self.tok_emb = nn.Embedding(vocab_size, d) if with_program else None
        self.pos_emb = nn.Embedding(cfg.max_program_tokens, d) if with_program else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.blocks.apply(init_weights)  # the observation encoder keeps its own initialisation
        for emb in (self.tok_emb, self.pos_emb):
            if emb is not None:
                init_weights(emb)

    def encode_views(self, views: Sequence[torch.Tensor]) -> torch.Tensor:
        """Observation views, each ``[B, *S]`` -> observation tokens ``[B, T, d]`` (``[B, n*T, d]`` for "tokens")."""
        if len(views) != self.n_views:
            raise InputError(f"context encoder expects {self.n_views} observation views; got {len(views)}")
        if self.role is None:
            out: torch.Tensor = self.observation_encoder(torch.cat(list(views), dim=1))  # [B, T, d]
            return out
        toks = [self.observation_encoder(v) + self.role[i] for i, v in enumerate(views)]  # n x [B, T, d]
        return torch.cat(toks, dim=1)  # [B, n*T, d]

    def forward(self, views: Sequence[torch.Tensor],
                program: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns context tokens ``[B, T+L, d]`` and their key mask ``[B, T+L]`` (True = real token)."""
        obs = self.encode_views(views) + self.obs_type  # [B, T, d]
        b, t, _ = obs.shape
        obs_mask = torch.ones(b, t, dtype=torch.bool, device=obs.device)  # [B, T]
        if program is None or self.tok_emb is None or self.pos_emb is None:
            x, mask = obs, obs_mask
        else:
            length = program.shape[1]
            if length > self.cfg.max_program_tokens:
                raise InputError(f"a program of {length} tokens is longer than the model's max_program_tokens="
                                 f"{self.cfg.max_program_tokens}; hint: train with a larger max_program_tokens")
            pos = torch.arange(length, device=program.device)  # [L]
            prog = self.tok_emb(program) + self.pos_emb(pos)  # [B, L, d]
            x = torch.cat([obs, prog.to(obs.dtype)], dim=1)  # [B, T+L, d]
            mask = torch.cat([obs_mask, program != PAD], dim=1)  # [B, T+L]
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, key_mask=mask)  # [B, T+L, d]
        return self.ln_f(x), mask


@dataclass
class DecoderCache:
    """Incremental-decoding state of a :class:`TokenDecoder` for ``N = B * group`` sequences."""

    memory_kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, keys/values [B, H, S, hd]
    memory_mask: torch.Tensor  # [B, S]
    cond: torch.Tensor | None  # [N, d] conditioning added to every input token
    layers: list[KVCache] = field(default_factory=list)
    position: int = 0


class TokenDecoder(nn.Module):
    """Causal transformer over token ids with cross-attention to a context; tied output embedding.

    An optional conditioning vector per sequence (e.g. the hidden state of the node being replaced) is
    projected and added to every input embedding.
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, max_len: int, conditioned: bool) -> None:
        super().__init__()
        d = cfg.d_model
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d)
        self.pos_emb = nn.Embedding(max_len, d)
        self.cond_proj = nn.Linear(d, d) if conditioned else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.mlp_ratio, cfg.dropout, cross=True)
                                    for _ in range(cfg.n_decoder_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(init_weights)

    def _embed(self, tokens: torch.Tensor, start: int, cond: torch.Tensor | None) -> torch.Tensor:
        t = tokens.shape[1]
        if start + t > self.max_len:
            raise InputError(f"decoder input reaches position {start + t}; the model decodes at most "
                             f"{self.max_len} positions")
        pos = torch.arange(start, start + t, device=tokens.device)  # [T]
        x = self.tok_emb(tokens) + self.pos_emb(pos)  # [N, T, d]
        if cond is not None and self.cond_proj is not None:
            x = x + self.cond_proj(cond)[:, None, :]  # [N, T, d]
        out: torch.Tensor = self.drop(x)
        return out

    def _blocks(self) -> list[Block]:
        return [b for b in self.blocks if isinstance(b, Block)]

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits: ``tokens [N, T]``, ``memory [B, S, d]`` (N = B*g) -> ``[N, T, V]`` float32."""
        x = self._embed(tokens, 0, cond)  # [N, T, d]
        for block in self._blocks():
            x = block(x, causal=True, memory_kv=block.memory_kv(memory), memory_mask=memory_mask)  # [N, T, d]
        logits: torch.Tensor = self.head(self.ln_f(x)).float()  # [N, T, V]
        return logits

    def prefill(self, memory: torch.Tensor, memory_mask: torch.Tensor, cond: torch.Tensor | None = None,
                max_len: int | None = None) -> DecoderCache:
        """Project the memory's keys/values once per layer and allocate the self-attention caches."""
        kvs = [block.memory_kv(memory) for block in self._blocks()]  # per layer [B, H, S, hd] x 2
        n = len(self.blocks)
        return DecoderCache(kvs, memory_mask, cond, [KVCache(max_len or self.max_len) for _ in range(n)])

    def step(self, tokens: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """Feed the next token ``[N]`` of every sequence; returns next-token logits ``[N, V]`` float32."""
        x = self._embed(tokens[:, None], cache.position, cache.cond)  # [N, 1, d]
        for block, layer_cache, kv in zip(self._blocks(), cache.layers, cache.memory_kv):
            x = block(x, causal=True, cache=layer_cache, memory_kv=kv, memory_mask=cache.memory_mask)  # [N, 1, d]
        cache.position += 1
        logits: torch.Tensor = self.head(self.ln_f(x))[:, 0].float()  # [N, V]
        return logits


def count_parameters(module: nn.Module) -> int:
    """Number of distinct trainable parameters (tied weights counted once)."""
    seen: dict[int, Any] = {}
    for p in module.parameters():
        if p.requires_grad:
            seen[id(p)] = p
    return sum(p.numel() for p in seen.values())
