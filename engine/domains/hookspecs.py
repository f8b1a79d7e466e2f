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

    Call ``register(name, factory)`` where ``factory(input_shape, d_model, **options)`` returns a
    ``torch.nn.Module`` mapping a batch ``[B, *input_shape]`` to a sequence of feature tokens
    ``[B, T, d_model]`` (several tokens, e.g. one per patch or per record, not one pooled vector).
    ``input_shape`` is NOT ``observation_shape``: under the default ``conditioning: channels`` the model
    stacks its three views (target, current, target - current) on axis 0, so a domain with
    ``observation_shape = (C, *rest)`` gives the encoder ``input_shape = (3 * C, *rest)``; under
    ``conditioning: tokens`` it is ``observation_shape``. ``options`` are ``Domain.encoder_options``
    (overridable by a training config's ``model_overrides.encoder_options``). A domain selects its encoder
    by name through ``Domain.observation_encoder``; built-ins are ``grid`` ([C, H, W]) and ``records``
    ([N, F]). Names are global; duplicates are an error naming both plugins.
    """
