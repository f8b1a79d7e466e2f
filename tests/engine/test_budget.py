"""Renderer-call accounting: distinct programs counted once, budget and time limits, observation cache."""

from __future__ import annotations

import pytest
import torch

from tests.engine.blocks_domain import make_domain, render
from treediff.engine.errors import InputError
from treediff.engine.grammar.parse import parse
from treediff.engine.search.budget import BudgetedExecutor, Profile


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def programs(domain, texts):
    return [parse(domain.grammar, t) for t in texts]


BOXES = [f"(box {x} {y} 1)" for x in range(4) for y in range(4)]


def test_distinct_programs_are_counted_once_and_revisits_are_free():
    d = make_domain()
    ex = d.make_executor("cpu")
    target = render(d, parse(d.grammar, "(box 1 1 2)"))
    r = BudgetedExecutor(d, ex, target, budget=10)
    a, b = programs(d, BOXES[:2])
    visits = r.run([a, b, a])
    assert r.calls == 2 and len(ex.executed) == 2
    assert visits[0] is visits[2] and visits[0].call == 1 and visits[1].call == 2
    r.run([b, a])
    assert r.calls == 2 and len(ex.executed) == 2 and r.remaining == 8


def test_budget_truncates_a_batch_and_never_executes_more():
    d = make_domain()
    ex = d.make_executor("cpu")
    r = BudgetedExecutor(d, ex, render(d, parse(d.grammar, "(box 3 3 1)")), budget=5)
    trees = programs(d, BOXES)
    visits = r.run(trees)
    assert r.calls == 5 and len(set(ex.executed)) == 5 == len(ex.executed)
    assert all(v is not None for v in visits[:5]) and all(v is None for v in visits[5:])
    assert r.done() and r.run(trees[5:]) == [None] * 11 and len(ex.executed) == 5


def test_goal_best_and_first_solution():
    d = make_domain()
    target_tree = parse(d.grammar, "(box 2 1 1)")
    r = BudgetedExecutor(d, d.make_executor("cpu"), render(d, target_tree), budget=100)
    r.run(programs(d, ["(box 2 1 2)", "(box 0 0 1)", "(+ (box 2 1 1) (box 0 0 1))"]))
    assert not r.solved and r.best.tree == parse(d.grammar, "(+ (box 2 1 1) (box 0 0 1))")
    r.run([target_tree, parse(d.grammar, "(+ (box 2 1 1) (box 2 1 1))")])
    assert r.solved and r.first_solution.tree == target_tree and r.first_solution.call == 4
    assert r.calls_at_solve == 4 and r.calls == 5  # the match's own call, not the end of its batch
    assert r.best.distance == 0.0 and r.done()


def test_goal_can_be_disabled_for_sketch_targets():
    d = make_domain()
    t = parse(d.grammar, "(box 2 1 1)")
    r = BudgetedExecutor(d, d.make_executor("cpu"), render(d, t), budget=10, use_goal=False)
    r.run([t])
    assert not r.solved and r.best.distance == 0.0 and not r.done()


def test_time_limit_stops_between_chunks():
    d = make_domain()
    clock = FakeClock()
    ex = d.make_executor("cpu")
    original = ex.execute

    def slow(trees):
        clock.now += 1.0
        return original(trees)

    ex.execute = slow
    r = BudgetedExecutor(d, ex, render(d, parse(d.grammar, "(box 3 3 1)")), budget=100, time_limit=2.5, chunk=4,
                 clock=clock, profile=Profile(clock=clock))
    visits = r.run(programs(d, BOXES))
    assert r.calls == 12  # three chunks start before 2.5 s; the fourth would start at 3 s
    assert sum(v is not None for v in visits) == 12
    assert r.out_of_time() and r.done()
    assert r.profile.seconds["render"] == pytest.approx(3.0)


def test_zero_time_limit_executes_nothing():
    d = make_domain()
    ex = d.make_executor("cpu")
    r = BudgetedExecutor(d, ex, render(d, parse(d.grammar, "(box 3 3 1)")), budget=10, time_limit=0.0)
    assert r.run(programs(d, BOXES[:3])) == [None] * 3 and ex.executed == []


