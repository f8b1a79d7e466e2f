"""The csg2d domain as registered through the treediff entry point."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import InputError
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.plugins.csg2d.plugin import CHECKPOINT_PATH, make_domain
from treediff.plugins.imaging import compression_ratio


@pytest.fixture(scope="module")
def domain():  # type: ignore[no-untyped-def]
    return make_domain()


def test_registered_through_the_entry_point() -> None:
    registry = load_registry(builtin_encoders=False)
    assert "csg2d" in registry.domains, registry.failures
    found = registry.domain("csg2d")
    assert found.grammar.name == "csg2d" and found.observation_shape == (1, 128, 128)


def test_domain_fields(domain) -> None:  # type: ignore[no-untyped-def]
    assert domain.observation_encoder == "grid"
    assert (domain.min_primitives, domain.max_primitives) == (2, 8)
    assert domain.checkpoint == (CHECKPOINT_PATH if CHECKPOINT_PATH.exists() else None)
    executor = domain.make_executor("cpu")
    assert executor.device == torch.device("cpu")
    tree = parse(domain.grammar, "(Circle 4 8 8)")
    obs = executor.execute([tree])
    assert obs.shape == (1, 1, 128, 128)
    assert domain.goal(obs, obs[0]).tolist() == [True] and domain.distance(obs, obs[0]).tolist() == [0.0]
    sketches = domain.sketch([tree], torch.Generator().manual_seed(0))
    assert sketches.shape == (1, 1, 128, 128)


def test_observations_round_trip_through_png(domain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = parse(domain.grammar, "(- (Quad 8 8 10 6 1) (Circle 2 8 8))")
    obs = domain.make_executor("cpu").execute([tree])[0]
    path = tmp_path / "target.png"
    domain.save_observation(obs, path)
    pixels = np.asarray(Image.open(path))
    assert pixels.dtype == np.uint8 and pixels[64, 64] == 255 and pixels[80, 80] == 0  # black shape on white
    loaded = domain.load_observation(path, {})
    assert loaded.shape == (1, 128, 128)
    assert torch.allclose(loaded, obs, atol=0.5 / 255 + 1e-6)
    assert domain.goal(obs[None], loaded).tolist() == [True]
    inverted = domain.load_observation(path, {"invert": True})
    assert domain.goal(obs[None], inverted).tolist() == [False]
    domain.save_sheet(torch.stack([obs, obs]), tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").exists()


def test_target_loading_errors_and_resizing(domain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png"):
        domain.load_observation(tmp_path / "bad.png", {})
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(tmp_path / "small.png")
    with pytest.warns(UserWarning, match="small.png"):
        assert domain.load_observation(tmp_path / "small.png", {}).shape == (1, 128, 128)
    with pytest.raises(InputError, match="64x64"):
        domain.load_observation(tmp_path / "small.png", {"resize": False})


def test_test_targets_are_deterministic_and_complex(domain) -> None:  # type: ignore[no-untyped-def]
    targets = domain.test_targets(20, 3)
    assert targets == domain.test_targets(20, 3)
    assert targets != domain.test_targets(20, 4)
    assert len(targets) == 20 and len(set(targets)) == 20
    assert all(2 <= t.sigma <= 8 for t in targets)
    executor = domain.make_executor("cpu")
    kept = [compression_ratio(image) for image in executor.execute(targets)]
    rng = random.Random(99)
    fresh = [sample_tree(domain.grammar, rng, 2, 8) for _ in range(80)]
    unfiltered = [compression_ratio(image) for image in executor.execute(fresh)]
    assert np.median(kept) < np.median(unfiltered)  # the more complex half
    assert max(kept) < max(unfiltered) and max(kept) < 200  # blank images (ratio ~500) never survive
