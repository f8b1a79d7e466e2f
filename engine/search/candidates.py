"""Beam candidates: a program with its visit and scores, how they are ranked, and the pool a beam is chosen from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from treediff.engine.search.budget import BudgetedExecutor, Visit
from treediff.engine.search.reading import Reader
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle

@dataclass(frozen=True)
class Candidate:
    """A program in the beam: its visit, the log-probability of the edit that produced it, its value estimate."""

    tree: Node
    visit: Visit
    logprob: float
    value: float = 0.0


class Frontier:
    """Where the next beam is chosen from: this round's children plus the beam (``keep_parents``), or, with an
    expansion ``limit``, every program executed since the last restart that was a beam parent fewer than
    ``limit`` times (a best-first search: when the best programs are used up the beam moves on to the next
    best ones found so far instead of waiting out its patience)."""

    def __init__(self, limit: int, keep_parents: bool, beam: list[Candidate]) -> None:
        self.limit, self.keep_parents = limit, keep_parents
        self.items: list[Candidate] = []
        self.uses: dict[Node, int] = {}
        self.reset(beam)

    def reset(self, beam: list[Candidate]) -> None:
        """Start over from ``beam`` (after a restart)."""
        self.items, self.uses = list(beam), {}

    def expanded(self, parents: list[Node]) -> None:
        """Count one more round as a beam parent for each of ``parents``."""
        for tree in parents:
            self.uses[tree] = self.uses.get(tree, 0) + 1

    def pool(self, children: list[Candidate], beam: list[Candidate]) -> list[Candidate]:
        """The candidates of the next beam."""
        if self.limit <= 0:
            return children + (beam if self.keep_parents else [])
        self.items = [c for c in self.items + children if self.uses.get(c.tree, 0) < self.limit]
        return self.items


class Ranker:
    """Orders candidates by a mix of executed distance and the value network's remaining-edit estimate."""

    def __init__(self, renderer: BudgetedExecutor, bundle: ModelBundle, mix: float, resolution: float,
                 values: bool = False, reader: Reader | None = None, read_mix: float = 0.0) -> None:
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"beam mix {mix!r}; expected a weight between 0 (value only) and 1 (distance only)")
        self.renderer, self.bundle = renderer, bundle
        self.mix = mix if bundle.value is not None else 1.0
        self.values = (values or self.mix < 1.0) and bundle.value is not None  # whether score() asks the network
        self.step = resolution if resolution > 0 else 1e-12
        self.reader, self.read_mix = reader, read_mix if reader is not None else 0.0

    def score(self, cands: list[Candidate]) -> list[Candidate]:
        """``cands`` with their value estimates filled in (one batched value-network call)."""
        if not self.values or not cands:
            return cands
        from treediff.engine.models.inference import model_device, predict_values

        value = self.bundle.need_value()
        device = model_device(value)
        trees = [c.tree for c in cands]
        current = self.renderer.observe(trees).to(device)
        target = self.renderer.target.to(device).expand(len(trees), *self.renderer.target.shape)
        with self.renderer.profile.section("model"):
            values = predict_values(value, self.bundle.vocab, target, current, trees)
        self.renderer.profile.count("values_predicted", len(trees))
        return [replace(c, value=round(v / self.step) * self.step) for c, v in zip(cands, values.cpu().tolist())]

    def rank(self, cands: list[Candidate]) -> list[Candidate]:
        """Best first: the weighted rank sum, then fewer primitives, then the edit's log-probability."""
        n = len(cands)
        by_distance = ranks([c.visit.distance for c in cands])
        by_value = ranks([c.value for c in cands]) if self.mix < 1.0 else [0.0] * n
        key = [self.mix * by_distance[i] + (1.0 - self.mix) * by_value[i] for i in range(n)]
        if self.reader is not None and self.read_mix > 0 and cands:
            by_read = ranks([-s for s in self.reader([c.tree for c in cands])])  # best-read first
            key = [(1.0 - self.read_mix) * key[i] + self.read_mix * by_read[i] for i in range(n)]
        order = sorted(range(n), key=lambda i: (key[i], cands[i].visit.distance, cands[i].tree.sigma,
                                                -cands[i].logprob, i))
        return [cands[i] for i in order]


def ranks(values: list[float]) -> list[float]:
    """Dense ranks (ties share a rank) of ``values``, ascending."""
    distinct = {v: r for r, v in enumerate(sorted(set(values)))}
    return [float(distinct[v]) for v in values]
