"""treediff: grammar-agnostic program synthesis by diffusion over syntax trees — the public API.

This is what a domain plugin (and the ``treediff new-plugin`` scaffold) imports; everything under
``treediff.engine`` is internal and may move between releases. A plugin builds a :class:`Domain` and
registers it from a hook implementation::

    from treediff import Domain, Grammar, hookimpl

    GRAMMAR = Grammar.load("grammar.yaml")

    @hookimpl
    def treediff_register_domains(register):
        register(Domain(name="mydomain", grammar=GRAMMAR, make_executor=..., goal=..., distance=...,
                        observation_shape=(1, 8, 8), storage=ObservationStorage(".grid", load, save)))

What is here:

- the plugin contract: :class:`Domain` and the protocols of its callables (:class:`Executor`,
  :class:`GoalCheck`, :class:`Distance`), how observations are stored and shown
  (:class:`ObservationStorage`, :class:`ObservationOptions`, :class:`Preview`), the pluggy marker
  :data:`hookimpl`, :class:`Registry` / :func:`load_registry` to load plugins (a test can
  ``Registry().add(name, module)``), and :func:`check_domain`, the contract suite that
  ``treediff check-plugin NAME`` runs;
- grammars and programs: :class:`Grammar` (``Grammar.load(path)``), syntax trees :class:`Node` with
  :func:`build` and :func:`to_text`, :func:`parse` (text -> tree), :func:`sample_tree` and
  :func:`minimal_tree` (random and smallest derivations), :func:`round_trip_problems` (does every
  printed program parse back?);
- errors: :class:`TreediffError` is the base of every error treediff raises on purpose; the
  subclasses say what failed (:class:`InputError` for an unreadable or malformed user file, ...).

The hook specifications, with the contract in their docstrings, are in ``treediff.engine.domains.hookspecs``;
the contract suite is ``treediff.engine.domains.contract`` (``treediff check-plugin NAME``); the guide is
``docs/plugins.md``.
"""

from __future__ import annotations

from treediff.engine import __version__
from treediff.engine.domains.contract import check_domain
from treediff.engine.domains.domain import (
    Distance,
    Domain,
    Executor,
    GoalCheck,
    ObservationOptions,
    ObservationStorage,
    Preview,
)
from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.domains.registry import Registry, load_registry
from treediff.engine.errors import (
    CheckpointError,
    Diagnostic,
    DomainError,
    GrammarError,
    InputError,
    ParseError,
    PluginError,
    TreediffError,
    TreeError,
)
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.grammar.validation import round_trip_problems
from treediff.engine.trees.derivation import minimal_tree, sample_tree
from treediff.engine.trees.tree import Node, build, to_text

__all__ = [
    "__version__",
    # the plugin contract
    "Domain",
    "Executor",
    "GoalCheck",
    "Distance",
    "ObservationStorage",
    "ObservationOptions",
    "Preview",
    "hookimpl",
    "check_domain",
    "Registry",
    "load_registry",
    # grammars and programs
    "Grammar",
    "Node",
    "build",
    "to_text",
    "parse",
    "sample_tree",
    "minimal_tree",
    "round_trip_problems",
    # errors
    "TreediffError",
    "Diagnostic",
    "GrammarError",
    "ParseError",
    "TreeError",
    "PluginError",
    "DomainError",
    "InputError",
    "CheckpointError",
]
