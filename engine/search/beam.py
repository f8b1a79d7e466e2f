"""Value-guided beam search over edits proposed by the denoiser.

Start: ``beam_width`` start programs (random derivations by default, or given seeds, see
:mod:`treediff.engine.search.starts`). Each round samples ``beam_width * expansions`` edits from the denoiser in one
batched call, spread evenly over the beam nodes (``expansions`` each for a full beam), drops
children already visited (the renderer's tree cache is the visited set) or duplicated, executes all new
children in one renderer batch and stops at the first goal match. The next beam is the ``beam_width``
best new children ranked by the value network's predicted remaining edits (rounded to
``value_resolution``), then by the log-probability of the edit that produced them; without a value
network children are ranked by domain distance. When a round produces no new child the beam is restarted
from fresh random programs. The best program found (lowest domain distance) is returned even when unsolved.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from treediff.engine.search.budget import BudgetedExecutor, Visit
from treediff.engine.search.result import Lineage, SolveResult, finish
from treediff.engine.search.starts import start_programs
from treediff.engine.trees.tree import Node

STALL_ROUNDS = 50


@dataclass(frozen=True)
class Candidate:
    """A program in the beam: its visit, and the log-probability of the edit that produced it."""

    tree: Node
    visit: Visit
    logprob: float


def beam_search(renderer: BudgetedExecutor, bundle: Any, generator: torch.Generator, rng: random.Random, *,
                beam_width: int = 8, expansions: int = 8, temperature: float = 1.0,
                start: str | Sequence[Node] = "random", value_resolution: float = 0.1,
                max_primitives: int | None = None) -> SolveResult:
    """Run value-guided beam search with ``bundle.denoiser`` (and ``bundle.value`` when present)."""
    lineage = Lineage()
    sigma = max_primitives if max_primitives is not None else bundle.config.sigma_small
    beam = _restart(renderer, bundle, rng, lineage, start, beam_width, value_resolution)
    stalls = 0
    while beam and not renderer.done() and stalls < STALL_ROUNDS:
        parents = [c.tree for c in beam]
        per_node = -(-beam_width * expansions // len(parents))  # a short beam gets more samples per node
        proposals = propose(renderer, bundle, parents, per_node, generator, temperature, sigma)
        children: dict[Node, float] = {}
        for parent, props in zip(parents, proposals):
            for prop in props:
                child = prop.edit.apply(parent)
                if renderer.seen(child):
                    continue
                lineage.add(child, parent, prop.edit)
                children[child] = max(children.get(child, -float("inf")), float(prop.logprob))
        if not children:
            stalls += 1
            beam = _restart(renderer, bundle, rng, lineage, "random", beam_width, value_resolution)
            continue
        stalls = 0
        trees = list(children)
        visits = renderer.run(trees)
        done = [Candidate(t, v, children[t]) for t, v in zip(trees, visits) if v is not None]
        if renderer.done() or not done:  # no value-network batch after the goal, the budget or the time
            break
        beam = _rank(renderer, bundle, done, value_resolution)[:beam_width]
    return finish("beam", renderer, lineage)


def propose(renderer: BudgetedExecutor, bundle: Any, parents: list[Node], n_samples: int, generator: torch.Generator,
            temperature: float, max_primitives: int | None) -> list[list[Any]]:
    """Sample ``n_samples`` edits per parent with the denoiser, timed and counted in the renderer's profile."""
    from treediff.engine.models.inference import propose_edits

    device = _device(bundle.denoiser)
    current = renderer.observe(parents).to(device)
    target = renderer.target.to(device).expand(len(parents), *renderer.target.shape)
    with renderer.profile.section("model"):
        proposals = propose_edits(bundle.denoiser, bundle.vocab, target, current, parents, n_samples,
                                  generator, temperature=temperature, max_primitives=max_primitives)
    renderer.profile.count("edits_proposed", sum(len(p) for p in proposals))
    renderer.profile.count("model_batches")
    return proposals


def _restart(renderer: BudgetedExecutor, bundle: Any, rng: random.Random, lineage: Lineage,
             start: str | Sequence[Node], width: int, resolution: float) -> list[Candidate]:
    trees = [t for t in start_programs(renderer.domain, start, width, rng) if not renderer.seen(t)]
    for tree in trees:
        lineage.add(tree, None, None)
    visits = renderer.run(trees)
    done = [Candidate(t, v, 0.0) for t, v in zip(trees, visits) if v is not None]
    if renderer.done() or not done:
        return done
    return _rank(renderer, bundle, done, resolution)[:width]


def _rank(renderer: BudgetedExecutor, bundle: Any, cands: list[Candidate], resolution: float) -> list[Candidate]:
    """Best first: predicted remaining edits (or distance without a value network), then edit log-prob."""
    if getattr(bundle, "value", None) is None:
        return sorted(cands, key=lambda c: (c.visit.distance, -c.logprob))
    from treediff.engine.models.inference import predict_values

    device = _device(bundle.value)
    trees = [c.tree for c in cands]
    current = renderer.observe(trees).to(device)
    target = renderer.target.to(device).expand(len(trees), *renderer.target.shape)
    with renderer.profile.section("model"):
        values = predict_values(bundle.value, bundle.vocab, target, current, trees).detach().cpu().tolist()
    renderer.profile.count("values_predicted", len(trees))
    step = resolution if resolution > 0 else 1e-12
    order = sorted(range(len(cands)), key=lambda i: (round(values[i] / step), -cands[i].logprob, i))
    return [cands[i] for i in order]


def _device(module: Any) -> torch.device:
    device: torch.device = next(module.parameters()).device
    return device
