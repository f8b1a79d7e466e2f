"""One entry point for every search method: a domain, a target, a renderer-call budget, a time limit, a seed.

Methods: ``beam`` (value-guided beam search, :mod:`treediff.engine.search.beam`), ``rollout`` (denoiser rollouts,
:mod:`treediff.engine.search.rollout`), ``mutation`` (model-free simulated annealing / hill climbing) and ``ar``
(autoregressive sampling with rejection), the last two in :mod:`treediff.engine.search.baselines`. All of them execute
programs only through one :class:`treediff.engine.search.budget.BudgetedExecutor`, so renderer calls are counted alike.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.search.budget import BudgetedExecutor, Profile
from treediff.engine.search.result import SolveResult

METHODS = ("beam", "rollout", "mutation", "ar")
NEEDS = {"beam": "diffusion", "rollout": "diffusion", "ar": "ar", "mutation": None}


def model_for(method: str, bundle: Any | None, ar_bundle: Any | None = None) -> Any | None:
    """The model bundle ``method`` runs with, or CheckpointError saying which kind of checkpoint it needs."""
    if method not in METHODS:
        raise InputError(f"unknown search method {method!r}; expected one of: {', '.join(METHODS)}")
    need = NEEDS[method]
    if need == "diffusion":
        if bundle is not None and getattr(bundle, "denoiser", None) is not None:
            return bundle
        got = f"a checkpoint of kind {bundle.kind!r}" if bundle is not None else "no checkpoint"
        raise CheckpointError(f"method {method!r} needs a diffusion checkpoint (denoiser + value network); got "
                              f"{got}. hint: pass --checkpoint RUN_DIR of a `treediff train` run, or use "
                              "--method mutation, which needs no model")
    if need == "ar":
        for candidate in (ar_bundle, bundle):
            if candidate is not None and getattr(candidate, "ar", None) is not None:
                return candidate
        raise CheckpointError(f"method {method!r} needs an autoregressive checkpoint; got none. hint: train one "
                              "with `treediff train DOMAIN --model ar` and pass it as the checkpoint")
    return None


def solve(domain: Domain, target: torch.Tensor, method: str = "beam", *, budget: int,
          time_limit: float | None = None, seed: int = 0, bundle: Any | None = None, ar_bundle: Any | None = None,
          device: str = "cpu", executor: Executor | None = None, use_goal: bool = True,
          options: dict[str, Any] | None = None) -> SolveResult:
    """Synthesise a program for ``target`` (an observation ``[*S]``) with ``method``.

    Never executes more than ``budget`` distinct programs and starts no executor or model batch after
    ``time_limit`` seconds (a batch already running finishes: the overshoot is at most one model batch
    plus one executor chunk). ``seed`` seeds a ``torch.Generator`` (model sampling) and a ``random.Random``
    (start programs, mutations), so a solve is reproducible. ``bundle`` is a loaded diffusion checkpoint
    (``treediff.engine.training.bundle.load_bundle``) for ``beam`` and ``rollout``; ``ar_bundle`` (or
    ``bundle``) an autoregressive one for ``ar``. ``use_goal=False`` (sketch targets) disables the goal check: the
    search runs to its limits and returns the program of lowest distance. ``options`` go to the method function;
    for ``beam`` and ``rollout``, ``{"start": "ar"}`` seeds the search with programs sampled from the AR model
    (``ar_bundle``), which are executed and counted like any other program.
    """
    model = model_for(method, bundle, ar_bundle)
    executor = executor if executor is not None else domain.make_executor(device)
    expected = tuple(domain.observation_shape)
    if tuple(target.shape) != expected:
        raise InputError(f"target observation has shape {tuple(target.shape)}; expected {expected} for domain "
                         f"{domain.name!r}")
    renderer = BudgetedExecutor(domain, executor, target, budget, time_limit, use_goal=use_goal, profile=Profile())
    rng = random.Random(seed)
    opts = dict(options or {})
    if method == "mutation":
        from treediff.engine.search.baselines import mutation_search

        return mutation_search(domain, renderer, rng, **opts)
    assert model is not None  # model_for raised unless a model-based method has its bundle
    generator = _generator(model, seed)
    if method == "ar":
        from treediff.engine.search.baselines import ar_search

        return ar_search(domain, renderer, model.ar, model.vocab, generator,
                         max_tokens=opts.pop("max_tokens", model.config.max_program_tokens), **opts)
    if opts.get("start") == "ar":
        from treediff.engine.search.baselines import ar_programs

        count = int(opts.get("beam_width" if method == "beam" else "parallel", 8))
        ar_model = model_for("ar", ar_bundle, bundle)
        opts["start"] = ar_programs(renderer, ar_model, count, _generator(ar_model, seed))
    if method == "rollout" and isinstance(opts.get("start"), str):
        from treediff.engine.search.starts import start_programs

        opts["start"] = [] if opts["start"] == "random" else start_programs(domain, opts["start"], 1, rng)
    if method == "beam":
        from treediff.engine.search.beam import beam_search

        return beam_search(renderer, model, generator, rng, **opts)
    from treediff.engine.search.rollout import rollout_search

    return rollout_search(renderer, model, generator, rng, **opts)


def _generator(bundle: Any, seed: int) -> torch.Generator:
    """A generator on the device of the bundle's models, seeded with ``seed``."""
    from treediff.engine.models.inference import model_device

    module = bundle.denoiser if getattr(bundle, "denoiser", None) is not None else bundle.ar
    device = model_device(module)
    return torch.Generator(device=device).manual_seed(seed)
