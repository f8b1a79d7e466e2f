"""Start programs: the skeleton vote that picks which of many AR samples a search runs."""

from __future__ import annotations

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.search.starts import skeleton_vote


def test_skeleton_vote_runs_the_most_drawn_structures_first_each_by_its_likeliest_program(
        csg_grammar: Grammar) -> None:
    def p(text: str):
        return parse(csg_grammar, text)

    one_a, one_b = p("(Circle 3 8 8)"), p("(Circle 1 2 3)")
    diff_a, diff_b, diff_c = (p("(- (Quad 8 8 12 8 0) (Circle 3 8 8))"), p("(- (Quad 1 1 1 1 1) (Circle 1 1 1))"),
                              p("(- (Quad 2 2 2 2 2) (Circle 2 2 2))"))
    union = p("(+ (Circle 3 8 8) (Circle 1 1 1))")
    drawn = [(one_a, -1.0), (diff_a, -9.0), (union, -2.0), (diff_b, -5.0), (diff_a, -9.0), (diff_c, -7.0),
             (one_b, -3.0)]
    # votes: the difference skeleton 4 (a repeat counts), the circle 2, the union 1
    assert [t for t, _ in skeleton_vote(drawn, 10)] == [diff_b, one_a, union, diff_a, diff_c, one_b]
    assert skeleton_vote(drawn, 2) == [(diff_b, -5.0), (one_a, -1.0)]
    # a tie on votes goes to the skeleton with the likelier program; a tie on that to the first drawn
    tied = [(one_b, -3.0), (union, -2.0)]
    assert [t for t, _ in skeleton_vote(tied, 2)] == [union, one_b]
    assert [t for t, _ in skeleton_vote([(one_b, -2.0), (union, -2.0)], 2)] == [one_b, union]
    assert skeleton_vote([], 3) == []
