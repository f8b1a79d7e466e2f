"""CI runs the installed contract suite (treediff.engine.domains.contract) on every registered domain."""

from __future__ import annotations

import pytest

from treediff.engine.domains.contract import CHECKS, run_check
from treediff.engine.domains.registry import load_registry

REGISTRY = load_registry()
DOMAINS = sorted(REGISTRY.domains)


def test_builtin_domains_are_registered() -> None:
    assert {"csg2d", "tinysvg"} <= set(DOMAINS)
    assert not REGISTRY.failures


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", DOMAINS)
def test_contract(name: str, check: str) -> None:
    result = run_check(check, REGISTRY.domain(name), REGISTRY)
    if result.status == "skip":
        pytest.skip(result.message)
    assert result.ok, str(result)
