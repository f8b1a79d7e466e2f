"""Model-free mutation search: solves easy targets, exact budget accounting, consistent trajectories."""

from __future__ import annotations

import random

import pytest

from tests.engine.blocks_domain import make_domain, near, render
from treediff.engine.search.baselines import mutation_search
from treediff.engine.search.budget import BudgetedExecutor
from treediff.engine.search.config import MutationConfig, SearchConfig
from treediff.engine.search.solve import solve


@pytest.mark.parametrize("schedule", ["anneal", "hill"])
def test_mutation_search_solves_targets_one_or_two_edits_away(schedule):
    d = make_domain()
    solved = 0
    for i, target in enumerate(d.test_targets(6, 11)):
        ex = d.make_executor("cpu")
        r = BudgetedExecutor(d, ex, render(d, target), budget=400)
        res = mutation_search(d, r, random.Random(i), schedule=schedule, start=near(d, target, 1 + i % 2, i))
        solved += res.solved
        if res.solved:
            assert res.score == 0.0 and res.calls_at_solve <= res.renderer_calls <= 400
            assert (render(d, res.program) == render(d, target)).all()
    assert solved == 6


@pytest.mark.parametrize("schedule", ["anneal", "hill"])
@pytest.mark.parametrize("budget", [1, 2, 7, 40])
def test_mutation_search_never_exceeds_the_budget(schedule, budget):
    d = make_domain()
    target = d.test_targets(1, 5)[0]
    ex = d.make_executor("cpu")
    res = solve(d, render(d, target), "mutation", budget=budget, seed=3, executor=ex,
                config=SearchConfig(mutation=MutationConfig(schedule=schedule, batch=5)))
    distinct = set(ex.executed)
    assert len(distinct) == res.renderer_calls <= budget
    assert len(ex.executed) == res.renderer_calls  # nothing executed twice either
    if not res.solved:
        assert res.renderer_calls == budget


def test_trajectory_is_a_chain_of_accepted_edits_ending_at_the_result():
    d = make_domain()
    target = d.test_targets(1, 7)[0]
    res = solve(d, render(d, target), "mutation", budget=400, seed=2)
    assert res.trajectory[0].edit is None
    for prev, step in zip(res.trajectory, res.trajectory[1:]):
        assert step.edit.apply(prev.program) == step.program
    assert res.trajectory[-1].program == res.program
    assert res.score == min(s.distance for s in res.trajectory)


def test_unsolved_search_returns_the_best_program_seen():
    d = make_domain()
    target = d.test_targets(1, 8)[0]
    ex = d.make_executor("cpu")
    res = solve(d, render(d, target), "mutation", budget=3, seed=0, executor=ex)
    distances = d.distance(ex.execute(ex.executed[:3]), render(d, target))
    assert res.score == pytest.approx(float(distances.min()))


def test_same_seed_same_result_and_time_limit_zero():
    d = make_domain()
    target = render(d, d.test_targets(1, 9)[0])
    a = solve(d, target, "mutation", budget=60, seed=4)
    b = solve(d, target, "mutation", budget=60, seed=4)
    assert (a.program, a.renderer_calls, a.solved) == (b.program, b.renderer_calls, b.solved)
    none = solve(d, target, "mutation", budget=60, seed=4, time_limit=0.0)
    assert none.renderer_calls == 0 and none.program is None and not none.solved
    assert none.to_json()["program"] is None and none.to_json()["score"] is None
