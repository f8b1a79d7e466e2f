"""Shared fixtures: the toy grammars under tests/grammars."""

from __future__ import annotations

import pytest

from engine.grammar import Grammar
from tests.toys import GRAMMAR_DIR, TOY_GRAMMARS


@pytest.fixture(params=TOY_GRAMMARS)
def toy_grammar(request: pytest.FixtureRequest) -> Grammar:
    """Each valid toy grammar in turn."""
    return Grammar.load(GRAMMAR_DIR / f"{request.param}.yaml")


@pytest.fixture
def csg_grammar() -> Grammar:
    """The CSG-shaped toy grammar."""
    return Grammar.load(GRAMMAR_DIR / "csg.yaml")
