"""The plugin contract: hook specifications; each docstring is the contract a plugin must honour."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain

PROJECT = "treediff"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def treediff_register_domains(register: Callable[[Domain], None]) -> None:
    """Register the domains this plugin provides.

    Call ``register(domain)`` once per :class:`treediff.engine.domains.domain.Domain`. Domain names are global: if two
    plugins register the same name, loading fails with an error naming both plugins. Keep this hook
    cheap (no model loading, no rendering); build heavy objects lazily inside the domain's callables.
    Raise nothing: an exception here marks the whole plugin as failed and it is skipped.
    """


@hookspec
def treediff_register_observation_encoders(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register observation encoders by name.

    Call ``register(name, factory)`` where ``factory(observation_shape, d_model, **options)`` returns a
    ``torch.nn.Module`` mapping observations ``[B, *observation_shape]`` to a sequence of feature
    tokens ``[B, T, d_model]`` (spatial features, not one pooled vector). A domain selects its encoder
    by name through ``Domain.observation_encoder``. Names are global; duplicates are an error naming
    both plugins.
    """
