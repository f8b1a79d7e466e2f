"""Start programs of a search: random derivations, the grammar's minimal program, caller-given seeds, and the
vote that picks which of many sampled programs to run."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import InputError
from treediff.engine.trees.derivation import minimal_tree, sample_tree
from treediff.engine.trees.tree import Node, skeleton

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


def skeleton_vote(drawn: Sequence[tuple[Node, float]], keep: int) -> list[tuple[Node, float]]:
    """``keep`` of the distinct ``drawn`` programs (each with its sampling log-probability, in sampling order),
    chosen by a vote on their structure.

    Every draw (repeats included) is one vote for its :func:`~treediff.engine.trees.tree.skeleton`. The
    skeletons drawn most often come first (ties: the one with the likelier best program, then the one drawn
    first), each represented by its likeliest program (ties: the earlier drawn); once every skeleton has one
    program, the other distinct programs follow in sampling order. A sampler that gets a large program's
    structure right only some of the time still draws the right structure more often than any single wrong
    one, so a few programs per skeleton cover more structures than as many programs taken as drawn. Each
    program keeps its first draw's log-probability.
    """
    programs: dict[Node, float] = {}
    for tree, logprob in drawn:
        programs.setdefault(tree, logprob)
    draws = Counter(tree for tree, _ in drawn)
    votes: Counter[tuple[str, ...]] = Counter()
    best: dict[tuple[str, ...], Node] = {}
    for tree, logprob in programs.items():  # sampling order: a tie on log-probability keeps the earlier
        key = skeleton(tree)  # once per distinct program; its repeats vote through ``draws``
        votes[key] += draws[tree]
        if key not in best or logprob > programs[best[key]]:
            best[key] = tree
    order = sorted(best, key=lambda key: (-votes[key], -programs[best[key]]))  # stable: first drawn on ties
    chosen = [best[key] for key in order]
    picked = set(chosen)
    chosen += [tree for tree in programs if tree not in picked]
    return [(tree, programs[tree]) for tree in chosen[:keep]]
