"""What a training config asks for: the model config, how examples are drawn, the optimizer and its
learning-rate schedule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import InputError
from treediff.engine.training.data import DataSpec, TargetSource
from treediff.engine.training.states import StatePair, read_states
from treediff.engine.training.traincfg import TrainConfig


def model_config(cfg: TrainConfig) -> Any:
    """The ModelConfig a training config asks for: its preset with ``model_overrides`` (and sigma_small)."""
    from treediff.engine.models.config import PRESETS, ModelConfig

    if cfg.preset not in PRESETS:
        raise InputError(f"unknown model preset {cfg.preset!r}; expected one of: {', '.join(PRESETS)}")
    data = PRESETS[cfg.preset].model_dump()
    data.update(cfg.model_overrides)
    if cfg.sigma_small is not None:
        data["sigma_small"] = cfg.sigma_small
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"model_overrides on preset {cfg.preset!r} are invalid: {problems}; expected fields of "
                         "treediff.engine.models.config.ModelConfig") from None


def data_spec(domain: Domain, cfg: TrainConfig, mcfg: Any, states: tuple[StatePair, ...] = ()) -> DataSpec:
    """How examples are drawn for ``domain`` under ``cfg`` (sizes default to the domain's), with the on-policy
    ``states`` read by :func:`training_states`."""
    return DataSpec(kind=cfg.model, min_primitives=cfg.min_primitives or domain.min_primitives,
                    max_primitives=cfg.max_primitives or domain.max_primitives, sigma_small=mcfg.sigma_small,
                    k_max=cfg.k_max, p_fresh=cfg.p_fresh, p_leaf=cfg.p_leaf, p_hoist=cfg.p_hoist,
                    max_program_tokens=mcfg.max_program_tokens,
                    max_edit_tokens=mcfg.max_edit_tokens, p_goal=cfg.p_goal if cfg.model == "diffusion" else 0.0,
                    multi_label=cfg.multi_label, p_states=cfg.p_states, states=states)


def training_states(domain: Domain, cfg: TrainConfig) -> tuple[StatePair, ...]:
    """The on-policy states of ``cfg.states`` (none when unset); InputError naming the file when it is bad."""
    return read_states(Path(cfg.states), domain.grammar) if cfg.states is not None else ()


def target_source(domain: Domain, cfg: TrainConfig) -> TargetSource | None:
    """Where training targets come from: None for random programs, or the domain's ``test_targets`` generator
    (``targets: test``), kept to the config's ``min_primitives``/``max_primitives`` when it sets them (for the
    ``sized_share`` of each batch, the rest unbounded); InputError when the domain has none."""
    if cfg.targets == "random":
        return None
    if domain.test_targets is None:
        raise InputError(f"the training config asks for targets: test, but domain {domain.name!r} declares no "
                         "test_targets generator; expected targets: random for this domain (or give the domain "
                         "a test_targets(n, seed) function)")
    if not cfg.size_bounded:
        return domain.test_targets
    sized = sized_targets(domain.test_targets, cfg.min_primitives or domain.min_primitives,
                          cfg.max_primitives or domain.max_primitives, domain.name)
    return sized if cfg.sized_share >= 1 else mixed_targets(sized, domain.test_targets, cfg.sized_share)


SIZED_TRIES = 16


def sized_targets(source: TargetSource, low: int, high: int, name: str = "domain") -> TargetSource:
    """``source`` kept to targets of ``low..high`` primitives: each call draws ``source`` with the seeds
    ``seed, seed + 1, ...`` (so it stays a pure function of ``(n, seed)``) until ``n`` fit, at most
    :data:`SIZED_TRIES` draws; InputError naming the bounds when the generator seldom makes such targets."""
    def draw(n: int, seed: int) -> list[Any]:
        kept: list[Any] = []
        for i in range(SIZED_TRIES):
            kept += [t for t in source(n, seed + i) if low <= t.sigma <= high]
            if len(kept) >= n:
                return kept[:n]
        raise InputError(f"the test_targets of {name!r} gave {len(kept)} targets of {low}..{high} primitives in "
                         f"{SIZED_TRIES} draws of {n}; expected at least {n}. hint: widen min_primitives/"
                         "max_primitives, or use targets: random for these sizes")
    return draw


def mixed_targets(sized: TargetSource, whole: TargetSource, share: float) -> TargetSource:
    """``round(n * share)`` targets of ``sized`` then the rest from ``whole``, drawn with the seed
    ``seed + SIZED_TRIES`` (past the seeds ``sized`` may use, so the two parts do not repeat each other);
    a pure function of ``(n, seed)``."""
    def draw(n: int, seed: int) -> list[Any]:
        k = round(n * share)
        return list(sized(k, seed))[:k] + list(whole(n - k, seed + SIZED_TRIES))[:n - k]
    return draw


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier after ``step`` completed updates: linear warmup, then the decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    if cfg.schedule == "linear":
        return 1.0 - (1.0 - cfg.min_lr_ratio) * progress
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(module: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and convolution kernels only (not biases, norms, positions)."""
    decay = [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
    rest = [p for p in module.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
