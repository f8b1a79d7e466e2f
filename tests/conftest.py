"""Shared fixtures: the toy grammars under tests/grammars, and single-threaded torch for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tests.toys import GRAMMAR_DIR, TOY_GRAMMARS
from treediff.engine import commands
from treediff.engine.grammar.grammar import Grammar

# Import every CLI command module now: a module first imported while a test has monkeypatched
# treediff.engine.domains.registry.load_registry would otherwise bind the fake for the rest of the session.
for _name in commands.COMMANDS:
    commands.load(_name)


@pytest.fixture(params=TOY_GRAMMARS)
def toy_grammar(request: pytest.FixtureRequest) -> Grammar:
    """Each valid toy grammar in turn."""
    return Grammar.load(GRAMMAR_DIR / f"{request.param}.yaml")


@pytest.fixture
def csg_grammar() -> Grammar:
    """The CSG-shaped toy grammar."""
    return Grammar.load(GRAMMAR_DIR / "csg.yaml")


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """One torch thread per test: the tensors are tiny, and on a busy machine OpenMP barrier spinning makes
    multi-threaded runs many times slower. The previous count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
