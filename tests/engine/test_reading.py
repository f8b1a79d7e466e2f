"""Tests for treediff.engine.search.reading: which proposals a reader keeps."""

from __future__ import annotations

import random

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.search.reading import best_read, best_read_left, read_filter


def _circles(grammar: Grammar, radii: list[int]) -> list:
    return [parse(grammar, f"(Circle {r} 5 5)") for r in radii]


def _by_radius(trees: list) -> list[float]:
    return [float(t.children[0]) for t in trees]


def test_read_filter_keeps_the_best_read_share_of_fresh_programs_in_their_order(csg_grammar: Grammar) -> None:
    trees = _circles(csg_grammar, [3, 9, 1, 7, 9, 5, 8])
    offered = [("parent", f"edit{i}", t, -float(i)) for i, t in enumerate(trees)]
    seen = {trees[6]}  # radius 8 was executed before: never kept, never counted
    kept = read_filter(offered, _by_radius, 2, lambda t: t in seen)
    # fresh and distinct: radii 3, 9, 1, 7, 5 (the second 9 repeats the first) -> keep ceil(5 / 2) = 3 best
    assert [item[1] for item in kept] == ["edit1", "edit3", "edit5"]
    assert read_filter(offered, _by_radius, 1, lambda t: False) == offered[:4] + offered[5:]


def test_read_filter_of_nothing_fresh_is_empty(csg_grammar: Grammar) -> None:
    trees = _circles(csg_grammar, [3, 4])
    offered = [("p", "e", t, 0.0) for t in trees]
    assert read_filter(offered, _by_radius, 3, lambda t: True) == []


def test_best_read_takes_three_quarters_by_reading_among_same_size_programs(csg_grammar: Grammar) -> None:
    small = _circles(csg_grammar, list(range(1, 13)))
    big = parse(csg_grammar, "(+ (Circle 15 5 5) (Circle 15 6 6))")  # reads best, but another size
    pool = [("e", t) for t in small] + [("e", big)]
    size = small[0].size
    picked = [t for _, t in best_read(pool, 4, random.Random(0), _by_radius, size)]
    assert [float(t.children[0]) for t in picked[:3]] == [12, 11, 10] and len(set(picked)) == 4
    assert best_read(pool, 4, random.Random(1), None, size) == random.Random(1).sample(pool, 4)
    assert sorted(map(str, (t for _, t in best_read(pool[:3], 4, random.Random(0), _by_radius, size)))) == \
        sorted(str(t) for _, t in pool[:3])


def test_best_read_left_takes_the_best_read_of_what_the_ranking_left_out(csg_grammar: Grammar) -> None:
    ranked = [("c", t) for t in _circles(csg_grammar, [2, 9, 4, 7, 1])]
    chosen = ranked[:2]
    picked = best_read_left(ranked, chosen, _by_radius, 2, lambda c: c[1])
    assert [float(c[1].children[0]) for c in picked] == [7, 4]  # 9 is already in the beam
    assert best_read_left(ranked, chosen, _by_radius, 0, lambda c: c[1]) == []
    assert best_read_left(ranked, ranked, _by_radius, 2, lambda c: c[1]) == []
