"""Syntax trees: immutable, hashable nodes of productions with named fields, paths and printing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar, Production, Value

Child = Union["Node", Value]
Path = tuple[int, ...]  # child indices (slot positions) from the root


class Node:
    """One production applied to its children (nodes for nonterminal slots, values for terminal slots).

    Nodes are immutable and compare by production name and children, so equal programs hash equal
    even across two loads of the same grammar. ``sigma`` counts primitive nodes in the subtree and
    ``size`` counts all nodes (leaf values excluded).
    """

    __slots__ = ("production", "children", "sigma", "size", "_hash")

    production: Production
    children: tuple[Child, ...]
    sigma: int
    size: int

    def __init__(self, production: Production, children: tuple[Child, ...]) -> None:
        self.production = production
        self.children = children
        sigma = 1 if production.primitive else 0
        size = 1
        for c in children:
            if type(c) is Node:
                sigma += c.sigma
                size += c.size
        self.sigma = sigma
        self.size = size
        self._hash = hash((production.name, children))

    @property
    def name(self) -> str:
        """The production's name (the node label)."""
        return self.production.name

    def __getitem__(self, field: str) -> Child:
        try:
            return self.children[self.production.field_index[field]]
        except KeyError:
            fields = ", ".join(self.production.field_index) or "none"
            raise TreeError(f"node {self.name!r} has no field {field!r}; its fields are: {fields}") from None

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not Node or self._hash != other._hash:
            return False
        stack: list[tuple[Node, Node]] = [(self, other)]  # iterative: deep trees compare without recursion
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if a._hash != b._hash or a.production.name != b.production.name or len(a.children) != len(b.children):
                return False
            for x, y in zip(a.children, b.children):
                if type(x) is Node or type(y) is Node:
                    if type(x) is not type(y):
                        return False
                    stack.append((x, y))  # type: ignore[arg-type]
                elif x != y:
                    return False
        return True

    def __repr__(self) -> str:
        return f"Node<{to_text(self)}>"

    def __str__(self) -> str:
        return to_text(self)


def to_text(node: Node) -> str:
    """Print a tree as program text using its productions' forms (iteratively: any depth)."""
    out: list[str] = []
    stack: list[Node | str] = [node]
    while stack:
        item = stack.pop()
        if type(item) is str:
            out.append(item)
            continue
        assert isinstance(item, Node)
        parts: list[Node | str] = []
        i = 0
        for piece in item.production.pieces:
            if type(piece) is str:
                parts.append(piece)
                continue
            child = item.children[i]
            i += 1
            if isinstance(child, Node):
                parts.append(child)
            else:
                parts.append(piece.terminal.text(child) if piece.terminal else str(child))  # type: ignore[union-attr]
        stack.extend(reversed(parts))
    return "".join(out)


def walk(node: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Every node (not leaf values) in prefix order with its path (iteratively: any depth)."""
    stack = [(path, node)]
    while stack:
        here, cur = stack.pop()
        yield here, cur
        kids = cur.children
        for i in range(len(kids) - 1, -1, -1):
            c = kids[i]
            if type(c) is Node:
                stack.append((here + (i,), c))


def nodes_prefix(node: Node) -> list[tuple[Path, Node]]:
    """List form of :func:`walk` (prefix order)."""
    return list(walk(node))


def get(node: Node, path: Path) -> Node:
    """The subtree at ``path``."""
    cur = node
    for step in path:
        try:
            nxt = cur.children[step]
        except IndexError:
            raise TreeError(f"path {path} leaves the tree at {cur.name!r} (it has {len(cur.children)} "
                            "children)") from None
        if type(nxt) is not Node:
            raise TreeError(f"path {path} ends in a leaf value; expected a node")
        cur = nxt
    return cur


def replace(node: Node, path: Path, new: Node) -> Node:
    """A copy of ``node`` with the subtree at ``path`` replaced by ``new`` (shares untouched subtrees)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    child = node.children[head]
    if type(child) is not Node:
        raise TreeError(f"path {path} ends in a leaf value; expected a node")
    kids = list(node.children)
    kids[head] = replace(child, rest, new)
    return Node(node.production, tuple(kids))


def set_leaf(node: Node, path: Path, index: int, value: Value) -> Node:
    """A copy of ``node`` with leaf ``index`` of the node at ``path`` set to ``value`` (shares the rest)."""
    owner = get(node, path)
    kids = owner.children[:index] + (value,) + owner.children[index + 1:]
    return replace(node, path, Node(owner.production, kids))


def nonterminal_at(root: Node, path: Path) -> str:
    """The nonterminal a subtree at ``path`` must derive (the root's is the grammar's start)."""
    return get(root, path).production.lhs


def validate(node: Node, grammar: Grammar, nonterminal: str | None = None) -> None:
    """Raise TreeError unless ``node`` is a well-typed derivation of ``nonterminal`` in ``grammar``."""
    stack: list[tuple[Node, str]] = [(node, nonterminal or grammar.start)]
    while stack:  # iterative: deep trees validate without recursion
        node, want = stack.pop()
        prod = grammar.by_name.get(node.name)
        if prod is None or prod.lhs != want:
            raise TreeError(f"node {node.name!r} is not a production of nonterminal {want!r}; expected one of: "
                            + ", ".join(p.name for p in grammar.rules.get(want, ())))
        if len(node.children) != len(prod.slots):
            raise TreeError(f"node {node.name!r} has {len(node.children)} children; expected {len(prod.slots)}")
        below = []
        for slot, child in zip(prod.slots, node.children):
            if slot.terminal is None:
                if type(child) is not Node:
                    raise TreeError(f"field {slot.field!r} of {node.name!r} holds {child!r}; expected a "
                                    f"{slot.symbol}")
                below.append((child, slot.symbol))
            elif isinstance(child, Node) or not slot.terminal.contains(child):
                raise TreeError(f"field {slot.field!r} of {node.name!r} holds {child!r}; expected "
                                f"{slot.terminal.describe()}")
        stack.extend(reversed(below))  # children left to right


def build(grammar: Grammar, production: str, **fields: Child) -> Node:
    """Convenience constructor by production name and field values (checked)."""
    try:
        prod = grammar.by_name[production]
    except KeyError:
        raise TreeError(f"grammar {grammar.name!r} has no production {production!r}") from None
    missing = [s.field for s in prod.slots if s.field not in fields]
    extra = [f for f in fields if f not in prod.field_index]
    if missing or extra:
        raise TreeError(f"production {production!r} needs fields {[s.field for s in prod.slots]}; "
                        f"missing {missing}, unexpected {extra}")
    node = Node(prod, tuple(fields[s.field] for s in prod.slots))
    validate(node, grammar, prod.lhs)
    return node


@dataclass(frozen=True)
class Edit:
    """Replace the subtree at ``path`` with ``replacement`` (which derives the same nonterminal)."""

    path: Path
    replacement: Node

    def apply(self, tree: Node) -> Node:
        """The tree after this edit."""
        return replace(tree, self.path, self.replacement)


def skeleton(tree: Node) -> tuple[str, ...]:
    """The production names of ``tree`` in prefix order: its shape without the leaf values (two programs that
    differ only in their terminals share a skeleton)."""
    out: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        out.append(node.production.name)
        stack.extend(c for c in reversed(node.children) if type(c) is Node)
    return tuple(out)
