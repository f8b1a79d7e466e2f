"""Grammar-constrained decoding on a torch device: which token may come next while subtrees are written.

The one implementation of the grammar-constraint state machine. Every row keeps a stack of pending
symbols (nonterminals still to expand and terminals still to fill). The next token must start the
symbol on top: a production of a nonterminal, or a value of a terminal; when the stack is empty only
EOS may follow, and after EOS only PAD. Budgets bound the number of primitives (sigma) and of tree
tokens (EOS not counted): a production is allowed only if the derivation can still be completed within
both budgets, using per-production minima, so every sequence of allowed choices yields a valid tree of
the requested nonterminal.
"""

from __future__ import annotations

import torch

from treediff.engine.trees.tokens import EOS, PAD, Vocab

DONE = "<done>"  # the pseudo-symbol on top of an empty stack; only EOS is allowed there


class TensorMaskTable:
    """The decoding rules of a vocabulary as tensors on one device (S symbols = nonterminals, terminals,
    then DONE). Get one with :meth:`of`, which builds it once per vocabulary and device.

    A token ``t`` is allowed for a row whose top symbol is ``s`` iff ``symbol_allowed[s, t]`` and
    ``token_min_sigma[t] <= sigma_slack`` and ``token_min_tokens[t] <= token_slack``, where
    ``sigma_slack = max_primitives - primitives_so_far - (pending_min_sigma - symbol_min_sigma[s])`` and
    ``token_slack = max_tokens - tokens_so_far - (pending_min_tokens - symbol_min_tokens[s])``, the pending
    sums running over the whole stack (top included). Choosing ``t`` pops ``s`` and pushes
    ``token_push[t, :token_arity[t]]`` (the slots reversed, so slot 0 ends on top).
    """

    def __init__(self, vocab: Vocab, device: torch.device | str) -> None:
        g = vocab.grammar
        self.vocab = vocab
        self.device = torch.device(device)
        self.symbols: tuple[str, ...] = (*g.nonterminals, *g.terminals, DONE)
        self.symbol_ids = {name: i for i, name in enumerate(self.symbols)}
        self.done_symbol = len(self.symbols) - 1
        n_sym, n_tok = len(self.symbols), vocab.size
        allowed = torch.zeros((n_sym, n_tok), dtype=torch.bool)
        for s in self.symbols[:-1]:
            allowed[self.symbol_ids[s], vocab.symbol_tokens(s)] = True
        allowed[self.done_symbol, EOS] = True
        width = max([len(p.slots) for p in g.productions] + [1])
        push = torch.full((n_tok, width), -1, dtype=torch.long)
        arity = torch.zeros(n_tok, dtype=torch.long)
        min_sigma = torch.zeros(n_tok, dtype=torch.long)
        min_tokens = torch.zeros(n_tok, dtype=torch.long)
        primitive = torch.zeros(n_tok, dtype=torch.long)
        lhs = torch.full((n_tok,), -1, dtype=torch.long)  # the symbol a production derives (edit sites)
        for p in g.productions:
            t = vocab.prod_offset + p.index
            if p.slots:
                push[t, :len(p.slots)] = torch.tensor([self.symbol_ids[s.symbol] for s in reversed(p.slots)])
            arity[t] = len(p.slots)
            min_sigma[t] = g.prod_min_sigma[p.index]
            min_tokens[t] = vocab.prod_min_tokens[p.index]
            primitive[t] = int(p.primitive)
            lhs[t] = self.symbol_ids[p.lhs]
        min_tokens[vocab.value_offset:] = 1
        sym_sigma = [g.min_sigma[s] for s in g.nonterminals] + [0] * (len(g.terminals) + 1)
        sym_tokens = [vocab.min_tokens[s] for s in g.nonterminals] + [1] * len(g.terminals) + [0]
        dev = self.device
        self.symbol_allowed = allowed.to(dev)  # [S, V] bool
        self.symbol_min_sigma = torch.tensor(sym_sigma, dtype=torch.long, device=dev)  # [S]
        self.symbol_min_tokens = torch.tensor(sym_tokens, dtype=torch.long, device=dev)  # [S]
        self.token_push = push.to(dev)  # [V, A] slot symbols reversed, -1 padded (A >= 1)
        self.token_arity = arity.to(dev)  # [V] slots of a production token, 0 otherwise
        self.token_min_sigma = min_sigma.to(dev)  # [V]
        self.token_min_tokens = min_tokens.to(dev)  # [V] (1 for value tokens, 0 for specials)
        self.token_primitive = primitive.to(dev)  # [V] 1 for primitive productions
        self.token_lhs = lhs.to(dev)  # [V] symbol id of a production's lhs, -1 for other tokens

    @classmethod
    def of(cls, vocab: Vocab, device: torch.device | str) -> TensorMaskTable:
        """The table of ``vocab`` on ``device``, built on first use and cached on the vocabulary."""
        key = ("mask_table", str(torch.device(device)))
        table = vocab.derived.get(key)
        if not isinstance(table, cls):
            table = vocab.derived[key] = cls(vocab, device)
        return table


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
