"""The noise process: small-subtree mutations, the forward process, and reverse edit paths to a target."""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree, sampler
from treediff.engine.trees.neighbours import leaf_steps
from treediff.engine.trees.tree import Child, Edit, Node, Path, replace, set_leaf, walk

SIGMA_SMALL = 2  # default: most primitives in a mutated / replacement subtree (ModelConfig.sigma_small too)
RESAMPLE_TRIES = 64  # draws of a replacement for one node before trying another node
LEAF_STEP = 2  # largest change of an int leaf in a forward leaf step


def small_nodes(tree: Node, sigma_small: int) -> list[tuple[Path, Node]]:
    """Every node whose subtree has at most ``sigma_small`` primitives, with its path, in prefix order."""
    out: list[tuple[Path, Node]] = []
    stack: list[tuple[Path, Node]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        if node.sigma <= sigma_small:
            out.append((path, node))
        kids = node.children
        for i in range(len(kids) - 1, -1, -1):
            child = kids[i]
            if type(child) is Node:
                stack.append((path + (i,), child))
    return out


def mutate(tree: Node, grammar: Grammar, rng: Random, sigma_small: int = SIGMA_SMALL,
           max_depth: int = 24) -> tuple[Node, Edit]:
    """Replace one small subtree by a different random one; returns the new tree and the edit that made it.

    The node is drawn uniformly among those whose subtree has sigma <= ``sigma_small``; the replacement
    derives the same nonterminal, has sigma between the smallest reachable count and ``sigma_small``, keeps
    the whole tree within ``max_depth`` levels where it can, and never equals the old subtree. A node with no
    different replacement (after :data:`RESAMPLE_TRIES` draws) is dropped and another is drawn. Raises
    TreeError when no node can be mutated.
    """
    plan = sampler(grammar, sigma_small, max_depth)
    random = rng.random
    candidates = small_nodes(tree, sigma_small)
    while candidates:
        i = int(random() * len(candidates))
        path, old = candidates[i]
        nt = plan.nt_id(old.production.lhs)
        height = max(max_depth - len(path), grammar.min_height[old.production.lhs], 1)
        if height >= len(plan.choose):
            plan.extend(height)
        sizes = plan.counts(nt, 0, sigma_small, height)
        for _ in range(RESAMPLE_TRIES if sizes else 0):
            n = sizes[int(random() * len(sizes))] if len(sizes) > 1 else sizes[0]
            new = plan.derive(random, nt, height, n)
            if new != old:
                return replace(tree, path, new), Edit(path, new)
        candidates[i] = candidates[-1]
        candidates.pop()
    raise TreeError(f"no subtree of {tree} with at most {sigma_small} primitives can be replaced by a different "
                    "one; hint: raise sigma_small")


def leaf_step(tree: Node, rng: Random, int_step: int = LEAF_STEP) -> Node:
    """``tree`` with one typed leaf, drawn uniformly, moved one step (:func:`~treediff.engine.trees.neighbours.
    leaf_steps`: an int by up to ``int_step``, another enum word, the other bool); ``tree`` itself when it has
    no leaf with another value."""
    leaves = [(path, node, i) for path, node in walk(tree) for i, slot in enumerate(node.production.slots)
              if slot.terminal is not None]
    while leaves:
        j = int(rng.random() * len(leaves))
        path, node, i = leaves[j]
        values = leaf_steps(node.production.slots[i].terminal, node.children[i], int_step)  # type: ignore[arg-type]
        if values:
            value = values[int(rng.random() * len(values))]
            return set_leaf(tree, path, i, value)
        leaves[j] = leaves[-1]
        leaves.pop()
    return tree


def hoist(tree: Node, rng: Random, sigma_small: int = SIGMA_SMALL) -> Node:
    """``tree`` with one node of at most ``sigma_small`` primitives replaced by one of its own children of the same
    nonterminal, drawn uniformly among such (node, child) pairs: the program with a part missing and the rest
    exact, which one edit (writing the node back) restores. ``tree`` itself when no node has such a child."""
    pairs = [(path, child) for path, node in small_nodes(tree, sigma_small) for child in node.children
             if type(child) is Node and child.production.lhs == node.production.lhs]
    if not pairs:
        return tree
    path, child = pairs[int(rng.random() * len(pairs))]
    return replace(tree, path, child)


def noise_step(tree: Node, grammar: Grammar, rng: Random, sigma_small: int = SIGMA_SMALL, max_depth: int = 24,
               p_leaf: float = 0.0, p_hoist: float = 0.0) -> Node:
    """One step of the forward process: a :func:`leaf_step` with probability ``p_leaf``, a :func:`hoist` with
    probability ``p_hoist`` (a :func:`mutate` where nothing can be hoisted), else a :func:`mutate`. No random draw
    for the choice when both are 0, so such noise is the same as without them; ``p_hoist`` 0 keeps the draws of
    leaf-step noise as they were."""
    if p_leaf > 0 or p_hoist > 0:
        r = rng.random()
        if r < p_leaf:
            return leaf_step(tree, rng)
        if r < p_leaf + p_hoist:
            hoisted = hoist(tree, rng, sigma_small)
            if hoisted is not tree:
                return hoisted
    return mutate(tree, grammar, rng, sigma_small, max_depth)[0]


def forward(target: Node, grammar: Grammar, rng: Random, k_max: int = 5, p_fresh: float = 0.2,
            sigma_small: int = SIGMA_SMALL, min_primitives: int = 1, max_primitives: int = 8,
            max_depth: int = 24, p_leaf: float = 0.0, p_hoist: float = 0.0) -> Node:
    """The forward (noising) process applied to ``target``.

    With probability ``p_fresh`` a brand-new random program of the target's nonterminal with
    ``min_primitives..max_primitives`` primitives; otherwise ``k ~ U{1..k_max}`` successive
    :func:`noise_step` s, each a :func:`leaf_step` with probability ``p_leaf`` (the near misses a search
    meets: every part right, a few leaves a step or two off), a :func:`hoist` with probability ``p_hoist`` (a
    part missing, the rest exact: the smaller programs searches stop on) and a :func:`mutate` otherwise.
    Mutations may move sigma outside the primitive bounds by up to ``sigma_small`` per step.
    """
    if k_max < 1 or not 0.0 <= p_fresh <= 1.0 or not (0.0 <= p_leaf and 0.0 <= p_hoist and p_leaf + p_hoist <= 1.0):
        raise ValueError(f"forward needs k_max >= 1, 0 <= p_fresh <= 1 and p_leaf, p_hoist >= 0 with p_leaf + "
                         f"p_hoist <= 1; got k_max={k_max}, p_fresh={p_fresh}, p_leaf={p_leaf}, p_hoist={p_hoist}")
    if rng.random() < p_fresh:
        return sample_tree(grammar, rng, min_primitives, max_primitives, target.production.lhs, max_depth)
    tree = target
    for _ in range(1 + int(rng.random() * k_max)):
        tree = noise_step(tree, grammar, rng, sigma_small, max_depth, p_leaf, p_hoist)
    return tree


def reverse_path(noised: Node, target: Node, grammar: Grammar, sigma_small: int = SIGMA_SMALL) -> list[Edit]:
    """Edits that, applied in order, turn ``noised`` into ``target``; deterministic.

    Each replacement has sigma <= ``sigma_small`` whenever the grammar allows it. Walking down from the
    root, where the current node ``c`` and target node ``t`` differ: with the same production and terminal
    values, recurse into the differing children (or, when ``t`` is small and two or more children differ,
    replace ``c`` by ``t`` in one edit); otherwise a small ``t`` replaces ``c`` outright, and a large ``t``
    is first laid down as a small skeleton (its production and values, children kept from ``t`` while the
    skeleton stays within ``sigma_small``, else minimal derivations) whose children are then repaired. Each
    edit's path refers to the tree as it is when the edit is applied.
    """
    if noised.production.lhs != target.production.lhs:
        raise TreeError(f"cannot edit {noised} into {target}: they derive {noised.production.lhs!r} and "
                        f"{target.production.lhs!r}; expected trees of the same nonterminal")
    plan = sampler(grammar, sigma_small, 1)
    edits: list[Edit] = []
    _repair(noised, target, (), sigma_small, lambda nt: plan.minimal(plan.nt_id(nt)), edits)
    return edits


def path_length(noised: Node, target: Node, grammar: Grammar, sigma_small: int = SIGMA_SMALL) -> int:
    """Number of edits in :func:`reverse_path` (0 exactly when the trees are equal)."""
    return len(reverse_path(noised, target, grammar, sigma_small))


def _repair(c: Node, t: Node, path: Path, small: int, minimal: Callable[[str], Node], edits: list[Edit]) -> None:
    if c == t:
        return
    if c.production.name == t.production.name and _same_values(c.children, t.children):
        diff = [i for i, (a, b) in enumerate(zip(c.children, t.children)) if type(b) is Node and a != b]
        if t.sigma <= small and len(diff) >= 2:
            edits.append(Edit(path, t))
            return
        for i in diff:
            _repair(c.children[i], t.children[i], path + (i,), small, minimal, edits)  # type: ignore[arg-type]
        return
    if t.sigma <= small:
        edits.append(Edit(path, t))
        return
    skeleton = _skeleton(t, small, minimal)
    edits.append(Edit(path, skeleton))
    for i, child in enumerate(t.children):
        if type(child) is Node:
            _repair(skeleton.children[i], child, path + (i,), small, minimal, edits)  # type: ignore[arg-type]


def _same_values(a: tuple[Child, ...], b: tuple[Child, ...]) -> bool:
    """Whether two child tuples of one production hold the same terminal values."""
    return all(x == y for x, y in zip(a, b) if type(y) is not Node)


def _skeleton(t: Node, small: int, minimal: Callable[[str], Node]) -> Node:
    """``t``'s production and values with children kept from ``t`` while sigma stays <= ``small``."""
    kids = list(t.children)
    slots = [i for i, k in enumerate(kids) if type(k) is Node]
    mins = {i: minimal(kids[i].production.lhs) for i in slots}  # type: ignore[union-attr]
    budget = small - (1 if t.production.primitive else 0) - sum(m.sigma for m in mins.values())
    for i in slots:
        extra = kids[i].sigma - mins[i].sigma  # type: ignore[union-attr]
        if extra <= max(budget, 0):
            budget -= extra
        else:
            kids[i] = mins[i]
    return Node(t.production, tuple(kids))
