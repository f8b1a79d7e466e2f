"""Batched grammar constraint on a torch device: the stack machine of treediff.engine.trees.decoding as tensor ops."""

from __future__ import annotations

import torch

from treediff.engine.trees.decoding import MaskTable
from treediff.engine.trees.tokens import EOS, PAD, Vocab


class TensorMaskTable:
    """:class:`treediff.engine.trees.decoding.MaskTable` arrays as tensors on one device (build once per
    vocab/device)."""

    def __init__(self, vocab: Vocab, device: torch.device | str) -> None:
        table = MaskTable.build(vocab)
        self.vocab = vocab
        self.device = torch.device(device)
        self.symbols = table.symbols
        self.symbol_ids = {name: i for i, name in enumerate(table.symbols)}
        t = {k: torch.from_numpy(v).to(self.device) for k, v in table.arrays().items()}
        self.symbol_allowed = t["symbol_allowed"]  # [S, V] bool
        self.symbol_min_sigma = t["symbol_min_sigma"]  # [S]
        self.symbol_min_tokens = t["symbol_min_tokens"]  # [S]
        self.token_arity = t["token_arity"]  # [V]
        self.token_min_sigma = t["token_min_sigma"]  # [V]
        self.token_min_tokens = t["token_min_tokens"]  # [V]
        self.token_primitive = t["token_primitive"].long()  # [V]
        slots = t["token_slots"]  # [V, A] slot order, -1 padded
        width = slots.shape[1]
        # Reversed slots, so pushing columns 0..arity-1 leaves slot 0 on top of the stack.
        j = torch.arange(width, device=self.device)[None, :]  # [1, A]
        src = (self.token_arity[:, None] - 1 - j).clamp(0, width - 1)  # [V, A]
        self.token_push = torch.where(j < self.token_arity[:, None], slots.gather(1, src), -1)  # [V, A]
        self.done_symbol = len(self.symbols) - 1
        # Symbol the production token derives (its lhs), -1 for other tokens: where an edit may point.
        lhs = torch.full((vocab.size,), -1, dtype=torch.long)
        for p in vocab.grammar.productions:
            lhs[vocab.prod_offset + p.index] = self.symbol_ids[p.lhs]
        self.token_lhs = lhs.to(self.device)  # [V]


class GrammarConstraint:
    """``N`` sequences decoded at once under the grammar, every row with its own nonterminal and budgets.

    State lives in tensors on the table's device: a symbol stack ``[N, D]`` (top at ``depth - 1``), the
    primitives and tree tokens written, and the minimum primitives / tokens the pending stack still
    needs. :meth:`mask` gives the allowed next tokens ``[N, V]``; :meth:`step` advances every row with no
    Python loop over rows. Finished rows allow only EOS (before it is written) and then only PAD.
    """

    def __init__(self, table: TensorMaskTable, start: torch.Tensor, max_primitives: torch.Tensor,
                 max_tokens: torch.Tensor) -> None:
        """``start [N]`` symbol ids (nonterminals); ``max_primitives / max_tokens [N]`` budgets (tree tokens)."""
        self.t = table
        n = start.shape[0]
        dev = table.device
        self.rows = torch.arange(n, device=dev)  # [N]
        depth_cap = int(max_tokens.max().item()) + table.token_push.shape[1] + 1 if n else 1
        self.stack = torch.full((n, depth_cap), -1, dtype=torch.long, device=dev)  # [N, D]
        self.stack[:, 0] = start
        self.depth = torch.ones(n, dtype=torch.long, device=dev)  # [N]
        self.sigma = torch.zeros(n, dtype=torch.long, device=dev)  # [N] primitives written
        self.length = torch.zeros(n, dtype=torch.long, device=dev)  # [N] tree tokens written
        self.pending_sigma = table.symbol_min_sigma[start].clone()  # [N]
        self.pending_tokens = table.symbol_min_tokens[start].clone()  # [N]
        self.max_sigma = max_primitives.to(dev)  # [N]
        self.max_tokens = max_tokens.to(dev)  # [N]
        self.finished = torch.zeros(n, dtype=torch.bool, device=dev)  # [N] EOS written

    @property
    def complete(self) -> torch.Tensor:
        """bool [N]: rows whose subtree is complete (EOS may or may not be written yet)."""
        return self.depth == 0

    def _top(self) -> torch.Tensor:
        top = self.stack[self.rows, (self.depth - 1).clamp_min(0)]  # [N]
        return torch.where(self.depth > 0, top, self.t.done_symbol)  # [N]

    def mask(self) -> torch.Tensor:
        """bool [N, V]: the tokens each row may take next."""
        t = self.t
        top = self._top()  # [N]
        sigma_slack = self.max_sigma - self.sigma - (self.pending_sigma - t.symbol_min_sigma[top])  # [N]
        token_slack = self.max_tokens - self.length - (self.pending_tokens - t.symbol_min_tokens[top])  # [N]
        allowed = (t.symbol_allowed[top]
                   & (t.token_min_sigma[None, :] <= sigma_slack[:, None])
                   & (t.token_min_tokens[None, :] <= token_slack[:, None]))  # [N, V]
        pad_only = torch.zeros_like(allowed)
        pad_only[:, PAD] = True
        return torch.where(self.finished[:, None], pad_only, allowed)  # [N, V]

    def step(self, tokens: torch.Tensor) -> None:
        """Advance every row by its token ``[N]`` (assumed allowed by :meth:`mask`)."""
        t = self.t
        live = self.depth > 0  # [N]
        self.finished |= ~live & (tokens == EOS)
        top = self._top()  # [N]
        tok = torch.where(live, tokens, PAD)  # [N]
        arity = t.token_arity[tok]  # [N] (0 for PAD)
        self.depth = self.depth - live.long()  # pop
        self.pending_sigma = self.pending_sigma - torch.where(live, t.symbol_min_sigma[top], 0)
        self.pending_tokens = self.pending_tokens - torch.where(live, t.symbol_min_tokens[top], 0)
        width = t.token_push.shape[1]
        j = torch.arange(width, device=tok.device)[None, :]  # [1, A]
        cols = (self.depth[:, None] + j).clamp_max(self.stack.shape[1] - 1)  # [N, A]
        push = j < arity[:, None]  # [N, A]
        old = self.stack.gather(1, cols)  # [N, A]
        self.stack.scatter_(1, cols, torch.where(push, t.token_push[tok], old))  # push reversed slots
        self.depth = self.depth + arity
        self.pending_sigma = self.pending_sigma + (t.token_min_sigma[tok] - t.token_primitive[tok])
        self.pending_tokens = self.pending_tokens + (t.token_min_tokens[tok] - 1).clamp_min(0)
        self.sigma = self.sigma + t.token_primitive[tok]
        self.length = self.length + live.long()
