"""The local edits a beam program is offered each round: leaf steps, hoists, swaps, pairs and node wraps,
drawn at random or chosen by an AR model's reading."""

from __future__ import annotations

import random
from collections.abc import Callable

from treediff.engine.search.budget import BudgetedExecutor
from treediff.engine.search.reading import Reader, best_read
from treediff.engine.trees.neighbours import field_pair_edits, joint_edits, local_edits, swap_edits, wrap_edits
from treediff.engine.trees.tree import Edit, Node

WRAP_READS = 8  # node wraps drawn (and read, with an AR reader) per wrap tried

Filler = Callable[[Node, list[tuple[Edit, Node]]], list[tuple[Edit, Node]]]
"""(program, wraps of it as (edit, wrapped program)) -> the wraps with their empty slot written anew."""


def local_proposals(renderer: BudgetedExecutor, parent: Node, rng: random.Random, n: int, step: int,
                    pairs: bool, swaps: bool, reader: Reader | None = None,
                    field_pairs: bool = False, wraps: int = 0,
                    fits: Callable[[Node], bool] | None = None, fills: int = 0,
                    filler: Filler | None = None) -> list[tuple[Edit, Node]]:
    """Up to ``n`` unvisited local edits of ``parent``: single-leaf steps and hoists (and, with ``swaps``,
    production swaps; with ``field_pairs``, steps of two integer leaves of one field in different nodes) first;
    when fewer than ``n`` of those are left (and ``pairs``), two-leaf steps of one node fill the rest. Drawn at
    random, or, with a ``reader`` (scores of programs, higher = better), three quarters of them the best-read of
    the edits that keep the program's size (leaf steps, swaps, field pairs) and the rest at random. ``wraps``
    more come from the node wraps (:func:`~treediff.engine.trees.neighbours.wrap_edits`), chosen the same way
    among ``WRAP_READS`` times as many drawn at random; wraps grow the program, so those that ``fits`` rejects (too
    long for the models) are left out. ``fills`` more wraps, chosen the same way among the rest, get their empty
    slot written by ``filler`` (e.g. :func:`~treediff.engine.search.rewrites.ar_filler`): a new part put beside
    an existing one."""
    edits = local_edits(parent, step)
    if swaps:
        edits += swap_edits(renderer.domain.grammar, parent)
    if field_pairs:
        edits += field_pair_edits(parent, step)
    fresh = [(e, child) for e in edits if not renderer.seen(child := e.apply(parent))]
    if len(fresh) >= n or not pairs:
        chosen = best_read(fresh, n, rng, reader, parent.size)
    else:
        ring = [(e, child) for e in joint_edits(parent, step) if not renderer.seen(child := e.apply(parent))]
        chosen = fresh + rng.sample(ring, min(n - len(fresh), len(ring)))
    fills = fills if filler is not None else 0
    if wraps + fills > 0:
        wrapped = wrap_edits(renderer.domain.grammar, parent)
        ring = [(e, child) for e in wrapped
                if not renderer.seen(child := e.apply(parent)) and (fits is None or fits(child))]
        ring = rng.sample(ring, min(len(ring), WRAP_READS * (wraps + fills)))  # reading all: twice the model time
        empty = best_read(ring, wraps, rng, reader, None) if wraps > 0 else []
        chosen += empty
        if filler is not None and fills > 0:
            taken = {child for _, child in empty}
            picked = best_read([w for w in ring if w[1] not in taken], fills, rng, reader, None)
            chosen += [w for w in filler(parent, picked) if fits is None or fits(w[1])]
    return chosen
