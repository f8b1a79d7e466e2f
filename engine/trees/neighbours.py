"""Local edits: every program one small step away, by a typed leaf (an int +-1, another enum word, a flipped
bool), by hoisting a subtree into the place of an ancestor of the same nonterminal, or by swapping a node's
production for another that keeps its children and leaves; and, one ring further out, steps of two leaves of
the same node at once, of two integer leaves of one field in different nodes, or a node wrapped in a new parent
(the inverse of a hoist).

These edits are grammar-agnostic and cheap, and they are exactly what a learned denoiser finds hardest: the
last integer of a coordinate, or dropping a part that a search added on its way. Search methods add them as
extra proposals next to the model's edits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import cast

from treediff.engine.grammar.grammar import Grammar, Production, Terminal, Value
from treediff.engine.trees.derivation import minimal_tree
from treediff.engine.trees.tree import Edit, Node, Path, get, set_leaf, walk

MAX_ENUM_ALTERNATIVES = 12  # enum terminals with more words only try the declared neighbours
WRAP_COMBINATIONS = 32  # a wrapping production's own leaves take every combination of values up to this many


def leaf_steps(terminal: Terminal, value: Value, int_step: int = 1) -> list[Value]:
    """The values one step from ``value``: ints ``+-1..int_step`` within range, the other words of a small enum
    (the two declared neighbours of a large one), the other bool."""
    if terminal.kind == "bool":
        return [not value]
    values = terminal.values
    i = terminal.index(value)
    if terminal.kind == "enum" and len(values) <= MAX_ENUM_ALTERNATIVES:
        return [v for v in values if v != value]
    span = int_step if terminal.kind == "int" else 1
    out: list[Value] = []
    for d in range(1, span + 1):
        for j in (i - d, i + d):
            if 0 <= j < len(values):
                out.append(values[j])
    return out


def hoist_edits(tree: Node) -> Iterator[Edit]:
    """Every edit that replaces a node by one of its proper descendants deriving the same nonterminal
    (``(+ a b)`` -> ``a``): the program shrinks and stays valid."""
    for path, node in walk(tree):
        seen: set[Node] = set()
        below: list[Node] = [c for c in node.children if type(c) is Node]
        while below:  # proper descendants, last child first (the order search results were measured with)
            sub = below.pop()
            if sub.production.lhs == node.production.lhs and sub not in seen:
                seen.add(sub)
                yield Edit(path, sub)
            below.extend(c for c in sub.children if type(c) is Node)


def local_edits(tree: Node, int_step: int = 1) -> list[Edit]:
    """The leaf steps (:func:`neighbour_edits`) and hoists (:func:`hoist_edits`) of ``tree``."""
    return [*neighbour_edits(tree, int_step), *hoist_edits(tree)]


def neighbour_edits(tree: Node, int_step: int = 1) -> Iterator[Edit]:
    """Every single-leaf edit of ``tree`` (see :func:`leaf_steps`), in prefix order of the leaves.

    Each edit replaces the node that owns the leaf by a copy with the one value changed, so it applies like
    any model-proposed edit and keeps the program valid.
    """
    for path, node in walk(tree):
        kids = node.children
        for i, slot in enumerate(node.production.slots):
            if slot.terminal is None:
                continue
            for value in leaf_steps(slot.terminal, kids[i], int_step):  # type: ignore[arg-type]
                yield Edit(path, Node(node.production, kids[:i] + (value,) + kids[i + 1:]))


def repeat_step(parent: Node, edit: Edit) -> Edit | None:
    """The same integer step once more: when ``edit`` changes exactly one integer leaf of the node at its path
    in ``parent`` (by ``d``), the edit that changes that leaf of ``edit.apply(parent)`` by ``d`` again. None
    when ``edit`` is anything else or the next value leaves the terminal's range. Where one step of a
    coordinate, a size or a gap made a program better, the next step in the same direction often does too."""
    old, new = get(parent, edit.path), edit.replacement
    if type(old) is not Node or old.production.name != new.production.name:
        return None
    changed = [i for i, (a, b) in enumerate(zip(old.children, new.children, strict=True)) if a != b]
    if len(changed) != 1:
        return None
    i = changed[0]
    terminal = new.production.slots[i].terminal
    if terminal is None or terminal.kind != "int":
        return None
    value = 2 * new.children[i] - old.children[i]  # type: ignore[operator]
    if not terminal.lo <= value <= terminal.hi:
        return None
    return Edit(edit.path, Node(new.production, new.children[:i] + (value,) + new.children[i + 1:]))


def joint_edits(tree: Node, int_step: int = 1) -> Iterator[Edit]:
    """Every edit that steps two leaves of the same node at once (each by :func:`leaf_steps`).

    Leaves of one node are often coupled: a shape's position and size, or its size and the layout around
    it, trade off so that each single step makes the executed result worse while the pair makes it better.
    The ring is larger (a node with leaves of ``a_1..a_k`` alternatives has ``sum_{i<j} a_i a_j`` pair
    steps), so search tries it after the single steps (:func:`neighbour_edits`) are used up.
    """
    for path, node in walk(tree):
        kids = node.children
        slots = [(i, leaf_steps(s.terminal, kids[i], int_step))  # type: ignore[arg-type]
                 for i, s in enumerate(node.production.slots) if s.terminal is not None]
        for a, (i, steps_i) in enumerate(slots):
            for j, steps_j in slots[a + 1:]:
                for vi in steps_i:
                    for vj in steps_j:
                        new = list(kids)
                        new[i], new[j] = vi, vj
                        yield Edit(path, Node(node.production, tuple(new)))


def field_pair_edits(tree: Node, int_step: int = 1) -> Iterator[Edit]:
    """Every edit that steps two integer leaves of the same field name in different nodes at once (each by
    :func:`leaf_steps`): the gaps of two nested layouts, the widths of two shapes.

    Such leaves compensate each other: where a layout centres its content, narrowing one gap and widening
    another moves one part alone, while each single step moves everything and makes the executed result
    worse. The edit replaces the two nodes' lowest common ancestor, so it applies like any other. Pairs come
    in prefix order of their first leaf; the ring is small (a few pairs of each field) next to
    :func:`joint_edits`.
    """
    leaves = [(path, i, slot.field, slot.terminal, cast(Value, node.children[i])) for path, node in walk(tree)
              for i, slot in enumerate(node.production.slots)
              if slot.terminal is not None and slot.terminal.kind == "int"]
    for a, (path_a, i, field, terminal_a, value_a) in enumerate(leaves):
        for path_b, j, field_b, terminal_b, value_b in leaves[a + 1:]:
            if field_b != field or path_b == path_a:
                continue
            top = _common_prefix(path_a, path_b)
            ancestor, below_a, below_b = get(tree, top), path_a[len(top):], path_b[len(top):]
            for va in leaf_steps(terminal_a, value_a, int_step):
                sub = set_leaf(ancestor, below_a, i, va)
                for vb in leaf_steps(terminal_b, value_b, int_step):
                    yield Edit(top, set_leaf(sub, below_b, j, vb))


def _common_prefix(a: Path, b: Path) -> Path:
    """The longest path that starts both ``a`` and ``b`` (their lowest common ancestor)."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def swap_edits(grammar: Grammar, tree: Node) -> Iterator[Edit]:
    """Every edit that rewrites one node with another production of the same nonterminal, keeping what the two
    share: slots of the same field name and symbol carry over (children and leaf values).

    The new production's other terminal slots, grouped by terminal, each group taking one common value: the
    first group runs through all its values (one edit each), the others start at their lowest value. A
    production is skipped when it shares no slot, would drop a child subtree (hoists do that) or has a
    nonterminal slot that nothing carries over into (it would need a new subtree).
    So ``(Quad 5 5 5 5 5)`` becomes ``(Circle r 5 5)`` for every radius ``r``, ``(+ a b)`` becomes ``(- a b)``,
    and a rectangle becomes the ellipse of the same size and colours.
    """
    for path, node in walk(tree):
        old = {(s.field, s.symbol): kid for s, kid in zip(node.production.slots, node.children)}
        for production in grammar.rules[node.production.lhs]:
            if production is node.production:
                continue
            missing = [s for s in production.slots if (s.field, s.symbol) not in old]
            kept = {(s.field, s.symbol) for s in production.slots} & old.keys()
            dropped = [k for k, kid in old.items() if k not in kept and type(kid) is Node]
            if not kept or dropped or any(s.terminal is None for s in missing):
                continue
            terminals = {s.symbol: s.terminal for s in missing}  # every missing slot is a terminal here
            fill = {symbol: terminal.values[0] for symbol, terminal in terminals.items()}  # type: ignore[union-attr]
            first = next(iter(terminals), None)
            for value in terminals[first].values if first is not None else (None,):  # type: ignore[union-attr]
                if first is not None:
                    fill[first] = value
                kids = tuple(old.get((s.field, s.symbol), fill.get(s.symbol)) for s in production.slots)
                yield Edit(path, Node(production, kids))  # type: ignore[arg-type]


