"""The token vocabulary of a grammar: trees <-> prefix-order token ids, node positions and edit encoding.

A tree is written in prefix order, one token per node (its production) and one per leaf value (a
``(terminal, value)`` pair), without punctuation: the grammar's arities make the order unambiguous.
Token ids: the special tokens (:data:`PAD`, :data:`BOS`, :data:`EOS`, :data:`SEP`) first, then one
token per production in production-index order, then one per (terminal, value) pair, terminals in
grammar order and values in each terminal's canonical order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar, Production, Terminal, Value, fixpoint_min
from treediff.engine.trees.tree import Edit, Node, Path, get, nonterminal_at

PAD, BOS, EOS, SEP = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<sep>")
_PY_TYPE = {"int": int, "enum": str, "bool": bool}

# An encoding plan per production: (production token, per-slot entry) where the entry is None for a
# nonterminal slot and (the terminal's value -> token dict, the value's Python type) for a terminal slot.
_Plan = tuple[int, tuple[tuple[dict[Value, int], type] | None, ...]]


class Vocab:
    """Token ids of one grammar (see the module docstring for the layout).

    ``size`` is the number of ids, ``names[i]`` a readable name (``"circle"``, ``"coord=3"``,
    ``"flag=true"``, ``"<eos>"``). ``min_tokens[nt]`` / ``prod_min_tokens[p.index]`` give the fewest
    tokens any derivation of a nonterminal / production encodes to.
    """

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.prod_offset = len(SPECIALS)
        self.value_offset = self.prod_offset + len(grammar.productions)
        self.terminal_offset: dict[str, int] = {}
        names = list(SPECIALS) + [p.name for p in grammar.productions]
        self._token_value: list[tuple[Terminal, Value] | None] = [None] * len(names)
        self._value_tokens: dict[str, dict[Value, int]] = {}
        for term in grammar.terminals.values():
            self.terminal_offset[term.name] = len(names)
            self._value_tokens[term.name] = {v: len(names) + i for i, v in enumerate(term.values)}
            for v in term.values:
                names.append(f"{term.name}={term.text(v)}")
                self._token_value.append((term, v))
        self.names: tuple[str, ...] = tuple(names)
        self.size = len(names)
        self.min_tokens, self.prod_min_tokens = fixpoint_min(
            grammar, lambda p: 1 + sum(1 for s in p.slots if s.terminal is not None))
        self._plans: dict[Production, _Plan] = {p: self._plan(p) for p in grammar.productions}
        self._by_name = {p.name: p for p in grammar.productions}
        self._decode_plans = [(p, tuple(s.symbol if s.terminal is None else
                                        (self.terminal_offset[s.terminal.name], s.terminal.values)
                                        for s in p.slots)) for p in grammar.productions]
        self._prod_lhs = [p.lhs for p in grammar.productions]
        # Tables derived from this vocabulary, built once by their owners (e.g. the device mask table).
        self.derived: dict[tuple[str, str], object] = {}

    def _plan(self, prod: Production) -> _Plan:
        slots = tuple(None if s.terminal is None else (self._value_tokens[s.terminal.name], _PY_TYPE[s.terminal.kind])
                      for s in prod.slots)
        return self.prod_offset + prod.index, slots

    # -- token lookup ---------------------------------------------------------------------------

    def production_token(self, prod: Production | str) -> int:
        """The token of a production (object or name)."""
        name = prod if isinstance(prod, str) else prod.name
        found = self._by_name.get(name)
        if found is None:
            raise TreeError(f"grammar {self.grammar.name!r} has no production {name!r}; expected one of: "
                            + ", ".join(self._by_name))
        return self.prod_offset + found.index

    def value_token(self, terminal: Terminal | str, value: Value) -> int:
        """The token of ``value`` of ``terminal`` (object or name)."""
        name = terminal if isinstance(terminal, str) else terminal.name
        table = self._value_tokens.get(name)
        if table is None:
            raise TreeError(f"grammar {self.grammar.name!r} has no terminal {name!r}; expected one of: "
                            + ", ".join(self._value_tokens))
        term = self.grammar.terminals[name]
        if not term.contains(value):
            raise TreeError(f"value {value!r} is not a value of terminal {name!r}; expected {term.describe()}")
        return table[value]

    def token_kind(self, token: int) -> str:
        """``"special"``, ``"production"`` or ``"value"``; TreeError for an id outside the vocabulary."""
        self._check_id(token)
        if token < self.prod_offset:
            return "special"
        return "production" if token < self.value_offset else "value"

    def token_production(self, token: int) -> Production:
        """The production of a production token."""
        if self.token_kind(token) != "production":
            raise TreeError(f"token {token} ({self.names[token]!r}) is not a production token; expected an id in "
                            f"{self.prod_offset}..{self.value_offset - 1}")
        return self.grammar.productions[token - self.prod_offset]

    def token_value(self, token: int) -> tuple[Terminal, Value]:
        """The (terminal, value) pair of a value token."""
        if self.token_kind(token) != "value":
            raise TreeError(f"token {token} ({self.names[token]!r}) is not a value token; expected an id in "
                            f"{self.value_offset}..{self.size - 1}")
        pair = self._token_value[token]
        assert pair is not None
        return pair

    def symbol_tokens(self, symbol: str) -> list[int]:
        """Every token that can start a derivation of ``symbol`` (a nonterminal or a terminal)."""
        if symbol in self.grammar.rules:
            return [self.prod_offset + p.index for p in self.grammar.rules[symbol]]
        if symbol in self._value_tokens:
            return list(self._value_tokens[symbol].values())
        raise TreeError(f"grammar {self.grammar.name!r} has no symbol {symbol!r}; expected a nonterminal ("
                        + ", ".join(self.grammar.nonterminals) + ") or a terminal ("
                        + ", ".join(self.grammar.terminals) + ")")

    def _check_id(self, token: int) -> None:
        if not 0 <= token < self.size:
            raise TreeError(f"token id {token} is outside the vocabulary of grammar {self.grammar.name!r}; "
                            f"expected 0..{self.size - 1}")

    # -- trees ----------------------------------------------------------------------------------

    def encode(self, tree: Node) -> list[int]:
        """Prefix-order token ids of ``tree`` (no BOS/EOS); TreeError if it does not fit the grammar."""
        out: list[int] = []
        try:
            try:
                self._encode_into(tree, out)
            except RecursionError:  # a deep tree: the iterative walk (slower, any depth)
                out.clear()
                self._encode_iterative(tree, out)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise TreeError(f"tree {_describe(tree)} does not fit grammar {self.grammar.name!r}; expected a "
                            "tree built from its productions with in-range values "
                            "(see treediff.engine.trees.tree.validate)"
                            ) from None
        return out

    def _encode_into(self, root: Node, out: list[int]) -> None:
        plans = self._plans
        append = out.append

        def rec(node: Node) -> None:
            plan = plans.get(node.production)
            if plan is None:
                plan = self._foreign_plan(node.production)
            tok, slots = plan
            append(tok)
            for entry, child in zip(slots, node.children, strict=True):
                if entry is None:
                    rec(child)  # type: ignore[arg-type]
                elif type(child) is entry[1]:  # bool is not int here: True must not encode as 1
                    append(entry[0][child])  # type: ignore[index]
                else:
                    raise TypeError(child)

        rec(root)

    def _encode_iterative(self, root: Node, out: list[int]) -> None:
        stack: list[Node | int] = [root]
        while stack:
            item = stack.pop()
            if type(item) is int:
                out.append(item)
                continue
            node: Node = item  # type: ignore[assignment]
            plan = self._plans.get(node.production)
            if plan is None:
                plan = self._foreign_plan(node.production)
            tok, slots = plan
            out.append(tok)
            items: list[Node | int] = []
            for entry, child in zip(slots, node.children, strict=True):
                if entry is None:
                    if type(child) is not Node:
                        raise TypeError(child)
                    items.append(child)
                elif type(child) is entry[1]:
                    items.append(entry[0][child])  # type: ignore[index]
                else:
                    raise TypeError(child)
            stack.extend(reversed(items))

    def _foreign_plan(self, prod: Production) -> _Plan:
        """Plan for an equal production from another load of the same grammar (matched by name)."""
        own = self._by_name[prod.name]
        if len(own.slots) != len(prod.slots) or own.lhs != prod.lhs:
            raise KeyError(prod.name)
        return self._plans[own]

    def decode(self, ids: list[int] | tuple[int, ...], nonterminal: str | None = None) -> Node:
        """The tree whose prefix encoding is exactly ``ids``, deriving ``nonterminal`` (default: start).

        Raises TreeError naming the position and the expected tokens when a token does not fit, the
        sequence ends early, or tokens remain after a complete tree.
        """
        want = nonterminal or self.grammar.start
        if want not in self.grammar.rules:
            raise TreeError(f"cannot decode a {want!r}: grammar {self.grammar.name!r} has no such nonterminal; "
                            "expected one of: " + ", ".join(self.grammar.nonterminals))
        tree, end = self._decode_at(list(ids), 0, want)
        if end != len(ids):
            raise TreeError(f"token sequence is too long: a complete {want!r} ends at position {end} but "
                            f"{len(ids) - end} more token(s) follow, starting with {self._show(ids[end])}; "
                            "expected the sequence to end there")
        return tree

    def _decode_at(self, ids: list[int], pos: int, symbol: str) -> tuple[Node, int]:
        """Decode one ``symbol`` subtree starting at ``pos``; return it and the position after it."""
        plans, lhs = self._decode_plans, self._prod_lhs
        lo, n = self.prod_offset, len(ids)

        def rec(p: int, need: str) -> tuple[Node, int]:
            k = (ids[p] if p < n else -1) - lo
            if not 0 <= k < len(lhs) or lhs[k] != need:
                self._fail(ids, p, need)
            prod, slots = plans[k]
            p += 1
            kids: list[Value | Node] = []
            for slot in slots:
                if isinstance(slot, str):
                    node, p = rec(p, slot)
                    kids.append(node)
                    continue
                first, values = slot
                t = ids[p] - first if p < n else -1
                if not 0 <= t < len(values):
                    self._fail(ids, p, prod.slots[len(kids)].symbol)
                kids.append(values[t])
                p += 1
            return Node(prod, tuple(kids)), p

        try:
            return rec(pos, symbol)
        except RecursionError:  # a deep tree: the iterative decoder (slower, any depth)
            return self._decode_iterative(ids, pos, symbol)

    def _decode_iterative(self, ids: list[int], pos: int, symbol: str) -> tuple[Node, int]:
        plans, lhs = self._decode_plans, self._prod_lhs
        lo, n = self.prod_offset, len(ids)
        frames: list[tuple[Any, Any, list[Any]]] = []  # (production, slots, children so far)
        p, need = pos, symbol
        while True:
            k = (ids[p] if p < n else -1) - lo
            if not 0 <= k < len(lhs) or lhs[k] != need:
                self._fail(ids, p, need)
            prod, slots = plans[k]
            p += 1
            frames.append((prod, slots, []))
            while True:  # fill values until the top frame needs a subtree or is complete
                prod, slots, kids = frames[-1]
                if len(kids) < len(slots) and isinstance(slots[len(kids)], str):
                    need = slots[len(kids)]
                    break
                if len(kids) < len(slots):
                    first, values = slots[len(kids)]
                    t = ids[p] - first if p < n else -1
                    if not 0 <= t < len(values):
                        self._fail(ids, p, prod.slots[len(kids)].symbol)
                    kids.append(values[t])
                    p += 1
                    continue
                frames.pop()
                node = Node(prod, tuple(kids))
                if not frames:
                    return node, p
                frames[-1][2].append(node)

    def _fail(self, ids: list[int], pos: int, symbol: str) -> NoReturn:
        if pos >= len(ids):
            raise TreeError(f"token sequence ends early at position {pos}: expected {self._expect(symbol)}")
        raise TreeError(f"token {self._show(ids[pos])} at position {pos} does not fit: expected "
                        f"{self._expect(symbol)}")

    def _show(self, tok: int) -> str:
        return f"{tok} ({self.names[tok]!r})" if 0 <= tok < self.size else f"{tok} (not a token id)"

    def _expect(self, symbol: str) -> str:
        if symbol in self.grammar.terminals:
            term = self.grammar.terminals[symbol]
            return f"a value of terminal {symbol!r} ({term.describe()})"
        return f"a production of {symbol!r} (" + ", ".join(p.name for p in self.grammar.rules[symbol]) + ")"

    def node_positions(self, tree: Node) -> list[tuple[int, Path]]:
        """(token index of the node's production token, node path) for every node, in prefix order."""
        return [(own[0], path) for path, own in self.node_tokens(tree)]

    def node_tokens(self, tree: Node) -> list[tuple[Path, list[int]]]:
        """Each node's path and the token indices it owns, in prefix order: its production token, then those of
        its leaf values (its child nodes own theirs). What a node's own choices are in the token sequence."""
        out: list[tuple[Path, list[int]]] = []
        counter = 0
        stack: list[tuple[Node, Path] | int] = [(tree, ())]  # an int: a leaf value owned by out[int]
        while stack:  # iterative: any depth
            item = stack.pop()
            if isinstance(item, int):
                out[item][1].append(counter)
                counter += 1
                continue
            node, path = item
            out.append((path, [counter]))
            owner = len(out) - 1
            counter += 1
            kids = node.children
            for i in range(len(kids) - 1, -1, -1):
                stack.append((kids[i], path + (i,)) if type(kids[i]) is Node else owner)  # type: ignore[arg-type]
        return out

    def token_fields(self, tree: Node) -> list[str]:
        """What each token of :meth:`encode` chooses, in its order: ``<symbol>`` for a production token (the
        nonterminal it expands) and ``production.field`` for a leaf value (e.g. ``arrange.gap``). Groups a
        model's per-token readings by what they decide."""
        out: list[str] = []
        stack: list[Node | str] = [tree]  # a str: the field of a leaf value, already labelled
        while stack:  # iterative: any depth
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            prod = item.production
            out.append(f"<{prod.lhs}>")
            for slot, child in zip(reversed(prod.slots), reversed(item.children), strict=True):
                stack.append(child if slot.terminal is None else f"{prod.name}.{slot.field}")  # type: ignore[arg-type]
        return out

    def subtree_end(self, ids: list[int] | tuple[int, ...], position: int) -> int:
        """The index just past the subtree whose production token is at ``position`` in ``ids``."""
        if not 0 <= position < len(ids) or self.token_kind(ids[position]) != "production":
            raise TreeError(f"position {position} does not hold a production token in a sequence of "
                            f"{len(ids)} tokens; expected the position of a node")
        prod = self.token_production(ids[position])
        return self._decode_at(list(ids), position, prod.lhs)[1]

    def __repr__(self) -> str:
        return f"Vocab({self.grammar.name!r}, size={self.size})"


def _describe(tree: Node) -> str:
    """The tree's text (shortened) for messages, or its root name when it cannot even be printed."""
    try:
        text = str(tree)
    except Exception:  # an ill-formed tree may fail to print; the message must still come out
        return f"rooted at {getattr(tree, 'name', tree)!r}"
    return repr(text if len(text) <= 120 else text[:117] + "...")


# -- edits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditTokens:
    """An edit as tokens: the token index of the replaced node in ``encode(tree)``, the nonterminal
    the replacement derives, and the replacement's prefix token ids (no BOS/EOS)."""

    position: int
    nonterminal: str
    replacement: tuple[int, ...]


def encode_edit(vocab: Vocab, tree: Node, edit: Edit) -> EditTokens:
    """Encode ``edit`` of ``tree``; TreeError if its path is not a node or the replacement's type differs."""
    want = nonterminal_at(tree, edit.path)
    if edit.replacement.production.lhs != want:
        raise TreeError(f"edit at path {edit.path} replaces a {want!r} with {edit.replacement.name!r}, which "
                        f"derives {edit.replacement.production.lhs!r}; expected a production of {want!r}")
    position = _position_of(vocab, tree, edit.path)
    return EditTokens(position, want, tuple(vocab.encode(edit.replacement)))


def decode_edit(vocab: Vocab, tree: Node, edit: EditTokens) -> Edit:
    """Decode ``edit`` against ``tree``; TreeError unless the position is a node whose nonterminal the
    replacement tokens derive completely."""
    path = _path_at(vocab, tree, edit.position)
    want = get(tree, path).production.lhs
    if edit.nonterminal != want:
        raise TreeError(f"edit position {edit.position} holds a {want!r} node, but the edit says "
                        f"{edit.nonterminal!r}; expected the nonterminal of the node at that position")
    return Edit(path, vocab.decode(edit.replacement, want))


def _position_of(vocab: Vocab, tree: Node, path: Path) -> int:
    for pos, p in vocab.node_positions(tree):
        if p == path:
            return pos
    raise TreeError(f"path {path} is not a node of the tree; expected one of its node paths")


def _path_at(vocab: Vocab, tree: Node, position: int) -> Path:
    positions = vocab.node_positions(tree)
    for pos, path in positions:
        if pos == position:
            return path
    valid = ", ".join(str(p) for p, _ in positions[:20]) + (" ..." if len(positions) > 20 else "")
    raise TreeError(f"edit position {position} is not the token index of a node in a tree of "
                    f"{len(positions)} nodes; expected one of: {valid}")
