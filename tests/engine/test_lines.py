"""Line steps (treediff.engine.search.lines): integer steps that paid, taken on within a round."""

from __future__ import annotations

import pytest

from tests.engine.blocks_domain import load_trained, make_domain, render
from treediff.engine.grammar.parse import parse
from treediff.engine.search.budget import BudgetedExecutor
from treediff.engine.search.config import SearchConfig
from treediff.engine.search.lines import follow_lines
from treediff.engine.search.result import Lineage
from treediff.engine.search.solve import solve
from treediff.engine.trees.tree import Edit


def _first_step(target: str, parent: str, child: str, budget: int = 50, use_goal: bool = True):
    """A renderer for ``target`` that has run ``parent`` and its one-leaf step ``child``."""
    d = make_domain()
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), render(d, parse(d.grammar, target)), budget,
                                use_goal=use_goal)
    lineage = Lineage()
    p, c = parse(d.grammar, parent), parse(d.grammar, child)
    lineage.add(c, p, Edit((), c))
    pv, cv = renderer.run([p, c])
    assert pv is not None and cv is not None
    return d, renderer, lineage, (p, pv.distance), (c, cv.distance)


def test_a_step_that_paid_is_taken_on_until_the_goal() -> None:
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 3 0 1)", "(box 0 0 1)", "(box 1 0 1)")
    assert cd == pd  # boxes apart: x 0 -> 1 does not pay, so no line starts
    assert follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5) == []
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 2 0 2)", "(box 0 0 2)", "(box 1 0 1)")
    assert follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5) == []  # two leaves changed: not a line
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 2 0 2)", "(box 0 0 2)", "(box 1 0 2)")
    assert cd < pd
    out = follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5)
    assert [str(t) for t, _ in out] == ["(box 2 0 2)"] and renderer.solved  # the goal ends the line
    assert [t for t, _ in lineage.path(out[-1][0])] == [p, c, out[0][0]]  # the trajectory holds each step


def test_a_line_stops_at_its_limit_when_a_step_does_not_pay_and_at_the_end_of_the_range() -> None:
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 2 0 2)", "(box 0 0 2)", "(box 1 0 2)", use_goal=False)
    assert [str(t) for t, _ in follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 1)] == ["(box 2 0 2)"]
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 2 0 2)", "(box 0 0 2)", "(box 1 0 2)", use_goal=False)
    out = follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5)
    assert [str(t) for t, _ in out] == ["(box 2 0 2)", "(box 3 0 2)"]  # x 2 paid, x 3 did not: the line ends
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 3 0 2)", "(box 1 0 2)", "(box 2 0 2)", use_goal=False)
    out = follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5)
    assert [str(t) for t, _ in out] == ["(box 3 0 2)"]  # 3 is the last value of the range


def test_line_steps_count_against_the_budget() -> None:
    d, renderer, lineage, (p, pd), (c, cd) = _first_step("(box 2 0 2)", "(box 0 0 2)", "(box 1 0 2)", budget=3,
                                                         use_goal=False)
    out = follow_lines(renderer, lineage, [(c, cd)], {p: pd}, 5)
    assert [str(t) for t, _ in out] == ["(box 2 0 2)"] and renderer.calls == 3 and renderer.done()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    return load_trained("diffusion", tmp_path_factory.mktemp("runs"), make_domain())


def test_beam_line_steps_follow_each_rounds_children_from_the_beam(bundle, monkeypatch) -> None:
    import treediff.engine.search.beam as beam

    d = make_domain()
    target = render(d, parse(d.grammar, "(+ (box 2 2 2) (box 0 0 1))"))
    start = [parse(d.grammar, "(+ (box 0 2 2) (box 1 1 1))")]
    for steps in (0, 3):
        seen: list[tuple[int, int, int]] = []

        def spy(renderer, lineage, children, parents, limit, seen=seen):
            out = follow_lines(renderer, lineage, children, parents, limit)
            seen.append((len(children), limit, len(out)))
            return out

        monkeypatch.setattr(beam, "follow_lines", spy)
        config = SearchConfig.model_validate({"beam": {"line_steps": steps, "expansions": 2}})
        res = solve(d, target, "beam", budget=300, seed=3, bundle=bundle, config=config, seeds=start)
        assert res.renderer_calls <= 300
        assert (seen == []) == (steps == 0) and all(limit == 3 and n > 0 for n, limit, _ in seen)
    assert sum(n for _, _, n in seen) > 0  # some lines ran on: x 0 -> 1 pays, and so does 1 -> 2
