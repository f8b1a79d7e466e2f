"""Rollouts: follow the denoiser's edits from start programs without a search tree, restarting when stuck.

``parallel`` rollouts advance together (one batched model call and one renderer batch per step). Each
rollout applies one edit per step: with ``greedy`` the most probable of ``samples`` sampled edits whose
result is unvisited, otherwise a single sampled edit. A rollout restarts from a fresh random program when
it is stuck (no proposed edit leads to an unvisited program) or after ``max_steps`` edits. Stops at the
first goal match or when a limit is reached; returns the best program found.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from treediff.engine.search.beam import propose
from treediff.engine.search.budget import STALL_ROUNDS, BudgetedExecutor
from treediff.engine.search.result import Lineage, SolveResult, finish
from treediff.engine.search.starts import random_program
from treediff.engine.trees.tree import Edit, Node

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle


def rollout_search(renderer: BudgetedExecutor, bundle: ModelBundle, generator: torch.Generator, rng: random.Random, *,
                   parallel: int = 8, max_steps: int = 12, greedy: bool = True, samples: int = 4,
                   temperature: float = 1.0, max_primitives: int | None = None,
                   start: Sequence[Node] = ()) -> SolveResult:
    """Run rollouts of ``bundle.denoiser`` until the goal is matched or the budget or time runs out.

    ``start`` optionally gives the first rollouts' start programs (later ones start from random programs).
    """
    lineage = Lineage()
    sigma = max_primitives if max_primitives is not None else bundle.config.sigma_small
    n_samples = samples if greedy else 1
    slots: list[tuple[Node, int]] = []  # (current program, steps taken)
    seeds = [t for t in dict.fromkeys(start)][:parallel]
    for tree in seeds:
        lineage.add(tree, None, None)
    renderer.run(seeds)
    slots = [(tree, 0) for tree in seeds if renderer.seen(tree)]
    stalls = 0
    while not renderer.done() and stalls < STALL_ROUNDS:
        slots = _refill(renderer, rng, lineage, slots, parallel, max_steps)
        if not slots:
            stalls += 1
            continue
        parents = [tree for tree, _ in slots]
        proposals = propose(renderer, bundle, parents, n_samples, generator, temperature, sigma)
        moves: list[tuple[int, Node, Edit]] = []
        taken: set[Node] = set()
        for i, props in enumerate(proposals):
            for prop in sorted(props, key=lambda p: -float(p.logprob)):
                child = prop.edit.apply(parents[i])
                if not renderer.seen(child) and child not in taken:
                    moves.append((i, child, prop.edit))
                    taken.add(child)
                    break
        stalls = 0 if moves else stalls + 1
        for i, child, edit in moves:
            lineage.add(child, parents[i], edit)
        renderer.run([child for _, child, _ in moves])
        moved = {i: child for i, child, _ in moves if renderer.seen(child)}
        slots = [(moved[i], steps + 1) if i in moved else (tree, max_steps) for i, (tree, steps) in enumerate(slots)]
    return finish("rollout", renderer, lineage)


def _refill(renderer: BudgetedExecutor, rng: random.Random, lineage: Lineage, slots: list[tuple[Node, int]],
            parallel: int, max_steps: int) -> list[tuple[Node, int]]:
    """Keep running rollouts; replace finished or stuck ones (and fill empty slots) with fresh programs."""
    keep = [(tree, steps) for tree, steps in slots if steps < max_steps]
    fresh: list[Node] = []
    for _ in range(4 * parallel):
        if len(keep) + len(fresh) >= parallel:
            break
        tree = random_program(renderer.domain, rng)
        if not renderer.seen(tree) and tree not in fresh:
            fresh.append(tree)
    for tree in fresh:
        lineage.add(tree, None, None)
    renderer.run(fresh)
    keep.extend((tree, 0) for tree in fresh if renderer.seen(tree))
    return keep
