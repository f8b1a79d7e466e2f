"""The models shipped with the built-in domains: both kinds load for their domain and produce valid programs."""

from __future__ import annotations

import pytest
import torch

from treediff.engine.domains.registry import load_registry
from treediff.engine.grammar.parse import parse
from treediff.engine.models.inference import sample_programs
from treediff.engine.training.bundle import load_bundle


@pytest.mark.parametrize("name", ["csg2d", "tinysvg"])
def test_shipped_diffusion_and_ar_models_load_and_sample_valid_programs(name: str) -> None:
    registry = load_registry()
    domain = registry.domain(name)
    assert domain.checkpoint is not None and domain.ar_checkpoint is not None
    assert domain.ar_checkpoint.parent.name == "model_ar"
    diffusion = load_bundle(domain.checkpoint, domain, registry, "cpu")
    ar = load_bundle(domain.ar_checkpoint, domain, registry, "cpu")
    assert diffusion.kind == "diffusion" and diffusion.denoiser is not None and diffusion.value is not None
    assert ar.kind == "ar" and ar.ar is not None
    target = domain.make_executor("cpu").execute(domain.test_targets(1, 5))
    samples = sample_programs(ar.ar, ar.vocab, target, 8, torch.Generator().manual_seed(0))[0]
    assert samples
    for tree, logprob in samples:
        assert parse(domain.grammar, str(tree)) == tree and logprob <= 0.0
