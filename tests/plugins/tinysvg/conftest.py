"""Fixtures for the TinySVG plugin tests: the grammar, a parser shortcut and a CPU executor."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.plugin import GRAMMAR_PATH
from treediff.plugins.tinysvg.render import TinySVGExecutor


@pytest.fixture(scope="session")
def svg_grammar() -> Grammar:
    """The shipped TinySVG grammar."""
    return Grammar.load(GRAMMAR_PATH)


@pytest.fixture(scope="session")
def program(svg_grammar: Grammar) -> Callable[[str], Node]:
    """Parse TinySVG program text."""
    return lambda text: parse(svg_grammar, text)


@pytest.fixture(scope="session")
def executor() -> TinySVGExecutor:
    """A CPU renderer."""
    return TinySVGExecutor("cpu")
