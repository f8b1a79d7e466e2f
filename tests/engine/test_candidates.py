"""Tests for beam candidates: dense ranks, the ranker's order and the frontier's expansion limit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from treediff.engine.grammar.parse import parse
from treediff.engine.search.budget import Visit
from treediff.engine.search.candidates import Candidate, Frontier, Ranker, ranks


def _cands(grammar: Any, rows: list[tuple[str, float, float]]) -> list[Candidate]:
    out = []
    for i, (text, distance, logprob) in enumerate(rows):
        tree = parse(grammar, text)
        out.append(Candidate(tree, Visit(tree, False, distance, i + 1), logprob))
    return out


def test_ranks_are_dense_and_ties_share_a_rank():
    assert ranks([0.3, 0.1, 0.3, 0.2]) == [2.0, 0.0, 2.0, 1.0]
    assert ranks([]) == []


def test_ranker_orders_by_distance_then_fewer_primitives_then_the_edits_log_probability(csg_grammar):
    cands = _cands(csg_grammar, [
        ("(+ (Circle 3 5 7) (Circle 4 5 6))", 0.2, -1.0),
        ("(Circle 3 5 7)", 0.2, -3.0),  # same distance, smaller: before the union
        ("(Circle 3 5 8)", 0.2, -0.5),  # same distance and size, likelier edit: first
        ("(Circle 3 5 9)", 0.1, -9.0),  # nearest: first of all
    ])
    ranker = Ranker(SimpleNamespace(), SimpleNamespace(value=None), mix=0.5, resolution=0.1)  # type: ignore[arg-type]
    assert ranker.mix == 1.0  # no value network: distance only, whatever the mix
    assert ranker.rank(cands) == [cands[3], cands[2], cands[1], cands[0]]
    assert ranker.score(cands) == cands  # nothing to ask


def test_ranker_rejects_a_mix_outside_zero_to_one():
    with pytest.raises(ValueError, match="beam mix 1.5"):
        Ranker(SimpleNamespace(), SimpleNamespace(value=None), mix=1.5, resolution=0.1)  # type: ignore[arg-type]


def test_read_mix_weighs_the_rank_by_reading_against_the_rank_by_distance(csg_grammar):
    texts = ["(Circle 3 5 7)", "(Circle 3 5 8)", "(Circle 3 5 9)", "(Circle 3 5 10)"]
    trees = [parse(csg_grammar, x) for x in texts]
    cands = [Candidate(t, Visit(t, False, 0.1 * i, i + 1), 0.0) for i, t in enumerate(trees)]
    reads = {trees[0]: -9.0, trees[1]: -8.0, trees[2]: -7.0, trees[3]: -1.0}  # the farthest reads best
    asked: list[int] = []

    def reader(batch):
        asked.append(len(batch))
        return [reads[t] for t in batch]

    bundle = SimpleNamespace(value=None)
    plain = Ranker(None, bundle, 1.0, 0.1)  # type: ignore[arg-type]
    assert plain.rank(cands[::-1]) == cands  # by distance alone; nothing read
    by_read = Ranker(None, bundle, 1.0, 0.1, reader=reader, read_mix=1.0)  # type: ignore[arg-type]
    assert by_read.rank(cands) == cands[::-1] and asked == [4]
    half = Ranker(None, bundle, 1.0, 0.1, reader=reader, read_mix=0.5)  # type: ignore[arg-type]
    # rank sums 0+3, 1+2, 2+1, 3+0 tie: then the nearer program first
    assert half.rank(cands[::-1]) == cands
    reads.update({trees[1]: -1.0, trees[3]: -10.0})  # the second nearest reads best: 1+0 beats 0+2
    assert half.rank(cands[::-1]) == [cands[1], cands[0], cands[2], cands[3]]


def test_best_first_frontier_moves_on_to_the_next_best_program_once_one_is_used_up(csg_grammar):
    def cand(text, dist):
        t = parse(csg_grammar, text)
        return Candidate(t, Visit(t, False, dist, 1), 0.0)

    a, b, c, d = (cand(f"(Circle {i} 5 7)", 0.1 * i) for i in range(1, 5))
    plain = Frontier(0, True, [a])
    plain.expanded([a.tree])
    assert plain.pool([b], [a]) == [b, a]  # the round's children and the beam, nothing older
    assert Frontier(0, False, [a]).pool([b], [a]) == [b]
    best_first = Frontier(2, True, [a])
    best_first.expanded([a.tree])
    assert best_first.pool([b, c], [a]) == [a, b, c]
    best_first.expanded([a.tree, b.tree])
    assert best_first.pool([d], [a, b]) == [b, c, d]  # a was a parent twice: used up; c is still there
    best_first.reset([d])
    assert best_first.pool([], [d]) == [d]
