"""The packaged CSG2D grammar: valid, exactly the DESIGN language, and printing/parsing round-trips."""

from __future__ import annotations

import random

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.grammar.validation import validate_file
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import to_text
from treediff.plugins.csg2d.plugin import GRAMMAR_PATH


def test_grammar_file_is_valid_and_points_at_the_schema() -> None:
    assert validate_file(GRAMMAR_PATH) == []
    first = GRAMMAR_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/grammar.schema.json"


def test_grammar_is_the_design_language() -> None:
    grammar = Grammar.load(GRAMMAR_PATH)
    assert grammar.name == "csg2d" and grammar.start == "shape"
    forms = {p.name: [s.field for s in p.slots] for p in grammar.productions}
    assert forms == {"circle": ["r", "x", "y"], "quad": ["x", "y", "w", "h", "a"],
                     "union": ["left", "right"], "difference": ["left", "right"]}
    assert {p.name for p in grammar.productions if p.primitive} == {"circle", "quad"}
    coord, angle = grammar.terminals["coord"], grammar.terminals["angle"]
    assert (coord.kind, coord.lo, coord.hi) == ("int", 0, 15)
    assert (angle.kind, angle.lo, angle.hi) == ("int", 0, 7)
    tree = parse(grammar, "(- (Circle 5 8 8)\n   (+ (Quad 8 8 4 2 1) (Circle 0 0 0)))")
    assert to_text(tree) == "(- (Circle 5 8 8) (+ (Quad 8 8 4 2 1) (Circle 0 0 0)))"


def test_random_programs_round_trip() -> None:
    grammar = Grammar.load(GRAMMAR_PATH)
    rng = random.Random(0)
    for _ in range(200):
        tree = sample_tree(grammar, rng, 1, 8)
        assert parse(grammar, to_text(tree)) == tree
