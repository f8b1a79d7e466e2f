"""Random derivations: trees of a nonterminal with a bounded number of primitives, weights respected."""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Callable
from random import Random

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar, Production, Value
from treediff.engine.trees.tree import Child, Node

MAX_DEPTH_LIMIT = 800  # trees are processed recursively; Python's stack bounds how deep they may be

_Choice = tuple[tuple[Production, ...], tuple[float, ...], float] | None
_SlotRecipe = tuple[tuple[Value, ...] | None, int, int]  # (terminal values or None, value count, child nt id)
_Derive = Callable[[Callable[[], float], int, int, int], Node]


def sample_tree(grammar: Grammar, rng: Random, min_primitives: int = 1, max_primitives: int = 8,
                nonterminal: str | None = None, max_depth: int = 24) -> Node:
    """A random derivation of ``nonterminal`` (default: the start symbol) with a bounded primitive count.

    The primitive count ``n`` is drawn uniformly among the counts in ``[min_primitives, max_primitives]``
    that a tree of height at most ``max_depth`` can have. The tree is then derived top-down: at each node a
    production is drawn by weight among those that can still reach the node's budget, the budget is split
    among the nonterminal children uniformly over the feasible values (child by child), and terminal values
    are uniform over the terminal's values. Zero-weight productions are used only when nothing else fits.
    Raises TreeError when no tree fits the bounds.
    """
    return sampler(grammar, max_primitives, max_depth).sample(rng, min_primitives, max_primitives, nonterminal,
                                                              max_depth)


def minimal_tree(grammar: Grammar, nonterminal: str | None = None) -> Node:
    """The deterministic smallest derivation of ``nonterminal``: fewest primitives, then lowest height.

    Ties go to the earliest production; terminal slots take the terminal's first value.
    """
    plan = sampler(grammar, 0, 1)
    return plan.minimal(plan.nt_id(nonterminal or grammar.start))


_CACHE: weakref.WeakKeyDictionary[Grammar, Sampler] = weakref.WeakKeyDictionary()


def sampler(grammar: Grammar, max_primitives: int, max_depth: int) -> Sampler:
    """The cached :class:`Sampler` for ``grammar``, rebuilt only when it must cover larger bounds."""
    plan = _CACHE.get(grammar)
    if plan is None or max_primitives > plan.cap:
        cap = max(max_primitives, 16, 2 * plan.cap if plan else 0)
        plan = Sampler(grammar, cap)
        _CACHE[grammar] = plan
    if max_depth >= len(plan.choose):
        plan.extend(max_depth)
    return plan


def _bits(mask: int) -> list[int]:
    """The members of a bit set, ascending."""
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out


def _add(a: int, b: int, full: int) -> int:
    """Minkowski sum of two bit sets of counts, truncated to ``full``."""
    out = 0
    while a:
        low = a & -a
        out |= b * low
        a ^= low
    return out & full


