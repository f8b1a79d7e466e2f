"""Shared pieces of the training tests: a fast model size for the 16x16 blocks domain, a registry, and one
fixed model-ready batch."""

from __future__ import annotations

from typing import Any

import torch

from tests.engine.blocks_domain import make_domain
from treediff.engine.domains.domain import Domain
from treediff.engine.domains.registry import Registry, load_registry
from treediff.engine.models.batch import EditBatch
from treediff.engine.training.data import DataSpec, Materializer, make_batch
from treediff.engine.training.traincfg import TrainConfig
from treediff.engine.trees.tokens import Vocab

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


def fixed_batch(domain: Domain, kind: str = "diffusion") -> EditBatch:
    """Batch 0 of ``domain``'s stream (4 examples of up to 3 primitives, seed 0), executed for ``kind``."""
    vocab = Vocab(domain.grammar)
    tb = make_batch(domain.grammar, vocab, DataSpec(kind=kind, max_primitives=3), 4, 0, 0, 0)
    return Materializer(domain, vocab, torch.device("cpu"), kind=kind)(tb)
