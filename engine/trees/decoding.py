"""Grammar-constrained decoding: which token may come next while a subtree is written token by token.

A decoder keeps a stack of pending symbols (nonterminals still to expand and terminals still to
fill). The next token must start the symbol on top: a production of a nonterminal, or a value of a
terminal; when the stack is empty only EOS may follow. Optional budgets bound the number of primitives
(sigma) and of tree tokens (EOS not counted): a production is allowed only if the derivation can still
be completed within both budgets, using per-production minima, so every sequence of allowed choices
yields a valid tree of the requested nonterminal. Termination is guaranteed when ``max_tokens`` is
given, or when ``max_primitives`` is given and every recursion of the grammar passes a primitive.

:class:`DecodeState` is the plain single-sequence form. :class:`MaskTable` holds the same rules as
numpy arrays (convert with ``torch.from_numpy`` to run them on a device) and :class:`BatchDecoder`
advances many sequences at once with array operations only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import INF
from treediff.engine.trees.tokens import EOS, Vocab
from treediff.engine.trees.tree import Node

DONE = "<done>"  # the pseudo-symbol on top of an empty stack; only EOS is allowed there


def _budget(value: int | None, name: str) -> int:
    if value is None:
        return INF
    if value < 0:
        raise TreeError(f"{name} is {value}; expected a non-negative integer or None for no bound")
    return int(value)


def _check_reachable(vocab: Vocab, nonterminal: str, max_sigma: int, max_tokens: int) -> None:
    need_sigma = vocab.grammar.min_sigma[nonterminal]
    need_tokens = vocab.min_tokens[nonterminal]
    if need_sigma > max_sigma or need_tokens > max_tokens:
        raise TreeError(f"no {nonterminal!r} fits the budget max_primitives={max_sigma}, max_tokens={max_tokens}: "
                        f"the smallest needs {need_sigma} primitive(s) and {need_tokens} token(s); "
                        "raise the bounds")


class DecodeState:
    """Incremental, grammar-constrained decoding of one subtree deriving ``nonterminal``."""

    def __init__(self, vocab: Vocab, nonterminal: str | None = None, max_primitives: int | None = None,
                 max_tokens: int | None = None) -> None:
        self.vocab = vocab
        self.nonterminal = nonterminal or vocab.grammar.start
        if self.nonterminal not in vocab.grammar.rules:
            raise TreeError(f"cannot decode a {self.nonterminal!r}: grammar {vocab.grammar.name!r} has no such "
                            "nonterminal; expected one of: " + ", ".join(vocab.grammar.nonterminals))
        self.max_primitives = _budget(max_primitives, "max_primitives")
        self.max_tokens = _budget(max_tokens, "max_tokens")
        _check_reachable(vocab, self.nonterminal, self.max_primitives, self.max_tokens)
        self._ids: list[int] = []
        self._stack: list[str] = [self.nonterminal]  # top at the end
        self.sigma = 0  # primitives written so far
        self._pending_sigma = vocab.grammar.min_sigma[self.nonterminal]
        self._pending_tokens = vocab.min_tokens[self.nonterminal]

    @property
    def done(self) -> bool:
        """Whether the subtree is complete (only EOS may follow)."""
        return not self._stack

    @property
    def symbol(self) -> str:
        """The symbol the next token must start (a nonterminal or terminal name), or ``"<done>"``."""
        return self._stack[-1] if self._stack else DONE

    @property
    def ids(self) -> list[int]:
        """The tree tokens chosen so far (no BOS/EOS)."""
        return list(self._ids)

    def allowed(self) -> list[int]:
        """Token ids allowed next, ascending."""
        if not self._stack:
            return [EOS]
        top = self._stack[-1]
        vocab, g = self.vocab, self.vocab.grammar
        if top in g.terminals:
            return vocab.symbol_tokens(top)
        sigma_slack = self.max_primitives - self.sigma - (self._pending_sigma - g.min_sigma[top])
        token_slack = self.max_tokens - len(self._ids) - (self._pending_tokens - vocab.min_tokens[top])
        return [vocab.prod_offset + p.index for p in g.rules[top]
                if g.prod_min_sigma[p.index] <= sigma_slack and vocab.prod_min_tokens[p.index] <= token_slack]

    def allowed_mask(self) -> np.ndarray:
        """Boolean array of shape [vocab.size], True at the allowed tokens."""
        mask = np.zeros(self.vocab.size, dtype=bool)
        mask[self.allowed()] = True
        return mask

    def step(self, token: int) -> None:
        """Append ``token``; TreeError if it is not allowed. EOS after completion is accepted and ignored."""
        allowed = self.allowed()
        if token not in allowed:
            names = ", ".join(self.vocab.names[t] for t in allowed)
            shown = self.vocab.names[token] if 0 <= token < self.vocab.size else "not a token id"
            raise TreeError(f"token {token} ({shown!r}) is not allowed at position {len(self._ids)} of a "
                            f"{self.nonterminal!r} (expecting {self.symbol!r}); allowed: {names}")
        if not self._stack:
            return
        vocab, g = self.vocab, self.vocab.grammar
        top = self._stack.pop()
        self._ids.append(token)
        if top in g.terminals:
            self._pending_tokens -= 1
            return
        prod = vocab.token_production(token)
        self._pending_sigma += g.prod_min_sigma[prod.index] - g.min_sigma[top] - prod.primitive
        self._pending_tokens += vocab.prod_min_tokens[prod.index] - vocab.min_tokens[top] - 1
        self.sigma += prod.primitive
        self._stack.extend(s.symbol for s in reversed(prod.slots))

    def tree(self) -> Node:
        """The finished subtree; TreeError while it is incomplete."""
        if self._stack:
            raise TreeError(f"decoding of a {self.nonterminal!r} is not finished after {len(self._ids)} tokens: "
                            f"expecting {self.symbol!r}; step until done")
        return self.vocab.decode(self._ids, self.nonterminal)

    def copy(self) -> DecodeState:
        """An independent copy (for branching searches)."""
        twin = object.__new__(DecodeState)
        twin.__dict__.update(self.__dict__)
        twin._ids = list(self._ids)
        twin._stack = list(self._stack)
        return twin


@dataclass(frozen=True, eq=False)
class MaskTable:
    """The decoding rules of a vocabulary as arrays (S symbols = nonterminals, terminals, then DONE).

    A token ``t`` is allowed for a sequence whose top symbol is ``s`` iff
    ``symbol_allowed[s, t] and token_min_sigma[t] <= sigma_slack and token_min_tokens[t] <= token_slack``
    where ``sigma_slack = max_primitives - primitives_so_far - (pending_min_sigma - symbol_min_sigma[s])``
    and ``token_slack = max_tokens - tokens_so_far - (pending_min_tokens - symbol_min_tokens[s])``, the
    pending sums running over the whole stack (top included). Choosing ``t`` pops ``s`` and pushes
    ``token_slots[t, :token_arity[t]]`` so that slot 0 ends on top.
    """

    symbols: tuple[str, ...]  # S names; the last is DONE
    symbol_allowed: np.ndarray  # bool [S, V]
    symbol_min_sigma: np.ndarray  # int64 [S]
    symbol_min_tokens: np.ndarray  # int64 [S]
    token_slots: np.ndarray  # int64 [V, A] slot symbols in slot order, -1 padded (A >= 1)
    token_arity: np.ndarray  # int64 [V] slots of a production token, 0 otherwise
    token_min_sigma: np.ndarray  # int64 [V]
    token_min_tokens: np.ndarray  # int64 [V] (1 for value tokens, 0 for specials)
    token_primitive: np.ndarray  # bool [V]

    @classmethod
    def build(cls, vocab: Vocab) -> MaskTable:
        """Arrays for ``vocab``'s grammar."""
        g = vocab.grammar
        symbols = (*g.nonterminals, *g.terminals, DONE)
        index = {s: i for i, s in enumerate(symbols)}
        n_sym, n_tok = len(symbols), vocab.size
        allowed = np.zeros((n_sym, n_tok), dtype=bool)
        for s in symbols[:-1]:
            allowed[index[s], vocab.symbol_tokens(s)] = True
        allowed[index[DONE], EOS] = True
        width = max([len(p.slots) for p in g.productions] + [1])
        slots = np.full((n_tok, width), -1, dtype=np.int64)
        arity = np.zeros(n_tok, dtype=np.int64)
        min_sigma = np.zeros(n_tok, dtype=np.int64)
        min_tokens = np.zeros(n_tok, dtype=np.int64)
        primitive = np.zeros(n_tok, dtype=bool)
        for p in g.productions:
            t = vocab.prod_offset + p.index
            slots[t, :len(p.slots)] = [index[s.symbol] for s in p.slots]
            arity[t] = len(p.slots)
            min_sigma[t] = g.prod_min_sigma[p.index]
            min_tokens[t] = vocab.prod_min_tokens[p.index]
            primitive[t] = p.primitive
        min_tokens[vocab.value_offset:] = 1
        sym_sigma = np.array([g.min_sigma[s] for s in g.nonterminals] + [0] * (len(g.terminals) + 1), np.int64)
        sym_tokens = np.array([vocab.min_tokens[s] for s in g.nonterminals] + [1] * len(g.terminals) + [0],
                              np.int64)
        return cls(symbols, allowed, sym_sigma, sym_tokens, slots, arity, min_sigma, min_tokens, primitive)

    def symbol_index(self, name: str) -> int:
        """Row of ``name`` in the symbol arrays."""
        try:
            return self.symbols.index(name)
        except ValueError:
            raise TreeError(f"unknown symbol {name!r}; expected one of: {', '.join(self.symbols)}") from None

    def mask(self, top: np.ndarray, sigma_slack: np.ndarray, token_slack: np.ndarray) -> np.ndarray:
        """Allowed tokens, bool [B, V], for top symbols [B] and slacks [B] (see the class docstring)."""
        out: np.ndarray = (self.symbol_allowed[top]
                           & (self.token_min_sigma[None, :] <= sigma_slack[:, None])
                           & (self.token_min_tokens[None, :] <= token_slack[:, None]))
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by field name (e.g. to move them to a device)."""
        return {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}


def _per_row(value: int | Sequence[int | None] | None, batch: int, name: str) -> np.ndarray:
    if value is None or isinstance(value, (int, np.integer)):
        return np.full(batch, _budget(value, name), dtype=np.int64)
    if len(value) != batch:
        raise TreeError(f"{name} has {len(value)} entries for a batch of {batch}; expected one per row")
    return np.array([_budget(v, name) for v in value], dtype=np.int64)


class BatchDecoder:
    """Grammar-constrained decoding of B subtrees at once, with numpy array operations only.

    Rows may derive different nonterminals and have different budgets. Each :meth:`step` costs
    O(B * A) (A = the largest production arity) plus an O(B) legality check, and each :meth:`mask`
    O(B * V); neither loops over rows in Python. The same arithmetic works on torch tensors made from
    :meth:`MaskTable.arrays`. Finished rows accept EOS (ignored) and have mask ``[EOS]`` only.
    """

    def __init__(self, vocab: Vocab, nonterminals: str | Sequence[str], batch: int | None = None,
                 max_primitives: int | Sequence[int | None] | None = None,
                 max_tokens: int | Sequence[int | None] | None = None, table: MaskTable | None = None) -> None:
        names = [nonterminals] * (batch or 1) if isinstance(nonterminals, str) else list(nonterminals)
        if batch is not None and len(names) != batch:
            raise TreeError(f"{len(names)} nonterminals given for a batch of {batch}; expected one per row")
        for name in set(names):
            if name not in vocab.grammar.rules:
                raise TreeError(f"cannot decode a {name!r}: grammar {vocab.grammar.name!r} has no such "
                                "nonterminal; expected one of: " + ", ".join(vocab.grammar.nonterminals))
        self.vocab = vocab
        self.table = table or MaskTable.build(vocab)
        self.nonterminals = names
        b = len(names)
        self.max_sigma = _per_row(max_primitives, b, "max_primitives")
        self.max_tokens = _per_row(max_tokens, b, "max_tokens")
        for i, name in enumerate(names):
            _check_reachable(vocab, name, int(self.max_sigma[i]), int(self.max_tokens[i]))
        start = np.array([self.table.symbol_index(n) for n in names], dtype=np.int64)
        self._rows = np.arange(b)
        self.stack = np.full((b, 8), -1, dtype=np.int64)  # [B, D] symbol ids, top at stack[b, depth[b]-1]
        self.stack[:, 0] = start
        self.depth = np.ones(b, dtype=np.int64)  # [B]
        self.sigma = np.zeros(b, dtype=np.int64)  # [B] primitives written
        self.length = np.zeros(b, dtype=np.int64)  # [B] tree tokens written
        self.pending_sigma = self.table.symbol_min_sigma[start].copy()  # [B] sum over the stack
        self.pending_tokens = self.table.symbol_min_tokens[start].copy()  # [B]
        self.tokens = np.zeros((b, 16), dtype=np.int64)  # [B, L] tokens written, PAD after length

    @property
    def batch(self) -> int:
        """Number of rows B."""
        return len(self.nonterminals)

    @property
    def done(self) -> np.ndarray:
        """bool [B]: rows whose subtree is complete."""
        out: np.ndarray = self.depth == 0
        return out

    def _top(self) -> np.ndarray:
        top = self.stack[self._rows, np.maximum(self.depth - 1, 0)]
        out: np.ndarray = np.where(self.depth > 0, top, len(self.table.symbols) - 1)  # [B]
        return out

    def _slacks(self, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.table
        sigma_slack = self.max_sigma - self.sigma - (self.pending_sigma - t.symbol_min_sigma[top])
        token_slack = self.max_tokens - self.length - (self.pending_tokens - t.symbol_min_tokens[top])
        return sigma_slack, token_slack

    def mask(self) -> np.ndarray:
        """bool [B, V]: the tokens each row may take next."""
        top = self._top()
        return self.table.mask(top, *self._slacks(top))

    def step(self, tokens: Sequence[int] | np.ndarray) -> None:
        """Advance every row by its chosen token [B]; TreeError naming the rows whose token is not allowed."""
        tok = np.asarray(tokens, dtype=np.int64)
        t = self.table
        if tok.shape != (self.batch,):
            raise TreeError(f"step got tokens of shape {tok.shape}; expected ({self.batch},), one per row")
        top = self._top()
        sigma_slack, token_slack = self._slacks(top)
        safe = np.clip(tok, 0, self.vocab.size - 1)
        ok = ((tok == safe) & t.symbol_allowed[top, safe] & (t.token_min_sigma[safe] <= sigma_slack)
              & (t.token_min_tokens[safe] <= token_slack))
        if not ok.all():
            bad = np.flatnonzero(~ok)[:5].tolist()
            shown = ", ".join(f"row {r}: {int(tok[r])} while expecting {t.symbols[top[r]]!r}" for r in bad)
            raise TreeError(f"{int((~ok).sum())} chosen token(s) are not allowed ({shown}); choose tokens "
                            "where mask() is True")
        live = self.depth > 0
        self._ensure_room(live)
        arity = np.where(live, t.token_arity[tok], 0)
        self.depth -= live
        self.pending_sigma -= np.where(live, t.symbol_min_sigma[top], 0)
        self.pending_tokens -= np.where(live, t.symbol_min_tokens[top], 0)
        width = t.token_slots.shape[1]
        # Push the slots reversed so that slot 0 ends on top: column j gets slot arity-1-j.
        j = np.arange(width)[None, :]  # [1, A]
        src = np.clip(arity[:, None] - 1 - j, 0, width - 1)  # [B, A]
        vals = np.take_along_axis(t.token_slots[tok], src, axis=1)  # [B, A]
        put = j < arity[:, None]
        rows = np.broadcast_to(self._rows[:, None], put.shape)
        self.stack[rows[put], (self.depth[:, None] + j)[put]] = vals[put]
        self.depth += arity
        child_sigma = t.token_min_sigma[tok] - t.token_primitive[tok]
        child_tokens = np.maximum(t.token_min_tokens[tok] - 1, 0)
        self.pending_sigma += np.where(live, child_sigma, 0)
        self.pending_tokens += np.where(live, child_tokens, 0)
        self.sigma += live & t.token_primitive[tok]
        self.tokens[self._rows[live], self.length[live]] = tok[live]
        self.length += live

    def _ensure_room(self, live: np.ndarray) -> None:
        need_depth = int(self.depth.max(initial=0)) + self.table.token_slots.shape[1]
        if need_depth > self.stack.shape[1]:
            grown = np.full((self.batch, max(need_depth, 2 * self.stack.shape[1])), -1, dtype=np.int64)
            grown[:, :self.stack.shape[1]] = self.stack
            self.stack = grown
        if int(self.length.max(initial=0)) + 1 > self.tokens.shape[1]:
            grown = np.zeros((self.batch, 2 * self.tokens.shape[1]), dtype=np.int64)
            grown[:, :self.tokens.shape[1]] = self.tokens
            self.tokens = grown

    def ids(self, row: int) -> list[int]:
        """Tree tokens of one row so far."""
        return self.tokens[row, :self.length[row]].tolist()  # type: ignore[no-any-return]

    def trees(self) -> list[Node]:
        """The finished subtrees, one per row; TreeError if a row is unfinished."""
        if not self.done.all():
            rows = np.flatnonzero(~self.done)[:10].tolist()
            raise TreeError(f"rows {rows} are not finished; step until done is True everywhere")
        return [self.vocab.decode(self.ids(r), n) for r, n in enumerate(self.nonterminals)]
