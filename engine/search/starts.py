"""Start programs of a search: random derivations, the grammar's minimal program, or caller-given seeds."""

from __future__ import annotations

import random
from collections.abc import Sequence

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import InputError
from treediff.engine.trees.derivation import minimal_tree, sample_tree
from treediff.engine.trees.tree import Node

START_KINDS = ("random", "minimal")


def random_program(domain: Domain, rng: random.Random) -> Node:
    """A random derivation of the start symbol with the domain's default primitive bounds."""
    return sample_tree(domain.grammar, rng, domain.min_primitives, domain.max_primitives)


def start_programs(domain: Domain, start: str | Sequence[Node], count: int, rng: random.Random) -> list[Node]:
    """``count`` distinct-where-possible start programs.

    ``start`` is ``"random"`` (random derivations within the domain's primitive bounds), ``"minimal"`` (the
    grammar's smallest program, then random ones to fill the count), or a sequence of seed programs (for
    example whole programs from the autoregressive model), returned as given (deduplicated, at most
    ``count``) without random top-up.
    """
    if isinstance(start, str):
        if start not in START_KINDS:
            raise InputError(f"start {start!r}; expected one of {', '.join(START_KINDS)} or a list of programs")
        seeds = [minimal_tree(domain.grammar)] if start == "minimal" else []
    else:
        return list(dict.fromkeys(start))[:count]
    out = list(dict.fromkeys(seeds))[:count]
    tries = 0
    while len(out) < count and tries < 20 * count:
        tree = random_program(domain, rng)
        tries += 1
        if tree not in out:
            out.append(tree)
    return out
