"""Line steps: integer leaf steps that made a program better, taken on in the same direction within a round.

A beam round tries one step of each leaf it proposes, so a coordinate, size or gap that is several steps off
costs one round (every proposal of the beam) per step. When one step of an integer leaf made a child better
than its parent, the next step of that leaf in the same direction often does too; :func:`follow_lines` runs
those next steps at once and goes on while they keep improving.
"""

from __future__ import annotations

from collections.abc import Sequence

from treediff.engine.search.budget import BudgetedExecutor, Visit
from treediff.engine.search.result import Lineage
from treediff.engine.trees.neighbours import repeat_step
from treediff.engine.trees.tree import Edit, Node


def follow_lines(renderer: BudgetedExecutor, lineage: Lineage, children: Sequence[tuple[Node, float]],
                 parents: dict[Node, float], limit: int) -> list[tuple[Node, Visit]]:
    """Every child (program, executed distance) that one integer leaf step made better than its parent (the
    parent and step from ``lineage``, the parent's distance in ``parents``) is stepped again in the same
    direction (:func:`~treediff.engine.trees.neighbours.repeat_step`), and on from there while each step
    improves, at most ``limit`` more steps per line. The steps of all lines run as one batch per step and are
    recorded in ``lineage``. Returns the new programs executed with their visits, in the order of
    ``children``; stops early when the renderer is done (goal, budget or time)."""
    lines: list[tuple[Node, Node, Edit, float]] = []  # (program, its parent, the step between them, its distance)
    for tree, distance in children:
        parent, edit = lineage.parents.get(tree, (None, None))
        if parent is not None and edit is not None and parent in parents and distance < parents[parent]:
            lines.append((tree, parent, edit, distance))
    out: list[tuple[Node, Visit]] = []
    for _ in range(limit):
        steps: dict[Node, tuple[Node, Edit, float]] = {}  # the next program of each line: (program, step, distance)
        for tree, parent, edit, distance in lines:
            nxt = repeat_step(parent, edit)
            if nxt is not None and not renderer.seen(child := nxt.apply(tree)) and child not in steps:
                steps[child] = (tree, nxt, distance)
        if not steps or renderer.done():
            break
        lines = []
        for (child, (tree, nxt, distance)), visit in zip(steps.items(), renderer.run(list(steps))):
            if visit is None:
                continue
            lineage.add(child, tree, nxt)
            out.append((child, visit))
            if visit.distance < distance:
                lines.append((child, tree, nxt, visit.distance))
    return out