class Sampler:
    """Per-grammar tables for sampling: which primitive counts each nonterminal and production can reach at
    each height (up to ``cap`` primitives), the productions that fit each budget, and the feasible budget
    splits among children (filled lazily: they grow with the square of ``cap``). Tables at heights past the
    point where they stop changing share one object."""

    def __init__(self, grammar: Grammar, cap: int) -> None:
        # the grammar's parts, not the grammar: a cache value must not keep its weak key alive
        self.name, self.start = grammar.name, grammar.start
        self.nonterminals, self.productions, self.rules = grammar.nonterminals, grammar.productions, grammar.rules
        self.cap = cap
        self.full = (1 << (cap + 1)) - 1
        nts = grammar.nonterminals
        self.nt_index = {nt: i for i, nt in enumerate(nts)}
        prods = grammar.productions
        self.kids = [tuple(self.nt_index[s.symbol] for s in p.slots if s.terminal is None) for p in prods]
        self.prim = [1 if p.primitive else 0 for p in prods]
        self.recipe: list[tuple[_SlotRecipe, ...]] = [
            tuple((s.terminal.values, s.terminal.size, -1) if s.terminal is not None
                  else (None, 0, self.nt_index[s.symbol]) for s in p.slots) for p in prods]
        # reach[h][nt]: bit set of primitive counts of trees of height <= h
        self.reach: list[list[int]] = [[0] * len(nts)]
        self.choose: list[list[list[_Choice]]] = [[[None] * (cap + 1) for _ in nts]]
        # split[h][p][j][r]: the budgets child j of p at height h may take when children j.. share r
        self.split: list[list[list[list[tuple[int, ...] | None]]]] = [[[] for _ in prods]]
        self.suffix: list[list[list[int]]] = [[[] for _ in prods]]  # sums reachable by children j.. of p
        self._counts: dict[tuple[int, int, int, int], tuple[int, ...]] = {}
        self._minimal: dict[int, Node] = {}
        while True:
            self._grow()
            if self.reach[-1] == self.reach[-2]:
                break
        self._grow()  # tables at height h read reach[h - 1]: one more level makes them stable too
        self.stable = len(self.choose) - 1
        self.derive = self._make_derive()

    def _grow(self) -> None:
        """Add the tables for the next height."""
        below = self.reach[-1]
        full = self.full
        reach = [0] * len(below)
        per_prod: list[int] = []
        splits: list[list[list[tuple[int, ...] | None]]] = []
        suffixes: list[list[int]] = []
        for p in self.productions:
            kids = self.kids[p.index]
            suffix = [1] * (len(kids) + 1)
            for i in range(len(kids) - 1, -1, -1):
                suffix[i] = _add(below[kids[i]], suffix[i + 1], full)
            mask = (suffix[0] << self.prim[p.index]) & full
            per_prod.append(mask)
            reach[self.nt_index[p.lhs]] |= mask
            suffixes.append(suffix)
            splits.append([[None] * (self.cap + 1) for _ in range(len(kids) - 1)])
        choose: list[list[_Choice]] = []
        for nt in self.nonterminals:
            row: list[_Choice] = []
            for s in range(self.cap + 1):
                fit = tuple(p for p in self.rules[nt] if per_prod[p.index] >> s & 1)
                row.append(_choice(fit) if fit else None)
            choose.append(row)
        self.reach.append(reach)
        self.choose.append(choose)
        self.split.append(splits)
        self.suffix.append(suffixes)

    def extend(self, max_depth: int) -> None:
        """Make the tables cover heights up to ``max_depth`` (shared references past the stable height)."""
        if max_depth > MAX_DEPTH_LIMIT:
            raise TreeError(f"max_depth {max_depth} is too deep; expected at most {MAX_DEPTH_LIMIT} "
                            "(trees are processed recursively)")
        top = self.stable
        while len(self.choose) <= max_depth:
            self.reach.append(self.reach[top])
            self.choose.append(self.choose[top])
            self.split.append(self.split[top])
            self.suffix.append(self.suffix[top])

    def nt_id(self, nonterminal: str) -> int:
        """The index of ``nonterminal``; TreeError naming the known ones if it is not in the grammar."""
        try:
            return self.nt_index[nonterminal]
        except KeyError:
            raise TreeError(f"grammar {self.name!r} has no nonterminal {nonterminal!r}; expected one of: "
                            + ", ".join(self.nonterminals)) from None

    def counts(self, nt: int, lo: int, hi: int, max_depth: int) -> tuple[int, ...]:
        """The primitive counts in ``[lo, hi]`` a tree of ``nt`` with height <= ``max_depth`` can have."""
        key = (nt, lo, hi, max_depth)
        found = self._counts.get(key)
        if found is None:
            found = tuple(n for n in _bits(self.reach[max_depth][nt]) if lo <= n <= hi)
            self._counts[key] = found
        return found

    def sample(self, rng: Random, lo: int, hi: int, nonterminal: str | None, max_depth: int) -> Node:
        """See :func:`sample_tree`; ``hi`` must not exceed :attr:`cap`."""
        nt = self.nt_id(nonterminal or self.start)
        if max_depth < 1 or max_depth >= len(self.choose):
            self.extend(max(max_depth, 0))
        sizes = self.counts(nt, lo, hi, max_depth) if max_depth >= 1 else ()
        if not sizes:
            name = self.nonterminals[nt]
            can = _bits(self.reach[max(max_depth, 0)][nt])
            shown = ", ".join(map(str, can[:12])) + (", ..." if len(can) > 12 else "") if can else "none"
            raise TreeError(f"grammar {self.name!r}: no tree of {name!r} has between {lo} and {hi} "
                            f"primitives within height {max_depth}; reachable counts up to {self.cap}: {shown}; "
                            "hint: widen the primitive bounds or raise max_depth")
        random = rng.random
        n = sizes[int(random() * len(sizes))] if len(sizes) > 1 else sizes[0]
        return self.derive(random, nt, max_depth, n)

    def _make_derive(self) -> _Derive:
        """The recursive derivation step, closed over the tables so the inner loop stays lean."""
        choose, split, recipe, prim = self.choose, self.split, self.recipe, self.prim
        last_kid = [len(k) - 1 for k in self.kids]

        def derive(random: Callable[[], float], nt: int, h: int, s: int) -> Node:
            choice = choose[h][nt][s]
            assert choice is not None  # callers only ask for reachable (nt, height, budget) triples
            prods, cum, total = choice
            if len(prods) == 1:
                p = prods[0]
            else:
                i = bisect_right(cum, random() * total)
                p = prods[i if i < len(prods) else -1]
            pid = p.index
            r = s - prim[pid]
            kids: list[Child] = []
            j = 0
            last = last_kid[pid]
            for values, size, child in recipe[pid]:
                if values is not None:
                    kids.append(values[int(random() * size)])
                    continue
                if j == last:
                    x = r
                else:
                    opts = split[h][pid][j][r] or self._split_options(h, pid, j, r)
                    x = opts[int(random() * len(opts))] if len(opts) > 1 else opts[0]
                r -= x
                j += 1
                kids.append(derive(random, child, h - 1, x))
            return Node(p, tuple(kids))

        return derive

    def _split_options(self, h: int, pid: int, j: int, r: int) -> tuple[int, ...]:
        """Fill and return ``split[h][pid][j][r]`` (never empty for a reachable budget)."""
        follow = self.suffix[h][pid][j + 1]
        opts = tuple(x for x in _bits(self.reach[h - 1][self.kids[pid][j]]) if x <= r and follow >> (r - x) & 1)
        self.split[h][pid][j][r] = opts
        return opts

    def minimal(self, nt: int) -> Node:
        """See :func:`minimal_tree` (cached per nonterminal)."""
        found = self._minimal.get(nt)
        if found is None:
            found = self._build_minimal(nt, self._minimal_choice())
            self._minimal[nt] = found
        return found

    def _minimal_choice(self) -> dict[int, Production]:
        """For each nonterminal, the earliest production of its least (sigma, height) derivation."""
        inf = (1 << 60, 1 << 60)
        best = [inf] * len(self.nonterminals)
        cost = [inf] * len(self.productions)
        changed = True
        while changed:
            changed = False
            for p in self.productions:
                kids = [best[k] for k in self.kids[p.index]]
                if inf in kids:
                    continue
                cost[p.index] = (self.prim[p.index] + sum(k[0] for k in kids),
                                 1 + max((k[1] for k in kids), default=0))
                lhs = self.nt_index[p.lhs]
                if cost[p.index] < best[lhs]:
                    best[lhs] = cost[p.index]
                    changed = True
        return {self.nt_index[p.lhs]: p for p in reversed(self.productions) if cost[p.index] == best[
            self.nt_index[p.lhs]]}

    def _build_minimal(self, nt: int, pick: dict[int, Production]) -> Node:
        p = pick[nt]
        kids: list[Child] = [values[0] if values is not None else self._build_minimal(child, pick)
                             for values, _, child in self.recipe[p.index]]
        return Node(p, tuple(kids))


def _choice(fit: tuple[Production, ...]) -> tuple[tuple[Production, ...], tuple[float, ...], float]:
    """Cumulative weights over the productions that fit (uniform when they all weigh zero)."""
    weights = [p.weight for p in fit]
    if sum(weights) <= 0:
        weights = [1.0] * len(fit)
    cum: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    return fit, tuple(cum), total
