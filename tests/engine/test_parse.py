"""Parsing: print -> parse round-trips on every toy grammar; located errors for bad text."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.toys import GRAMMAR_DIR, TOY_GRAMMARS
from treediff.engine.errors import ParseError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse, parser_for
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import to_text, validate

GRAMMARS = {name: Grammar.load(GRAMMAR_DIR / f"{name}.yaml") for name in TOY_GRAMMARS}


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(TOY_GRAMMARS), seed=st.integers(0, 2**32 - 1), size=st.integers(1, 8))
def test_print_parse_round_trip(name: str, seed: int, size: int) -> None:
    g = GRAMMARS[name]
    tree = sample_tree(g, random.Random(seed), min_primitives=min(size, 1), max_primitives=size)
    text = to_text(tree)
    back = parse(g, text)
    assert back == tree and hash(back) == hash(tree)
    validate(back, g)


def test_whitespace_is_free(csg_grammar: Grammar) -> None:
    a = parse(csg_grammar, "(+ (Circle 1 2 3) (Quad 1 2 3 4 5))")
    b = parse(csg_grammar, "  (+\n\t( Circle 1 2 3 )(Quad 1 2\n3 4 5 ) )  ")
    assert a == b


def test_lalr_is_used_for_unambiguous_grammars(toy_grammar: Grammar) -> None:
    assert parser_for(toy_grammar).algorithm == "lalr"


@pytest.mark.parametrize("text,where,fragment", [
    ("(+ (Circle 1 2 3) (Quad 1 2 3 4 9))", ":1:33:", "out of range; expected an integer 0..7"),
    ("(+ (Circl 1 2 3)", ":1:5:", "expected '+', '-', 'Circle', 'Quad'"),
    ("(Circle 1 2", ":1:12:", "unexpected end of input; expected an integer"),
    ("(Circle 1 2 3)\n(Circle", ":2:1:", "unexpected"),
])
def test_errors_are_located(csg_grammar: Grammar, text: str, where: str, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(csg_grammar, text, source="prog.txt")
    message = str(info.value)
    assert message.startswith("prog.txt" + where) and fragment in message


def test_enum_and_bool_values() -> None:
    g = GRAMMARS["logo"]
    tree = parse(g, "pen blue false ; rt -3")
    assert tree["first"]["color"] == "blue" and tree["first"]["down"] is False
    assert tree["rest"]["only"]["by"] == -3
    with pytest.raises(ParseError, match="color"):
        parse(g, "pen pink true")


def test_parsers_do_not_keep_grammars_alive() -> None:
    import gc
    import weakref

    g = Grammar.load(GRAMMAR_DIR / "csg.yaml")
    parse(g, "(Circle 1 2 3)")
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None
