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


def test_the_observation_key_check_catches_a_key_that_merges_different_drawings() -> None:
    import dataclasses

    from tests.engine.blocks_domain import make_domain

    blocks = make_domain()
    assert run_check("observation key", blocks).status == "skip"
    merged = run_check("observation key", dataclasses.replace(blocks, observation_key=lambda tree: tree.name))
    assert merged.status == "fail" and "same observation_key but execute to different observations" in merged.message
    unhashable = run_check("observation key", dataclasses.replace(blocks, observation_key=lambda tree: [str(tree)]))
    assert unhashable.status == "fail" and "unhashable" in unhashable.message
    exact = run_check("observation key", dataclasses.replace(blocks, observation_key=str))
    assert exact.status == "pass"
