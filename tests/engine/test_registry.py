"""Plugin registry: entry points load one by one; failures are isolated; duplicates name both plugins."""

from __future__ import annotations

import importlib.metadata as md

import pytest

from treediff.engine.domains.registry import GROUP, load_registry
from treediff.engine.errors import DomainError, DuplicateNameError, PluginError


def ep(name: str, value: str) -> md.EntryPoint:
    return md.EntryPoint(name=name, value=value, group=GROUP)


GOOD = ep("good", "tests.engine.fake_plugins:good")


def test_domains_and_encoders_are_collected_per_plugin() -> None:
    reg = load_registry([GOOD], builtin_encoders=False)
    assert sorted(reg.domains) == ["alpha", "beta"]
    assert reg.plugins[0].name == "good" and reg.plugins[0].domains == ["alpha", "beta"]
    assert reg.plugins[0].encoders == ["flat"] and reg.encoder("flat") is not None
    assert reg.domain("alpha").grammar.name == "arith"


def test_import_failure_is_reported_and_skipped() -> None:
    reg = load_registry([ep("broken", "no_such_module_xyz"), GOOD], builtin_encoders=False)
    assert sorted(reg.domains) == ["alpha", "beta"]
    assert reg.failures[0][0] == "broken" and "ModuleNotFoundError" in reg.failures[0][1]


def test_raising_hook_leaves_nothing_behind() -> None:
    reg = load_registry([ep("raises", "tests.engine.fake_plugins:raises"), GOOD], builtin_encoders=False)
    assert "gamma" not in reg.domains and sorted(reg.domains) == ["alpha", "beta"]
    assert reg.failures == [("raises", "RuntimeError: boom while registering")]


def test_wrong_object_is_a_failure_naming_the_plugin() -> None:
    reg = load_registry([ep("wrong", "tests.engine.fake_plugins:wrong_type")], builtin_encoders=False)
    assert reg.failures and "plugin 'wrong'" in reg.failures[0][1] and "Domain" in reg.failures[0][1]


def test_duplicate_domain_names_both_plugins() -> None:
    with pytest.raises(DuplicateNameError, match="by plugin 'clash' and by plugin 'good'") as info:
        load_registry([GOOD, ep("clash", "tests.engine.fake_plugins:clash")], builtin_encoders=False)
    assert isinstance(info.value, PluginError)
    assert (info.value.kind, info.value.name, info.value.plugins) == ("domain", "beta", ("clash", "good"))


@pytest.mark.parametrize("obj", ["misspelt", "misspelt_unmarked"])
def test_misspelt_hook_name_is_a_reported_failure(obj: str) -> None:
    reg = load_registry([ep("typo", f"tests.engine.fake_plugins:{obj}"), GOOD], builtin_encoders=False)
    assert sorted(reg.domains) == ["alpha", "beta"] and [p.name for p in reg.plugins] == ["good"]
    assert [name for name, _ in reg.failures] == ["typo"]
    assert "treediff_register_domain" in reg.failures[0][1] and "treediff_register_domains" in reg.failures[0][1]


def test_unknown_domain_lists_known_and_failed() -> None:
    reg = load_registry([GOOD, ep("broken", "no_such_module_xyz")], builtin_encoders=False)
    with pytest.raises(DomainError) as info:
        reg.domain("nope")
    assert "expected one of: alpha, beta" in str(info.value) and "broken" in str(info.value)
