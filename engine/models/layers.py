"""Transformer building blocks: self/cross attention with a KV cache, MLP and the pre-norm block."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class KVCache:
    """Keys and values of one self-attention layer for incremental decoding.

    Buffers ``[N, H, max_len, head_dim]`` are allocated on the first write (in the dtype of the keys, so
    they follow autocast); ``length`` is how many positions are filled.
    """

    max_len: int
    k: torch.Tensor | None = None
    v: torch.Tensor | None = None
    length: int = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v`` ``[N, H, T, hd]`` after the filled positions; return all keys/values so far."""
        if self.k is None or self.v is None:
            n, h, _, hd = k.shape
            self.k = k.new_empty(n, h, self.max_len, hd)
            self.v = v.new_empty(n, h, self.max_len, hd)
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise IndexError(f"KV cache holds {self.max_len} positions; cannot write up to {end}")
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]  # [N, H, end, hd] each


class SelfAttention(nn.Module):
    """Multi-head self-attention (bidirectional with a key mask, or causal, optionally cached)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None, causal: bool = False,
                cache: KVCache | None = None) -> torch.Tensor:
        """``x [N, T, d]``; ``key_mask [N, S]`` True for keys that take part; returns ``[N, T, d]``."""
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # [N, T, d] each
        q, k, v = (z.view(n, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))  # [N,H,T,hd]
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.append(k, v)  # [N, H, start+T, hd]
        mask = None if key_mask is None else key_mask[:, None, None, :]  # [N, 1, 1, S]
        is_causal = causal and t > 1 and start == 0 and mask is None
        if causal and t > 1 and not is_causal:  # causal block after a cached prefix, or with a key mask
            rows = torch.arange(start, start + t, device=x.device)[:, None]
            allowed = rows >= torch.arange(start + t, device=x.device)[None, :]  # [T, S]
            mask = allowed[None, None] if mask is None else mask & allowed
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal)  # [N,H,T,hd]
        y = y.transpose(1, 2).reshape(n, t, d)  # [N, T, d]
        out: torch.Tensor = self.resid_drop(self.proj(y))
        return out


class CrossAttention(nn.Module):
    """Attention from decoder tokens to a memory (context tokens), with the memory's keys/values cached.

    The memory has ``B`` rows and the queries ``N = B * g`` rows: query rows ``[i*g, (i+1)*g)`` read memory
    row ``i``. The ``g`` query rows of one memory row are folded into its query axis, so the memory is
    never copied ``g`` times (exact, since queries attend independently).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.resid_drop = nn.Dropout(dropout)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project ``memory [B, S, d]`` to keys and values ``[B, H, S, hd]``."""
        b, s, d = memory.shape
        k, v = self.kv(memory).split(d, dim=2)  # [B, S, d] each
        return (k.view(b, s, self.n_heads, d // self.n_heads).transpose(1, 2),
                v.view(b, s, self.n_heads, d // self.n_heads).transpose(1, 2))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor],
                memory_mask: torch.Tensor | None) -> torch.Tensor:
        """``x [N, T, d]``, ``kv`` from :meth:`memory_kv`, ``memory_mask [B, S]``; returns ``[N, T, d]``."""
        n, t, d = x.shape
        k, v = kv  # [B, H, S, hd]
        b = k.shape[0]
        g = n // b
        q = self.q(x).reshape(b, g * t, self.n_heads, d // self.n_heads).transpose(1, 2)  # [B, H, g*T, hd]
        mask = None if memory_mask is None else memory_mask[:, None, None, :]  # [B, 1, 1, S]
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # [B, H, g*T, hd]
        y = y.transpose(1, 2).reshape(n, t, d)  # [N, T, d]
        out: torch.Tensor = self.resid_drop(self.proj(y))
        return out


class MLP(nn.Module):
    """Position-wise feed-forward network ``d -> ratio*d -> d``."""

    def __init__(self, d_model: int, ratio: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, ratio * d_model)
        self.proj = nn.Linear(ratio * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.drop(self.proj(F.gelu(self.fc(x))))  # [N, T, d]
        return out


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optional cross-attention to a memory, MLP."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int, dropout: float, cross: bool = False) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln_x = nn.LayerNorm(d_model) if cross else None
        self.cross = CrossAttention(d_model, n_heads, dropout) if cross else None
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None, causal: bool = False,
                cache: KVCache | None = None, memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [N, T, d]`` -> ``[N, T, d]``; cross-attention runs when the block has it and ``memory_kv`` is given."""
        x = x + self.attn(self.ln_1(x), key_mask=key_mask, causal=causal, cache=cache)
        if self.cross is not None and self.ln_x is not None and memory_kv is not None:
            x = x + self.cross(self.ln_x(x), memory_kv, memory_mask)
        out: torch.Tensor = x + self.mlp(self.ln_2(x))  # [N, T, d]
        return out

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys/values ``[B, H, S, hd]`` of ``memory [B, S, d]`` (cross blocks only)."""
        if self.cross is None:
            raise TypeError("this block has no cross-attention")
        return self.cross.memory_kv(memory)


def init_weights(module: nn.Module) -> None:
    """GPT-style initialisation: normal(0, 0.02) linear and embedding weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
