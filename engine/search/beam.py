"""Beam search over edits proposed by the denoiser, ranked by executed distance and the value network.

Start: the grammar's minimal program (by default), given seed programs (for example AR samples, see
:mod:`treediff.engine.search.starts`) or random ones. Each round samples ``beam_width * expansions`` edits
from the denoiser in one batched call, spread evenly over the beam nodes, optionally subtree rewrites written by
the AR model from each node's own prefix (``ar_edits``), adds a few local edits
(:mod:`treediff.engine.trees.neighbours`) of the best nodes, drops children already visited (the executor's
tree cache is the visited set) or duplicated, executes all new children in one batch and stops at the first
goal match. The next beam is the ``beam_width`` best of parents and children, ranked by a weighted sum of
their rank by executed distance and their rank by the value network's predicted remaining edits, then by the
log-probability of the edit that produced them. When the beam stops improving it restarts from its start
programs (the denoiser then samples other paths, since visited children are skipped) or from fresh random
ones; a round with no new child always restarts from random programs. The best program found (lowest domain
distance) is returned even when unsolved.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from treediff.engine.errors import TreeError
from treediff.engine.search.budget import STALL_ROUNDS, BudgetedExecutor
from treediff.engine.search.candidates import Candidate, Frontier, Ranker
from treediff.engine.search.config import LocalOrder, RewriteMode, RewriteSites, RoundOrder, ar_settings, beam_needs_ar
from treediff.engine.search.lines import follow_lines
from treediff.engine.search.local import local_proposals
from treediff.engine.search.reading import (
    ar_reader,
    best_read_left,
    read_filter,
    read_first,
    surprise_sites,
)
from treediff.engine.search.result import Lineage, SolveResult, finish
from treediff.engine.search.rewrites import ar_filler, ar_rewrites
from treediff.engine.search.starts import start_programs
from treediff.engine.trees.noise import mutate
from treediff.engine.trees.tree import Edit, Node, skeleton

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle


def beam_search(renderer: BudgetedExecutor, bundle: ModelBundle, generator: torch.Generator, rng: random.Random, *,
                beam_width: int = 4, expansions: int = 8, temperature: float = 0.7,
                start: str | Sequence[Node] = "minimal", value_resolution: float = 0.1,
                max_primitives: int | None = None, mix: float = 1.0, local: int = 2, local_samples: int = 64,
                local_step: int = 1, local_pairs: bool = False, local_swaps: bool = True,
                keep_parents: bool = True, patience: int = 30, restart: str = "start", diverse: int = 0,
                kick: int = 2, expand_limit: int = 0, per_position: int = 1, value_slots: int = 0,
                ar_edits: int = 0, ar: ModelBundle | None = None, ar_rewrite: RewriteMode = "subtree",
                ar_edit_temperature: float | None = None,
                ar_sites: RewriteSites = "uniform", local_order: LocalOrder = "random",
                ar_filter: int = 1, round_order: RoundOrder = "proposed", read_slots: int = 0,
                ar_site_floor: float = 0.5, read_mix: float = 0.0, line_steps: int = 0,
                field_pairs: bool = False, local_wraps: int = 0, opening: int = 0, wrap_fills: int = 0) -> SolveResult:
    """Run beam search over ``bundle.denoiser``'s edits, ranked by executed distance and ``bundle.value``.

    ``mix`` weighs the two rankings of the candidates: 0 ranks by the value network alone, 1 by the executed
    distance to the target alone (free: every child is executed anyway), values in between by the weighted
    sum of both ranks. ``local`` beam nodes (the best ones) also get up to ``local_samples`` unvisited
    local edits (leaf steps of integers by up to ``local_step``, other words of enums, hoists;
    :mod:`treediff.engine.trees.neighbours`, drawn at random) each round; with ``local_pairs``, once
    fewer than ``local_samples`` of those are unvisited, steps of two leaves of one node fill the rest;
    ``local_swaps`` adds production swaps (:func:`~treediff.engine.trees.neighbours.swap_edits`) to the
    single steps, and ``field_pairs`` steps of two integer leaves of one field in different nodes
    (:func:`~treediff.engine.trees.neighbours.field_pair_edits`); ``local_wraps`` > 0 adds that many node wraps
    (:func:`~treediff.engine.trees.neighbours.wrap_edits`: a node put inside a new parent beside the grammar's
    minimal subtrees) to each such program's local edits, and ``wrap_fills`` > 0 that many more whose empty slot the
    AR model writes (:func:`~treediff.engine.search.rewrites.ar_filler`).
    ``start="minimal"`` starts from the grammar's smallest program alone and lets the denoiser grow it. With
    ``keep_parents`` the beam is chosen from parents and children together, so it never moves to worse
    programs; after ``patience`` rounds without a better best distance in the beam it restarts: from fresh
    random programs (``restart="random"``) or from the start programs again (``"start"``; already executed,
    so free, and the denoiser samples other paths from them since visited children are skipped), from the
    next ``beam_width`` of the start programs in turn (``"next"``, for many ranked seeds such as AR samples;
    with fewer seeds than that, as ``"start"``), or from
    the best program found with ``kick`` random subtree mutations each (``"kick"``, iterated local search).
    ``diverse`` > 0 keeps at most that many programs of one skeleton in the beam while other skeletons are
    left; ``expand_limit`` > 0 makes the search best-first: each program is a parent for at most that many
    rounds and the beam comes from every program executed since the last restart. (Both, and kicks, were
    measured no better than the defaults: ``bench/results/search-levers-csg2d-32-5000.md``.)
    ``value_slots`` > 0 fills that many of the ``beam_width`` places with the candidates the value network
    rates closest to the goal among those the ranking left out, so that a program whose rendering is worse
    but whose structure is nearer the target (as the value network sees it) stays in the beam.
    ``ar_edits`` > 0 adds that many subtree rewrites per round, spread over the beam, written by the AR model in
    ``ar`` from each program's own prefix (:func:`~treediff.engine.models.inference.infill_edits`, sampled at
    ``ar_edit_temperature``, by default ``temperature`` like the denoiser's edits); ``ar_rewrite`` says what a
    rewrite keeps: the node's new subtree, the AR model's whole continuation after the node's prefix
    (``"suffix"``), or both; ``ar_sites="denoiser"`` puts the rewrites at the nodes the denoiser chose for its
    edits of the same program this round instead of uniformly drawn ones, ``ar_sites="surprise"`` draws them
    where the AR model reads the program as least like the target
    (:func:`~treediff.engine.search.reading.surprise_sites`, with ``ar_site_floor`` of the uniform draw).
    ``local_order="ar"`` picks most of each program's local edits by the AR model's log-probability of the
    edited program (the rest at random) instead of all of them at random. ``ar_filter`` > 1 samples that many
    times the denoiser's edits and the AR rewrites and executes, of each, the best-read ``1 / ar_filter`` (by the
    same AR log-probability).
    ``round_order="read"`` executes each round's new programs best-read first instead of as proposed: the same
    programs run when the budget lasts the round, but one that ends mid-round has run the likeliest. The next
    beam is chosen as if they ran as proposed (ties are broken the same way), so a search that outlasts a round
    goes on from the same beam in either order: the order changes when a solving program runs, not the search.
    ``opening`` > 0 executes at most that many of the first round's new programs (the first in execution order),
    twice as many in the second round and so on until a round runs all of them: a small budget then takes
    several short steps instead of spending all of it on one long round.
    ``read_slots`` > 0 gives that many beam places to the best-read candidates the ranking left out.
    ``read_mix`` > 0 ranks by that weight of the candidates' rank by reading against ``1 - read_mix`` of the
    distance-and-value rank above.
    ``line_steps`` > 0 follows each integer leaf step that made a child better than its beam parent (from any
    proposer) with further steps of that leaf in the same direction, run in the same round while they keep
    improving, at most ``line_steps`` more per line: a leaf several steps off is set in one
    round instead of one step per round (:func:`~treediff.engine.search.lines.follow_lines`).
    """
    lineage = Lineage()
    max_tokens = min(b.config.max_program_tokens for b in (bundle, ar) if b is not None)
    fits = (lambda t: len(bundle.vocab.encode(t)) <= max_tokens) if local_wraps + wrap_fills > 0 else None
    sigma = max_primitives if max_primitives is not None else bundle.config.sigma_small
    if value_slots + read_slots >= beam_width:
        raise ValueError(f"beam value_slots {value_slots!r} and read_slots {read_slots!r}; expected fewer together "
                         f"than beam_width={beam_width}, so that the ranking keeps at least one place")
    needs = ar_settings(ar_edits, local_order, ar_filter, round_order, read_slots, read_mix, wrap_fills)
    if needs and ar is None:
        raise ValueError(f"beam {needs[0]} needs an autoregressive model; got none. hint: pass an AR checkpoint (the "
                         "domain's shipped one is used when it has one) or set ar_edits: 0, local_order: random, "
                         "ar_filter: 1, round_order: proposed, read_slots: 0, read_mix: 0, wrap_fills: 0")
    reader = ar_reader(renderer, ar) if ar is not None and \
        beam_needs_ar(0, local_order, ar_filter, round_order, read_slots, read_mix) else None
    local_reader = reader if local_order == "ar" else None
    ar_temperature = temperature if ar_edit_temperature is None else ar_edit_temperature
    filler = ar_filler(renderer, ar, generator, ar_temperature) if ar is not None and wrap_fills > 0 else None
    ranker = Ranker(renderer, bundle, mix, value_resolution, value_slots > 0,
                     reader if read_mix > 0 else None, read_mix)
    # seed programs may have been executed already (AR samples are run to pick the best): keep them
    beam = _restart(renderer, ranker, rng, lineage, start, 1 if start == "minimal" else beam_width, revisit=True)
    frontier = Frontier(expand_limit, keep_parents, beam)
    stalls = stale = restarts = rounds = 0
    best = _best(beam)
    while beam and not renderer.done() and stalls < STALL_ROUNDS:
        parents = [c.tree for c in beam]
        frontier.expanded(parents)
        per_node = -(-beam_width * expansions // len(parents))  # a short beam gets more samples per node
        proposals = [propose(renderer, bundle, parents, per_node * ar_filter, generator, temperature, sigma,
                             per_position)]
        if ar is not None and ar_edits > 0:
            sites = [[p.edit.path for p in row] for row in proposals[0]] if ar_sites == "denoiser" else \
                surprise_sites(renderer, ar, parents, -(-ar_edits * ar_filter // len(parents)), generator,
                               ar_site_floor) if ar_sites == "surprise" else None
            proposals.append(ar_rewrites(renderer, ar, parents, ar_edits * ar_filter, generator, ar_temperature,
                                     ar_rewrite, sites))
        children: dict[Node, float] = {}
        for batch in proposals:  # the denoiser's edits, then the AR model's rewrites
            offered = [(parent, p.edit, p.edit.apply(parent), float(p.logprob)) for parent, props in zip(parents, batch)
                       for p in props]
            if reader is not None and ar_filter > 1:
                offered = read_filter(offered, reader, ar_filter, renderer.seen)
            for parent, edit, child, logprob in offered:
                _offer(renderer, lineage, children, parent, edit, child, logprob)
        for parent in parents[:local]:
            for edit, child in local_proposals(renderer, parent, rng, local_samples, local_step, local_pairs,
                                               local_swaps, local_reader, field_pairs, local_wraps, fits,
                                               wrap_fills, filler):
                _offer(renderer, lineage, children, parent, edit, child, 0.0)
        if not children:
            stalls += 1
            beam = _restart(renderer, ranker, rng, lineage, "random", beam_width)
            frontier.reset(beam)
            continue
        stalls = 0
        trees = list(children)  # proposed order: the next beam is chosen in it whatever the execution order
        order = read_first(trees, reader) if round_order == "read" and reader is not None else trees
        if opening > 0:  # short first rounds; the rest of a round's programs may be proposed again later
            kept = set(order := order[:opening << min(rounds, 24)])
            trees = [t for t in trees if t in kept]
        rounds += 1
        ran = dict(zip(order, renderer.run(order)))
        done = [Candidate(t, v, children[t]) for t in trees if (v := ran[t]) is not None]
        if line_steps > 0 and done and not renderer.done():
            done += [Candidate(t, v, 0.0) for t, v in follow_lines(
                renderer, lineage, [(c.tree, c.visit.distance) for c in done], {c.tree: c.visit.distance for c in beam},
                line_steps)]
        if renderer.done() or not done:  # no value-network batch after the goal, the budget or the time
            break
        ranked = ranker.rank(frontier.pool(ranker.score(done), beam))
        beam = _select(ranked, beam_width - read_slots, diverse, value_slots)
        if read_slots > 0 and reader is not None:
            beam += best_read_left(ranked, beam, reader, read_slots, lambda c: c.tree)
        round_best = _best(beam)
        stale = 0 if round_best < best else stale + 1
        best = min(best, round_best)
        if stale >= patience:
            restarts += 1
            again = _kicked(renderer, rng, sigma, beam_width, kick) if restart == "kick" else \
                _next_seeds(start, restarts, beam_width) if restart == "next" else \
                start if restart == "start" else "random"
            beam, stale = _restart(renderer, ranker, rng, lineage, again, beam_width, revisit=restart != "random"), 0
            frontier.reset(beam)
            best = _best(beam)
    return finish("beam", renderer, lineage)


def _next_seeds(start: str | Sequence[Node], restarts: int, width: int) -> str | list[Node]:
    """The start programs of restart number ``restarts`` (``restart="next"``): the next ``width`` of the seed
    programs, cycling through them in order (a start kind such as ``"minimal"`` is returned as it is)."""
    if isinstance(start, str):
        return start
    seeds = list(dict.fromkeys(start))
    if not seeds:
        return "random"
    first = restarts * width % len(seeds)
    return [seeds[(first + i) % len(seeds)] for i in range(min(width, len(seeds)))]


def _select(ranked: list[Candidate], width: int, diverse: int, value_slots: int = 0) -> list[Candidate]:
    """The next beam: the ``width`` best of ``ranked``; with ``diverse`` > 0, at most ``diverse`` programs of one
    skeleton (the tree without its leaf values) while other skeletons are left, so that structurally different
    hypotheses stay in the beam instead of ``width`` one-leaf variants of the best one. With ``value_slots`` > 0
    the last that many places go to the lowest value estimates (fewest predicted edits left; then distance)
    among the candidates not chosen otherwise."""
    if value_slots > 0:
        head = _select(ranked, width - value_slots, diverse)
        taken = {id(c) for c in head}
        left = sorted((c for c in ranked if id(c) not in taken), key=lambda c: (c.value, c.visit.distance))
        return head + left[:value_slots]
    if diverse <= 0:
        return ranked[:width]
    counts: dict[tuple[str, ...], int] = {}
    chosen: list[Candidate] = []
    rest: list[Candidate] = []
    for cand in ranked:
        key = skeleton(cand.tree)
        if counts.get(key, 0) < diverse:
            counts[key] = counts.get(key, 0) + 1
            chosen.append(cand)
            if len(chosen) == width:
                return chosen
        else:
            rest.append(cand)
    keep = {id(c) for c in chosen + rest[:width - len(chosen)]}
    return [c for c in ranked if id(c) in keep]


def _kicked(renderer: BudgetedExecutor, rng: random.Random, sigma: int, width: int, kick: int) -> list[Node]:
    """``width`` restart programs made from the best program found so far, each by ``kick`` random subtree
    mutations (iterated local search: the climb goes on from near the best instead of from scratch)."""
    assert renderer.best is not None
    grammar, base = renderer.domain.grammar, renderer.best.tree
    out: list[Node] = []
    for _ in range(width):
        tree = base
        for _ in range(kick):
            try:
                tree = mutate(tree, grammar, rng, sigma)[0]
            except TreeError:  # nothing left to mutate: keep what we have
                break
        out.append(tree)
    return out


def _best(beam: list[Candidate]) -> float:
    """The lowest executed distance in ``beam`` (inf for an empty one)."""
    return min((c.visit.distance for c in beam), default=float("inf"))


def _offer(renderer: BudgetedExecutor, lineage: Lineage, children: dict[Node, float], parent: Node, edit: Edit,
           child: Node, logprob: float) -> None:
    """Add ``child`` (``edit`` applied to ``parent``) to this round's children unless it was executed before
    (keep the best log-prob)."""
    if renderer.seen(child):
        return
    if child not in children:
        lineage.add(child, parent, edit)
    children[child] = max(children.get(child, -float("inf")), logprob)


def propose(renderer: BudgetedExecutor, bundle: ModelBundle, parents: list[Node], n_samples: int,
            generator: torch.Generator, temperature: float, max_primitives: int | None,
            per_position: int = 1) -> list[list[Any]]:
    """Sample ``n_samples`` edits per parent with the denoiser, timed and counted in the renderer's profile."""
    from treediff.engine.models.inference import model_device, propose_edits

    denoiser = bundle.need_denoiser()
    device = model_device(denoiser)
    current = renderer.observe(parents).to(device)
    target = renderer.target.to(device).expand(len(parents), *renderer.target.shape)
    with renderer.profile.section("model"):
        proposals = propose_edits(denoiser, bundle.vocab, target, current, parents, n_samples,
                                  generator, temperature=temperature, max_primitives=max_primitives,
                                  per_position=per_position)
    renderer.profile.count("edits_proposed", sum(len(p) for p in proposals))
    renderer.profile.count("model_batches")
    return proposals


def _restart(renderer: BudgetedExecutor, ranker: Ranker, rng: random.Random, lineage: Lineage,
             start: str | Sequence[Node], width: int, revisit: bool = False) -> list[Candidate]:
    """The first beam from ``start``; programs executed before are dropped unless ``revisit`` (cached, free)."""
    trees = [t for t in start_programs(renderer.domain, start, width, rng) if revisit or not renderer.seen(t)]
    for tree in trees:
        if not renderer.seen(tree):
            lineage.add(tree, None, None)
    visits = renderer.run(trees)
    done = [Candidate(t, v, 0.0) for t, v in zip(trees, visits) if v is not None]
    if renderer.done() or not done:
        return done
    return ranker.rank(ranker.score(done))[:width]
