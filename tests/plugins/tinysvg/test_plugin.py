"""The TinySVG plugin: registration through the entry point, observation files, test targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from treediff.engine.domains.domain import Domain
from treediff.engine.domains.registry import load_registry
from treediff.plugins.tinysvg import plugin
from treediff.plugins.tinysvg.goal import goal, rmse
from treediff.plugins.tinysvg.render import TinySVGExecutor


@pytest.fixture(scope="module")
def domain() -> Domain:
    made = plugin.make_domain()
    assert made.test_targets is not None and made.save_sheet is not None
    return made


def test_registered_through_the_entry_point() -> None:
    registry = load_registry(builtin_encoders=False)
    assert "tinysvg" in registry.domains, registry.failures
    assert not [f for f in registry.failures if f[0] == "tinysvg"]
    found = registry.domain("tinysvg")
    assert found.grammar.name == "tinysvg"


def test_domain_fields(domain: Domain) -> None:
    assert domain.name == "tinysvg" and domain.observation_shape == (3, 128, 128)
    assert domain.observation_encoder == "grid" and domain.sketch is None
    assert (domain.min_primitives, domain.max_primitives) == (2, 8)
    assert domain.goal is goal and domain.distance is rmse
    assert domain.checkpoint == (plugin.CHECKPOINT_PATH if plugin.CHECKPOINT_PATH.exists() else None)
    executor = domain.make_executor("cpu")
    assert isinstance(executor.inner, TinySVGExecutor) and executor.device == torch.device("cpu")


def test_observation_files_round_trip(domain: Domain, tmp_path: Path) -> None:
    assert domain.test_targets is not None and domain.save_sheet is not None
    tree = domain.test_targets(1, 4)[0]
    image = domain.make_executor("cpu").execute([tree])[0]
    path = tmp_path / "target.png"
    domain.save_observation(image, path)
    loaded = domain.load_observation(path, {})
    assert loaded.shape == (3, 128, 128) and loaded.dtype == torch.float32
    assert (loaded - image).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit quantisation only
    assert bool(domain.goal(image[None], loaded)[0])
    inverted = domain.load_observation(path, {"invert": True})
    assert torch.allclose(inverted, 1.0 - loaded)
    domain.save_sheet(torch.stack([image, loaded]), tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_test_targets_are_deterministic_complex_and_sized(domain: Domain) -> None:
    assert domain.test_targets is not None
    first = domain.test_targets(12, 7)
    assert first == domain.test_targets(12, 7) and len(first) == 12
    assert first != domain.test_targets(12, 8)
    assert all(2 <= t.sigma <= 8 for t in first)
    images = domain.make_executor("cpu").execute(first)
    assert all((image < 1.0).any() for image in images)  # the complexity filter drops blank canvases
