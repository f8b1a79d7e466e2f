"""Baselines in the search harness: model-free mutation search and autoregressive sampling with rejection.

Both spend renderer calls through the same :class:`treediff.engine.search.budget.BudgetedExecutor` as the
neural searches, so their curves are comparable: every distinct program executed counts once, re-visits are free.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import torch

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import InputError, TreeError
from treediff.engine.search.budget import STALL_ROUNDS, BudgetedExecutor
from treediff.engine.search.result import Lineage, SolveResult, finish
from treediff.engine.search.starts import random_program, skeleton_vote
from treediff.engine.trees.noise import SIGMA_SMALL, mutate
from treediff.engine.trees.tree import Edit, Node

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle

SCHEDULES = ("anneal", "hill")

def mutation_search(domain: Domain, renderer: BudgetedExecutor, rng: random.Random, *, schedule: str = "anneal",
                    batch: int = 8, temperature: float = 0.05, patience: int = 30, sigma_small: int = SIGMA_SMALL,
                    start: Node | None = None) -> SolveResult:
    """Hill climbing or simulated annealing over programs with the noise operator
    :func:`treediff.engine.trees.noise.mutate`.

    Each round draws ``batch`` unvisited mutants of the current program, executes them in one batch and
    considers the best (lowest distance, then fewest primitives). Both schedules move to a strictly lower
    domain distance, or sideways to an equal distance when the program does not grow (neutral moves that add
    primitives would bloat programs on plateaus); ``anneal`` also accepts a worse one with probability
    ``exp(-delta / T)``, where ``T`` starts at ``temperature`` times the start program's distance and cools
    linearly to zero over the budget (or the time limit, whichever is used up faster). After ``patience``
    rounds without a new best distance since the last (re)start, the search restarts from a fresh random
    program. Stops at the first goal match or when a limit is reached.
    """
    if schedule not in SCHEDULES:
        raise InputError(f"mutation schedule {schedule!r}; expected one of: {', '.join(SCHEDULES)}")
    lineage = Lineage()
    current = start if start is not None else random_program(domain, rng)
    lineage.add(current, None, None)
    first = renderer.run([current])[0]
    if first is None:
        return finish(f"mutation-{schedule}", renderer, lineage)
    current_distance = restart_best = first.distance
    scale = first.distance if first.distance > 0 and math.isfinite(first.distance) else 1.0
    stale = stalls = 0
    while not renderer.done() and stalls < STALL_ROUNDS:
        children = _fresh_mutants(current, domain, renderer, rng, batch, sigma_small)
        if not children:
            stalls += 1
            current, current_distance, restart_best = _restart(domain, renderer, rng, lineage, current,
                                                               current_distance)
            stale = 0
            continue
        stalls = 0
        for tree, edit in children:
            lineage.add(tree, current, edit)
        visits = [v for v in renderer.run([t for t, _ in children]) if v is not None]
        if not visits:
            break
        best = min(visits, key=lambda v: (v.distance, v.tree.sigma))
        delta = best.distance - current_distance
        sideways = delta == 0 and best.tree.sigma <= current.sigma  # plateau moves must not grow the program
        if delta < 0 or sideways or (schedule == "anneal" and _accept(delta, temperature * scale, renderer, rng)):
            current, current_distance = best.tree, best.distance
        if best.distance < restart_best:
            restart_best, stale = best.distance, 0
        else:
            stale += 1
        if stale >= patience:
            current, current_distance, restart_best = _restart(domain, renderer, rng, lineage, current,
                                                               current_distance)
            stale = 0
    return finish(f"mutation-{schedule}", renderer, lineage)


def _fresh_mutants(tree: Node, domain: Domain, renderer: BudgetedExecutor, rng: random.Random, batch: int,
                   sigma_small: int) -> list[tuple[Node, Edit]]:
    out: dict[Node, Edit] = {}
    for _ in range(4 * batch):
        if len(out) >= batch:
            break
        try:
            child, edit = mutate(tree, domain.grammar, rng, sigma_small)
        except TreeError:
            return []
        if child not in out and not renderer.seen(child):
            out[child] = edit
    return list(out.items())


def _accept(delta: float, t0: float, renderer: BudgetedExecutor, rng: random.Random) -> bool:
    progress = renderer.calls / renderer.budget
    if renderer.time_limit:
        progress = max(progress, renderer.elapsed() / renderer.time_limit)
    temperature = t0 * max(0.0, 1.0 - progress)
    return delta > 0 and temperature > 0 and rng.random() < math.exp(-delta / temperature)


def _restart(domain: Domain, renderer: BudgetedExecutor, rng: random.Random, lineage: Lineage, current: Node,
             current_distance: float) -> tuple[Node, float, float]:
    """A fresh random program as the new current one (kept when the limits stop its execution)."""
    for _ in range(20):
        tree = random_program(domain, rng)
        if renderer.seen(tree):
            continue
        lineage.add(tree, None, None)
        visit = renderer.run([tree])[0]
        if visit is not None:
            return tree, visit.distance, visit.distance
        break
    return current, current_distance, current_distance


def ar_programs(renderer: BudgetedExecutor, ar_bundle: ModelBundle, samples: int,
                generator: torch.Generator, temperature: float = 1.0, likely_first: bool = False,
                pool: int = 0) -> list[Node]:
    """``samples`` whole programs sampled (at ``temperature``) from the AR model for the renderer's target,
    executed and ranked.

    With ``pool`` > ``samples``, ``pool`` programs are drawn (model time, not renderer calls) and the
    ``samples`` programs run are chosen among them by :func:`treediff.engine.search.starts.skeleton_vote`.

    Every distinct sample is executed (counted as a renderer call, within the budget), in sampling order or,
    with ``likely_first``, the highest sampling log-probability first (so a budget smaller than the samples runs
    the likeliest); the executed ones are returned best first: a goal match, then lower distance, then the
    earlier sampled. The ranking does not depend on the execution order, so ``likely_first`` changes only when
    a sample that solves the target is run, never which programs a search goes on from.
    """
    from treediff.engine.models.inference import model_device, sample_programs

    ar = ar_bundle.need_ar()
    device = model_device(ar)
    with renderer.profile.section("model"):
        drawn = sample_programs(ar, ar_bundle.vocab, renderer.target.to(device)[None], max(samples, pool),
                                generator, temperature=temperature)[0]
    renderer.profile.count("programs_sampled", len(drawn))
    if pool > samples:
        drawn = skeleton_vote(drawn, samples)
    trees = list(dict.fromkeys(tree for tree, _ in drawn))
    sampled = {tree: i for i, tree in enumerate(trees)}
    if likely_first:
        logprob = {tree: float(lp) for tree, lp in reversed(drawn)}  # a repeated sample: its first draw's
        trees = sorted(trees, key=lambda tree: -logprob[tree])
    visits = renderer.run(trees)
    ranked = sorted((v for v in visits if v is not None), key=lambda v: (not v.solved, v.distance, sampled[v.tree]))
    return [v.tree for v in ranked]


def ar_search(domain: Domain, renderer: BudgetedExecutor, ar_model: Any, vocab: Any, generator: torch.Generator, *,
              batch: int = 128, temperature: float = 1.0, max_tokens: int | None = None,
              heat: float = 1.25, max_temperature: float = 3.0) -> SolveResult:
    """Sample whole programs from the autoregressive model (grammar-constrained, over-long ones rejected by
    the sampler) in batches of ``batch``, executing the unvisited ones, until a goal match or a limit.

    When a round yields no new program the sampling temperature is multiplied by ``heat`` (up to
    ``max_temperature``) so that a peaked model keeps exploring; after :data:`STALL_ROUNDS` such rounds in a
    row the search stops early.
    """
    from treediff.engine.models.inference import model_device, sample_programs

    device = model_device(ar_model)
    target = renderer.target.to(device)[None]
    lineage = Lineage()
    stalls = 0
    tau = temperature
    while not renderer.done() and stalls < STALL_ROUNDS:
        with renderer.profile.section("model"):
            samples = sample_programs(ar_model, vocab, target, batch, generator, temperature=tau,
                                      max_tokens=max_tokens)[0]
        renderer.profile.count("programs_sampled", len(samples))
        fresh = [t for t in dict.fromkeys(tree for tree, _ in samples) if not renderer.seen(t)]
        if not fresh:
            stalls += 1
            tau = min(max_temperature, tau * heat)
            continue
        stalls = 0
        for tree in fresh:
            lineage.add(tree, None, None)
        renderer.run(fresh[:renderer.remaining])
    return finish("ar", renderer, lineage)