def test_evicted_observations_are_re_executed_without_counting():
    d = make_domain()
    ex = d.make_executor("cpu")
    r = BudgetedExecutor(d, ex, render(d, parse(d.grammar, "(box 3 3 1)")), budget=50, keep_observations=2)
    trees = programs(d, BOXES[:6])
    r.run(trees)
    obs = r.observe(trees)
    assert obs.shape == (6, 1, 16, 16)
    for i, t in enumerate(trees):
        assert (obs[i] == render(d, t)).all()
    assert r.calls == 6 and r.reexecutions == 4
    with pytest.raises(ValueError):
        r.observe(programs(d, [BOXES[7]]))


def test_bad_limits_are_rejected():
    d = make_domain()
    target = render(d, parse(d.grammar, "(box 3 3 1)"))
    with pytest.raises(InputError, match="budget"):
        BudgetedExecutor(d, d.make_executor("cpu"), target, budget=0)
    with pytest.raises(InputError, match="time limit"):
        BudgetedExecutor(d, d.make_executor("cpu"), target, budget=5, time_limit=-1)


def test_profile_breakdown_puts_the_rest_in_python():
    p = Profile()
    p.seconds["model"] = 1.0
    p.seconds["render"] = 2.0
    assert p.breakdown(5.0) == {"model": 1.0, "render": 2.0, "python": 2.0}


def union_key(tree):
    """A normal form of blocks scenes: a union's operands are unordered (``(+ a b)`` draws what ``(+ b a)`` does)."""
    if tree.name == "box":
        return str(tree)
    a, b = union_key(tree["a"]), union_key(tree["b"])
    return ("+", frozenset((a, b))) if tree.name == "union" else ("-", a, b)


def keyed_domain():
    import dataclasses

    return dataclasses.replace(make_domain(), observation_key=union_key)


def test_a_repeat_by_observation_key_is_not_executed_and_shares_the_visit():
    d = keyed_domain()
    ex = d.make_executor("cpu")
    r = BudgetedExecutor(d, ex, render(d, parse(d.grammar, "(box 1 1 2)")), budget=10)
    ab, ba, other = programs(d, ["(+ (box 0 0 1) (box 1 1 1))", "(+ (box 1 1 1) (box 0 0 1))", "(box 2 2 1)"])
    first = r.run([ab])[0]
    assert not r.seen(other) and r.seen(ba)  # the repeat is seen before it is ever given to run()
    again, new = r.run([ba, other])
    assert r.calls == 2 and ex.executed == [ab, other] and r.repeats == 1
    assert again.tree == ba and (again.distance, again.call, again.solved) == (first.distance, 1, False)
    assert new.call == 2 and r.remaining == 8
    assert torch.equal(r.observe([ba, ab]), torch.stack([render(d, ab)] * 2))


def test_repeats_within_one_batch_run_once_and_keyed_false_runs_every_tree():
    d = keyed_domain()
    trees = programs(d, ["(+ (box 0 0 1) (box 1 1 1))", "(+ (box 1 1 1) (box 0 0 1))", "(box 2 2 1)"])
    target = render(d, trees[2])
    ex = d.make_executor("cpu")
    r = BudgetedExecutor(d, ex, target, budget=10)
    visits = r.run(trees)
    assert r.calls == 2 and ex.executed == [trees[0], trees[2]] and visits[1].call == 1
    assert r.solved and r.calls_at_solve == 2
    plain = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=10, keyed=False)
    assert [v.call for v in plain.run(trees)] == [1, 2, 3] and plain.repeats == 0


@pytest.mark.parametrize("repeats", ["key", "tree"])
def test_the_search_config_chooses_what_counts_as_a_repeat(repeats):
    from treediff.engine.search.config import SearchConfig
    from treediff.engine.search.solve import solve

    d = keyed_domain()
    ex = d.make_executor("cpu")
    target = render(d, parse(d.grammar, "(+ (- (box 0 0 2) (box 1 1 1)) (+ (box 3 3 1) (box 2 0 1)))"))
    result = solve(d, target, "mutation", budget=300, seed=3, executor=ex, config=SearchConfig(repeats=repeats))
    keys = [union_key(t) for t in ex.executed]
    assert len(ex.executed) == result.renderer_calls == len(set(ex.executed))
    assert (len(set(keys)) == len(keys)) == (repeats == "key")  # mutation search does propose repeats
