"""The TinySVG grammar file: valid, exactly the DESIGN language, printing and parsing round-trip."""

from __future__ import annotations

import random

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import to_text
from treediff.plugins.tinysvg.plugin import GRAMMAR_PATH


def test_grammar_file_declares_the_schema_for_editors() -> None:
    first = GRAMMAR_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/grammar.schema.json"


def test_language_matches_design(svg_grammar: Grammar) -> None:
    g = svg_grammar
    assert g.name == "tinysvg" and g.start == "scene"
    assert [p.name for p in g.productions] == ["rectangle", "ellipse", "arrange", "move"]
    assert {p.name for p in g.productions if p.primitive} == {"rectangle", "ellipse", "move"}
    assert g.terminals["num"].values == tuple(range(10))
    assert g.terminals["color"].values == ("red", "green", "blue", "yellow", "purple", "orange", "black", "white",
                                           "none")
    assert g.terminals["dir"].values == ("v", "h")
    assert g.terminals["flag"].values == (False, True)
    assert [s.field for s in g.by_name["rectangle"].slots] == ["w", "h", "fill", "stroke", "sw"]
    assert [s.field for s in g.by_name["arrange"].slots] == ["dir", "first", "second", "gap"]
    assert [s.field for s in g.by_name["move"].slots] == ["scene", "x", "y", "nx", "ny"]


def test_design_program_text_parses(svg_grammar: Grammar) -> None:
    text = "(Move (Arrange h (Rectangle 3 4 red none 2) (Ellipse 2 2 blue black 1) 3) 1 2 true false)"
    tree = parse(svg_grammar, text)
    assert to_text(tree) == text
    assert tree.sigma == 3 and tree["nx"] is True and tree["scene"]["dir"] == "h"  # type: ignore[index]


def test_print_parse_round_trip_on_samples(svg_grammar: Grammar) -> None:
    rng = random.Random(3)
    for _ in range(200):
        tree = sample_tree(svg_grammar, rng, 1, 8)
        assert parse(svg_grammar, to_text(tree)) == tree


def test_description_documents_the_chosen_semantics(svg_grammar: Grammar) -> None:
    text = Grammar.load(GRAMMAR_PATH).spec.description
    for phrase in ("orange 255,165,0", "purple 128,0,128", "green 0,128,0", "does not extend it", "W = 0"):
        assert phrase in text