def wrap_edits(grammar: Grammar, tree: Node) -> Iterator[Edit]:
    """Every edit that puts a node inside a new parent of its own nonterminal (the inverse of a hoist):
    ``a`` -> ``(+ a m)`` and ``(+ m a)``, where ``m`` is the grammar's minimal subtree of each other child slot
    (:func:`~treediff.engine.trees.derivation.minimal_tree`; typically something that executes to nothing).

    The new parent's own leaves take every combination of their values when there are at most
    ``WRAP_COMBINATIONS`` of them, otherwise their first values and every single step from those
    (:func:`leaf_steps`). Where a layout is relative, a wrap moves one part by a fraction of the grid that no
    leaf step reaches (an empty neighbour ``GAP`` pixels away shifts a centred part by half that), and where
    the new parent combines its children, it adds a place to build on. Nodes come in prefix order, then
    productions in grammar order, then leaf values, then the slot the node goes into.
    """
    fillers = {nt: minimal_tree(grammar, nt) for nt in grammar.rules}
    parents = _wrap_parents(grammar)
    for path, node in walk(tree):
        for production, holes, combinations in parents[node.production.lhs]:
            for leaves in combinations:
                for hole in holes:
                    kids = tuple(node if i == hole else fillers[s.symbol] if s.terminal is None else leaves[i]
                                 for i, s in enumerate(production.slots))
                    yield Edit(path, Node(production, kids))


