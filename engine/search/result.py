"""The outcome of one solve: best program, solved flag, renderer calls, timing and the edit trajectory."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from treediff.engine.search.budget import BudgetedExecutor
from treediff.engine.trees.tree import Edit, Node


@dataclass(frozen=True)
class Step:
    """One program on the way to the result: the edit that produced it from the previous step (None for a
    start program), its distance to the target, whether it matched, and the renderer call that ran it."""

    program: Node
    edit: Edit | None
    distance: float
    solved: bool
    call: int


@dataclass
class SolveResult:
    """What a search method returns.

    ``program`` is the goal match when ``solved``, otherwise the program with the lowest domain distance
    (``None`` only when the limits allowed no execution at all). ``calls_at_solve`` is the call number of the
    first goal match: the smallest budget under which the same search finds it (the x-coordinate of
    solved-vs-calls curves; :class:`~treediff.engine.search.budget.BudgetedExecutor`).
    ``trajectory`` holds the accepted edits from a start program to ``program``.
    """

    method: str
    program: Node | None
    solved: bool
    renderer_calls: int
    seconds: float
    score: float
    calls_at_solve: int | None
    trajectory: list[Step] = field(default_factory=list)
    profile: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    lineage: Lineage | None = field(default=None, repr=False, compare=False)

    def expanded(self) -> list[Node]:
        """The programs the search made children of (its beam states, for on-policy training data), in the
        order they were first expanded; empty for a method that keeps no lineage."""
        if self.lineage is None:
            return []
        return list(dict.fromkeys(p for p, _ in self.lineage.parents.values() if p is not None))

    def to_json(self) -> dict[str, Any]:
        """The CLI contract: ``program`` (text or null), ``solved``, ``renderer_calls``, ``seconds``, ``score``."""
        return {"program": str(self.program) if self.program is not None else None, "solved": self.solved,
                "renderer_calls": self.renderer_calls, "seconds": round(self.seconds, 6),
                "score": self.score if math.isfinite(self.score) else None}


class Lineage:
    """Where each program came from: its parent program and the edit applied (first discovery wins)."""

    def __init__(self) -> None:
        self.parents: dict[Node, tuple[Node | None, Edit | None]] = {}

    def add(self, program: Node, parent: Node | None, edit: Edit | None) -> None:
        """Record ``program`` as produced from ``parent`` by ``edit`` unless it was seen before."""
        if program not in self.parents:
            self.parents[program] = (parent, edit)

    def path(self, program: Node) -> list[tuple[Node, Edit | None]]:
        """(program, edit) pairs from the start program that led to ``program``, in order."""
        out: list[tuple[Node, Edit | None]] = []
        cur: Node | None = program
        guard = len(self.parents) + 1
        while cur is not None and guard > 0:
            parent, edit = self.parents.get(cur, (None, None))
            out.append((cur, edit))
            cur = parent
            guard -= 1
        out.reverse()
        return out


def finish(method: str, renderer: BudgetedExecutor, lineage: Lineage | None = None) -> SolveResult:
    """Build the result of a finished search from its renderer (and lineage for the trajectory)."""
    seconds = renderer.elapsed()
    best = renderer.first_solution or renderer.best
    trajectory: list[Step] = []
    if best is not None:
        chain = lineage.path(best.tree) if lineage is not None else [(best.tree, None)]
        for program, edit in chain:
            visit = renderer.visits.get(program)
            if visit is not None:
                trajectory.append(Step(program, edit, visit.distance, visit.solved, visit.call))
    counts = dict(renderer.profile.counts)
    counts["reexecutions"] = renderer.reexecutions
    return SolveResult(
        method=method, program=best.tree if best else None, solved=renderer.solved,
        renderer_calls=renderer.calls, seconds=seconds, score=best.distance if best else math.inf,
        calls_at_solve=renderer.calls_at_solve,
        trajectory=trajectory, profile=renderer.profile.breakdown(seconds), counts=counts, lineage=lineage)
