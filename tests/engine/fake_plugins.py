"""Plugin objects for registry tests: well-behaved, duplicate, broken and misbehaving ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.toys import GRAMMAR_DIR
from treediff.engine.domains.domain import Domain, ObservationStorage
from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.grammar.grammar import Grammar


def toy_domain(name: str) -> Domain:
    """A domain over the arithmetic toy grammar whose callables are never called in these tests."""

    def unused(*args: Any) -> Any:
        raise AssertionError("not called in registry tests")

    return Domain(name=name, grammar=Grammar.load(GRAMMAR_DIR / "arith.yaml"), make_executor=unused,
                  goal=unused, distance=unused, observation_shape=(1, 4),
                  storage=ObservationStorage(".toy", unused, unused))


class Good:
    @hookimpl
    def treediff_register_domains(self, register: Callable[[Domain], None]) -> None:
        register(toy_domain("alpha"))
        register(toy_domain("beta"))

    @hookimpl
    def treediff_register_observation_encoders(self, register: Callable[..., None]) -> None:
        register("flat", lambda shape, d_model: None)


class Clash:
    @hookimpl
    def treediff_register_domains(self, register: Callable[[Domain], None]) -> None:
        register(toy_domain("beta"))


class Raises:
    @hookimpl
    def treediff_register_domains(self, register: Callable[[Domain], None]) -> None:
        register(toy_domain("gamma"))
        raise RuntimeError("boom while registering")


class WrongType:
    @hookimpl
    def treediff_register_domains(self, register: Callable[[Any], None]) -> None:
        register("not a domain")


good, clash, raises, wrong_type = Good(), Clash(), Raises(), WrongType()


class Misspelt:
    @hookimpl
    def treediff_register_domain(self, register: Callable[[Domain], None]) -> None:  # 's' missing
        register(toy_domain("delta"))


class MisspeltUnmarked:
    def treediff_register_domain(self, register: Callable[[Domain], None]) -> None:  # no @hookimpl either
        register(toy_domain("delta"))


misspelt = Misspelt()
misspelt_unmarked = MisspeltUnmarked()


class DomainsPlugin:
    """A plugin object registering the given domains (for tests that build a registry by hand)."""

    def __init__(self, *domains: Domain) -> None:
        self.domains = domains

    @hookimpl
    def treediff_register_domains(self, register: Callable[[Domain], None]) -> None:
        for d in self.domains:
            register(d)
