"""One entry point for every search method: a domain, a target, a renderer-call budget, a time limit, a seed.

Methods: ``beam`` (value-guided beam search, :mod:`treediff.engine.search.beam`), ``rollout`` (denoiser rollouts,
:mod:`treediff.engine.search.rollout`), ``mutation`` (model-free simulated annealing / hill climbing) and ``ar``
(autoregressive sampling with rejection), the last two in :mod:`treediff.engine.search.baselines`. All of them execute
programs only through one :class:`treediff.engine.search.budget.BudgetedExecutor`, so renderer calls are counted alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.search.budget import BudgetedExecutor, Profile
from treediff.engine.search.config import SearchConfig
from treediff.engine.search.result import SolveResult
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle

METHODS = ("beam", "rollout", "mutation", "ar")
NEEDS = {"beam": "diffusion", "rollout": "diffusion", "ar": "ar", "mutation": None}


def checkpoint_paths(domain: Domain, methods: Sequence[str], checkpoint: Path | None = None,
                     ar_checkpoint: Path | None = None) -> tuple[Path | None, Path | None]:
    """The one place that decides which checkpoint files ``methods`` read: ``(primary, ar)``.

    ``primary`` (``checkpoint``, else the domain's shipped model) is read when a method needs the diffusion
    models, or when ``ar`` is asked for without an ``ar_checkpoint`` (the primary may be an AR checkpoint);
    ``ar`` (``ar_checkpoint``, else the domain's shipped AR model) when method ``ar`` is asked for. None: not read.
    """
    need_diffusion = any(NEEDS[m] == "diffusion" for m in methods)
    need_ar = "ar" in methods
    primary = checkpoint or domain.checkpoint
    uses_primary = primary is not None and (need_diffusion or (need_ar and ar_checkpoint is None))
    ar_path = ar_checkpoint or domain.ar_checkpoint
    return (Path(primary) if uses_primary and primary is not None else None,
            Path(ar_path) if need_ar and ar_path is not None else None)


def model_for(method: str, bundle: ModelBundle | None, ar_bundle: ModelBundle | None = None) -> ModelBundle | None:
    """The model bundle ``method`` runs with, or CheckpointError saying which kind of checkpoint it needs."""
    if method not in METHODS:
        raise InputError(f"unknown search method {method!r}; expected one of: {', '.join(METHODS)}")
    need = NEEDS[method]
    if need == "diffusion":
        if bundle is not None and bundle.denoiser is not None:
            return bundle
        got = f"a checkpoint of kind {bundle.kind!r}" if bundle is not None else "no checkpoint"
        raise CheckpointError(f"method {method!r} needs a diffusion checkpoint (denoiser + value network); got "
                              f"{got}. hint: pass --checkpoint RUN_DIR of a `treediff train` run, or use "
                              "--method mutation, which needs no model")
    if need == "ar":
        return ar_model_for(method, bundle, ar_bundle)
    return None


def ar_model_for(method: str, bundle: ModelBundle | None, ar_bundle: ModelBundle | None) -> ModelBundle:
    """The bundle holding an autoregressive model (``ar_bundle`` first), or CheckpointError naming ``method``."""
    for candidate in (ar_bundle, bundle):
        if candidate is not None and candidate.ar is not None:
            return candidate
    raise CheckpointError(f"method {method!r} needs an autoregressive checkpoint; got none. hint: train one "
                          "with `treediff train DOMAIN --model ar` and pass it as the checkpoint")


def solve(domain: Domain, target: torch.Tensor, method: str = "beam", *, budget: int,
          time_limit: float | None = None, seed: int = 0, bundle: ModelBundle | None = None,
          ar_bundle: ModelBundle | None = None,
          device: str = "cpu", executor: Executor | None = None, use_goal: bool = True,
          config: SearchConfig | None = None, seeds: Sequence[Node] = ()) -> SolveResult:
    """Synthesise a program for ``target`` (an observation ``[*S]``) with ``method``.

    Never executes more than ``budget`` distinct programs and starts no executor or model batch after
    ``time_limit`` seconds (a batch already running finishes: the overshoot is at most one model batch
    plus one executor chunk). ``seed`` seeds a ``torch.Generator`` (model sampling) and a ``random.Random``
    (start programs, mutations), so a solve is reproducible. ``bundle`` is a loaded diffusion checkpoint
    (``treediff.engine.training.bundle.load_bundle``) for ``beam`` and ``rollout``; ``ar_bundle`` (or
    ``bundle``) an autoregressive one for ``ar``. ``use_goal=False`` (sketch targets) disables the goal check: the
    search runs to its limits and returns the program of lowest distance. ``config`` holds every method's
    settings (:class:`SearchConfig`; defaults when None); its ``start="ar"`` seeds beam search and rollouts with
    programs sampled from the AR model (``ar_bundle``), executed and counted like any other program. ``seeds``,
    when given, are the start programs instead (for example a user's own program to repair).
    """
    config = config if config is not None else SearchConfig()
    model = model_for(method, bundle, ar_bundle)
    executor = executor if executor is not None else domain.make_executor(device)
    expected = tuple(domain.observation_shape)
    if tuple(target.shape) != expected:
        raise InputError(f"target observation has shape {tuple(target.shape)}; expected {expected} for domain "
                         f"{domain.name!r}")
    renderer = BudgetedExecutor(domain, executor, target, budget, time_limit, use_goal=use_goal, profile=Profile(),
                                keyed=config.repeats == "key")
    rng = random.Random(seed)
    if method == "mutation":
        from treediff.engine.search.baselines import mutation_search

        return mutation_search(domain, renderer, rng, start=seeds[0] if seeds else None,
                               **config.mutation.model_dump())
    assert model is not None  # model_for raised unless a model-based method has its bundle
    generator = _generator(model, seed)
    if method == "ar":
        from treediff.engine.search.baselines import ar_search

        return ar_search(domain, renderer, model.need_ar(), model.vocab, generator,
                         max_tokens=model.config.max_program_tokens)
    start: str | list[Node] = list(dict.fromkeys(seeds)) if seeds else config.start
    if start == "ar":
        from treediff.engine.search.baselines import ar_programs

        ar_model = ar_model_for("ar", bundle, ar_bundle)
        start = ar_programs(renderer, ar_model, config.ar_samples, _generator(ar_model, seed), config.ar_temperature,
                            likely_first=config.ar_order == "likely", pool=config.ar_pool)
    if method == "beam":
        from treediff.engine.search.beam import beam_search

        ar = ar_model_for("beam", bundle, ar_bundle) if config.beam.uses_ar else None
        return beam_search(renderer, model, generator, rng, start=start, ar=ar, **config.beam.model_dump())
    from treediff.engine.search.rollout import rollout_search
    from treediff.engine.search.starts import start_programs

    if isinstance(start, str):
        start = [] if start == "random" else start_programs(domain, start, 1, rng)
    return rollout_search(renderer, model, generator, rng, start=start, **config.rollout.model_dump())


def _generator(bundle: ModelBundle, seed: int) -> torch.Generator:
    """A generator on the device of the bundle's models, seeded with ``seed``."""
    from treediff.engine.models.inference import model_device

    device = model_device(bundle.need_denoiser() if bundle.denoiser is not None else bundle.need_ar())
    return torch.Generator(device=device).manual_seed(seed)