def _wrap_parents(grammar: Grammar) -> dict[str, list[tuple[Production, list[int], list[dict[int, Value]]]]]:
    """Per nonterminal, the productions a node of it can be wrapped in: each with the slots the node may go into
    and the leaf values it is tried with (worked out once per call of :func:`wrap_edits`, not per node)."""
    parents: dict[str, list[tuple[Production, list[int], list[dict[int, Value]]]]] = {}
    for lhs, productions in grammar.rules.items():
        parents[lhs] = []
        for production in productions:
            holes = [i for i, s in enumerate(production.slots) if s.terminal is None and s.symbol == lhs]
            if holes:
                parents[lhs].append((production, holes, _wrap_leaves(production)))
    return parents


def _wrap_leaves(production: Production) -> list[dict[int, Value]]:
    """The leaf values a wrapping ``production`` is tried with (slot index -> value): every combination, or,
    above ``WRAP_COMBINATIONS``, the first values and each single step from them."""
    slots = [(i, s.terminal) for i, s in enumerate(production.slots) if s.terminal is not None]
    values: list[Sequence[Value]] = [t.values for _, t in slots]
    if math.prod(len(v) for v in values) <= WRAP_COMBINATIONS:
        return [dict(zip([i for i, _ in slots], combo, strict=True)) for combo in itertools.product(*values)]
    first = {i: t.values[0] for i, t in slots}
    return [first] + [{**first, i: v} for i, t in slots for v in leaf_steps(t, t.values[0])]

