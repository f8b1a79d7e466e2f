"""AR subtree rewrites: the AR model writes a node of a program anew from the program's own prefix, as beam
proposals (``beam.ar_edits``) and as the new part of a node wrap (``beam.wrap_fills``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from treediff.engine.search.budget import BudgetedExecutor
from treediff.engine.search.config import RewriteMode
from treediff.engine.search.local import Filler
from treediff.engine.trees.tree import Edit, Node, get

if TYPE_CHECKING:
    import torch

    from treediff.engine.training.bundle import ModelBundle


def ar_rewrites(renderer: BudgetedExecutor, ar: ModelBundle, parents: list[Node], total: int,
                generator: torch.Generator, temperature: float, mode: RewriteMode,
                sites: list[list[Any]] | None) -> list[list[Any]]:
    """``total`` AR subtree rewrites spread over ``parents`` (one batched AR decode; ``sites``: the paths each
    parent's rewrites go to, None: drawn uniformly), timed as model time and counted as edits proposed."""
    from treediff.engine.models.inference import infill_edits, model_device

    model = ar.need_ar()
    with renderer.profile.section("model"):
        proposals = infill_edits(model, ar.vocab, renderer.target.to(model_device(model))[None], parents,
                                 -(-total // len(parents)), generator, temperature, mode, sites)
    renderer.profile.count("edits_proposed", sum(len(p) for p in proposals))
    return proposals


def ar_filler(renderer: BudgetedExecutor, ar: ModelBundle, generator: torch.Generator,
              temperature: float) -> Filler:
    """A :data:`Filler` whose AR model writes each wrap's empty slot as a subtree rewrite from the wrapped
    program's own prefix (one batched decode per call, :func:`ar_rewrites`); programs executed before and
    rewrites the AR model declines (no-ops, too long) are left out."""
    ar.need_ar()  # a bundle without an AR model fails here, not in the first round

    def fill(parent: Node, wraps: list[tuple[Edit, Node]]) -> list[tuple[Edit, Node]]:
        if not wraps:
            return []
        sites = [[edit.path + (_empty_slot(edit, get(parent, edit.path)),)] for edit, _ in wraps]
        written = ar_rewrites(renderer, ar, [child for _, child in wraps], len(wraps), generator, temperature,
                              "subtree", sites)
        out = []
        for (wrap, child), proposals in zip(wraps, written):
            for proposal in proposals:
                if not renderer.seen(filled := proposal.edit.apply(child)):
                    out.append((Edit(wrap.path, get(filled, wrap.path)), filled))
        return out

    return fill


def _empty_slot(wrap: Edit, node: Node) -> int:
    """The child slot of a wrap's new parent that holds a filler rather than the wrapped ``node`` (the last
    nonterminal slot when the node is itself a filler)."""
    slots = [i for i, s in enumerate(wrap.replacement.production.slots) if s.terminal is None]
    return next((i for i in slots if wrap.replacement.children[i] != node), slots[-1])
