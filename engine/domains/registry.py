"""The plugin registry: loads entry points one by one with pluggy and collects what they register."""

from __future__ import annotations

import difflib
import importlib.metadata as md
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from treediff.engine.domains import hookspecs
from treediff.engine.domains.domain import Domain
from treediff.engine.errors import DomainError, DuplicateNameError, PluginError

GROUP = "treediff"


@dataclass
class PluginInfo:
    """One loaded plugin: its name, where it came from, and what it registered."""

    name: str
    module: str
    version: str
    domains: list[str] = field(default_factory=list)
    encoders: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """Domains and encoders from every plugin that loaded, plus the failures of those that did not."""

    plugins: list[PluginInfo] = field(default_factory=list)
    domains: dict[str, Domain] = field(default_factory=dict)
    encoders: dict[str, Callable[..., Any]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (plugin, reason)
    _owner: dict[tuple[str, str], str] = field(default_factory=dict)

    def domain(self, name: str) -> Domain:
        """The domain called ``name``; DomainError listing the known ones otherwise."""
        if name in self.domains:
            return self.domains[name]
        known = ", ".join(sorted(self.domains)) or "none"
        failed = "; ".join(f"{p}: {r}" for p, r in self.failures)
        hint = f" (plugins that failed to load: {failed})" if failed else ""
        raise DomainError(f"unknown domain {name!r}; expected one of: {known}{hint}. "
                          "hint: `treediff plugins` lists installed plugins and their domains")

    def encoder(self, name: str) -> Callable[..., Any]:
        """The observation encoder factory called ``name``."""
        if name not in self.encoders:
            raise DomainError(f"unknown observation encoder {name!r}; expected one of: "
                              f"{', '.join(sorted(self.encoders)) or 'none'}")
        return self.encoders[name]

    def _claim(self, kind: str, name: str, plugin: str) -> None:
        owner = self._owner.get((kind, name))
        if owner is not None:
            raise DuplicateNameError(kind, name, (owner, plugin))
        self._owner[(kind, name)] = plugin

    def add(self, plugin: str, module: ModuleType | object, version: str = "") -> None:
        """Register ``module``'s hooks under ``plugin`` and collect its domains and encoders.

        All of a plugin's registrations take effect together, after its hooks returned: a hook that
        raises leaves nothing of that plugin behind.
        """
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        _check_hook_names(plugin, module)
        try:
            pm.register(module, name=plugin)
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {plugin!r} has an invalid hook: {exc}; expected the hooks of "
                              f"treediff.engine.domains.hookspecs: {', '.join(_HOOKS)}") from None
        domains: list[Domain] = []
        encoders: list[tuple[str, Callable[..., Any]]] = []

        def register_domain(domain: Domain) -> None:
            if not isinstance(domain, Domain):
                raise PluginError(f"plugin {plugin!r} registered {domain!r}; expected a treediff.Domain")
            domains.append(domain)

        def register_encoder(name: str, factory: Callable[..., Any]) -> None:
            if not callable(factory):
                raise PluginError(f"plugin {plugin!r} registered encoder {name!r} as {factory!r}; expected a "
                                  "callable factory")
            encoders.append((name, factory))

        pm.hook.treediff_register_domains(register=register_domain)
        pm.hook.treediff_register_observation_encoders(register=register_encoder)
        info = PluginInfo(plugin, getattr(module, "__name__", type(module).__name__), version)
        for domain in domains:
            self._claim("domain", domain.name, plugin)
        for name, _ in encoders:
            self._claim("observation encoder", name, plugin)
        for domain in domains:
            domain.plugin = plugin
            self.domains[domain.name] = domain
            info.domains.append(domain.name)
        for name, factory in encoders:
            self.encoders[name] = factory
            info.encoders.append(name)
        self.plugins.append(info)


_HOOKS = sorted(n for n in vars(hookspecs) if n.startswith(f"{hookspecs.PROJECT}_"))


def _check_hook_names(plugin: str, module: object) -> None:
    """PluginError for a ``treediff_*`` attribute that is no hook (a misspelt name would otherwise be ignored,
    and the plugin would load "successfully" with nothing registered)."""
    names = [n for n in dir(module) if n.startswith(f"{hookspecs.PROJECT}_") and n not in _HOOKS]
    if names:
        close = {n: difflib.get_close_matches(n, _HOOKS, 1) for n in names}
        shown = ", ".join(f"{n!r}" + (f" (did you mean {c[0]!r}?)" if c else "") for n, c in close.items())
        raise PluginError(f"plugin {plugin!r} defines unknown hook(s) {shown}; expected only the hooks of "
                          f"treediff.engine.domains.hookspecs: {', '.join(_HOOKS)}")


def _builtin_encoders(registry: Registry) -> None:
    from treediff.engine.models import encoders  # torch import deferred until a registry is built

    registry.add("treediff-engine", encoders, _version("treediff"))


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "unknown"


def load_registry(entry_points: list[md.EntryPoint] | None = None, builtin_encoders: bool = True) -> Registry:
    """Load every ``treediff`` entry point; a plugin that fails is recorded in ``failures`` and skipped.

    Duplicate domain or encoder names raise PluginError naming both plugins.
    """
    registry = Registry()
    if builtin_encoders:
        _builtin_encoders(registry)
    eps = entry_points if entry_points is not None else list(md.entry_points(group=GROUP))
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure must not take the others down
            registry.failures.append((ep.name, f"{type(exc).__name__}: {exc}"))
            continue
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else "unknown"
        try:
            registry.add(ep.name, module, version)
        except DuplicateNameError:
            raise
        except PluginError as exc:
            registry.failures.append((ep.name, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a broken hook skips its plugin only
            registry.failures.append((ep.name, f"{type(exc).__name__}: {exc}"))
    return registry
