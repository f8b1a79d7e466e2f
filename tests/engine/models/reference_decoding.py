"""A plain, one-row reference for the grammar-constraint state machine of treediff.engine.models.constraint.

Written for clarity, not speed: a Python list as the stack and the budget rule spelled out. Tests compare
the production tensor implementation against it. Same end-of-sequence semantics: once the subtree is
complete only EOS is allowed, and after EOS only PAD.
"""

from __future__ import annotations

from treediff.engine.trees.tokens import EOS, PAD, Vocab
from treediff.engine.trees.tree import Node


class ReferenceState:
    """Decoding of one subtree deriving ``nonterminal`` within ``max_primitives`` and ``max_tokens``."""

    def __init__(self, vocab: Vocab, nonterminal: str | None = None, max_primitives: int | None = None,
                 max_tokens: int | None = None) -> None:
        g = vocab.grammar
        self.vocab = vocab
        self.nonterminal = nonterminal or g.start
        self.max_primitives = 10**9 if max_primitives is None else max_primitives
        self.max_tokens = 10**9 if max_tokens is None else max_tokens
        self.ids: list[int] = []
        self.stack = [self.nonterminal]  # top at the end
        self.sigma = 0
        self.finished = False  # EOS written

    @property
    def done(self) -> bool:
        return not self.stack

    def _min_sigma(self, symbol: str) -> int:
        return self.vocab.grammar.min_sigma.get(symbol, 0)

    def _min_tokens(self, symbol: str) -> int:
        return self.vocab.min_tokens.get(symbol, 1)  # a terminal takes one token

    def allowed(self) -> list[int]:
        """Token ids allowed next, ascending."""
        if self.finished:
            return [PAD]
        if not self.stack:
            return [EOS]
        vocab, g = self.vocab, self.vocab.grammar
        top, below = self.stack[-1], self.stack[:-1]
        if top in g.terminals:
            return vocab.symbol_tokens(top)
        sigma_left = self.max_primitives - self.sigma - sum(self._min_sigma(s) for s in below)
        tokens_left = self.max_tokens - len(self.ids) - sum(self._min_tokens(s) for s in below)
        return [vocab.prod_offset + p.index for p in g.rules[top]
                if g.prod_min_sigma[p.index] <= sigma_left and vocab.prod_min_tokens[p.index] <= tokens_left]

    def step(self, token: int) -> None:
        assert token in self.allowed(), f"token {token} not allowed; allowed: {self.allowed()}"
        if not self.stack:
            self.finished = True
            return
        top = self.stack.pop()
        self.ids.append(token)
        if top in self.vocab.grammar.terminals:
            return
        prod = self.vocab.token_production(token)
        self.sigma += prod.primitive
        self.stack.extend(s.symbol for s in reversed(prod.slots))

    def tree(self) -> Node:
        assert self.done
        return self.vocab.decode(self.ids, self.nonterminal)
