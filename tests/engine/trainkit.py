"""Shared pieces of the training tests: a fast model size for the 16x16 blocks domain, and a registry."""

from __future__ import annotations

from typing import Any

from tests.engine.blocks_domain import make_domain
from treediff.engine.domains.registry import Registry, load_registry
from treediff.engine.training.traincfg import TrainConfig

# the tiny preset, narrowed for 16x16 observations: 16 grid tokens, one block each side
FAST = {"d_model": 32, "n_heads": 2, "n_layers": 1, "n_decoder_layers": 1,
        "encoder_options": {"patch_size": 4, "stem_channels": 8, "stem_stride": 1}}


def fast_config(**options: Any) -> TrainConfig:
    """A training config that runs a step in a few milliseconds on one CPU thread."""
    base: dict[str, Any] = {"preset": "tiny", "model_overrides": FAST, "steps": 20, "batch_size": 8,
                            "val_size": 16, "log_every": 5, "val_every": 10, "checkpoint_every": 10,
                            "warmup_steps": 5, "threads": 1, "device": "cpu"}
    base.update(options)
    return TrainConfig.model_validate(base)


def blocks_registry() -> Registry:
    """The engine's own encoders plus the blocks test domain (no installed plugins)."""
    registry = load_registry(entry_points=[])
    registry.domains["blocks"] = make_domain()
    return registry
