"""Fixtures for the engine tests: a vocabulary for each toy grammar, and the CSG one."""

from __future__ import annotations

import pytest

from tests.toys import GRAMMAR_DIR
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tokens import Vocab

GRAMMARS = sorted(GRAMMAR_DIR.glob("*.yaml"))


@pytest.fixture(params=GRAMMARS, ids=lambda p: p.stem)
def vocab(request: pytest.FixtureRequest) -> Vocab:
    """A vocabulary for each toy grammar in turn."""
    return Vocab(Grammar.load(request.param))


@pytest.fixture
def csg() -> Vocab:
    """The vocabulary of the CSG toy grammar."""
    return Vocab(Grammar.load(GRAMMAR_DIR / "csg.yaml"))
