"""The contract every registered domain honours: one suite, run against each installed domain plugin."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from treediff.engine.domains.domain import Domain
from treediff.engine.domains.registry import load_registry
from treediff.engine.grammar.validation import round_trip_problems
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import validate

REGISTRY = load_registry()
DOMAINS = sorted(REGISTRY.domains)


@pytest.fixture(params=DOMAINS)
def domain(request: pytest.FixtureRequest) -> Domain:
    return REGISTRY.domain(request.param)


def programs(domain: Domain, n: int, seed: int = 0) -> list:  # type: ignore[type-arg]
    rng = random.Random(seed)
    return [sample_tree(domain.grammar, rng, domain.min_primitives, domain.max_primitives) for _ in range(n)]


def test_builtin_domains_are_registered() -> None:
    assert {"csg2d", "tinysvg"} <= set(DOMAINS)
    assert not REGISTRY.failures


def test_grammar_is_valid_and_round_trips(domain: Domain) -> None:
    assert round_trip_problems(domain.grammar) == []


def test_encoder_is_registered(domain: Domain) -> None:
    assert callable(REGISTRY.encoder(domain.observation_encoder))


def test_executor_is_batched_deterministic_and_shaped(domain: Domain) -> None:
    trees = programs(domain, 12)
    executor = domain.make_executor("cpu")
    batch = executor.execute(trees)
    assert batch.shape == (12, *domain.observation_shape) and batch.dtype == torch.float32
    assert torch.isfinite(batch).all()
    assert torch.equal(batch, executor.execute(trees))
    single = torch.cat([executor.execute([t]) for t in trees[:3]])
    assert torch.allclose(single, batch[:3], atol=1e-5)


def test_goal_and_distance_agree_with_identity(domain: Domain) -> None:
    obs = domain.make_executor("cpu").execute(programs(domain, 8, seed=1))
    for i in range(len(obs)):
        assert bool(domain.goal(obs[i:i + 1], obs[i])[0])
        assert float(domain.distance(obs[i:i + 1], obs[i])[0]) == pytest.approx(0.0, abs=1e-6)
    distances = domain.distance(obs, obs[0])
    assert (distances >= 0).all()
    different = [i for i in range(1, len(obs)) if not torch.allclose(obs[i], obs[0], atol=0.05)]
    assert different and not domain.goal(obs[different], obs[0]).any()


def test_observation_files_round_trip(domain: Domain, tmp_path: Path) -> None:
    obs = domain.make_executor("cpu").execute(programs(domain, 4, seed=2))
    for i, o in enumerate(obs):
        path = tmp_path / f"obs{i}.png"
        domain.save_observation(o, path)
        back = domain.load_observation(path, {})
        assert back.shape == tuple(domain.observation_shape)
        assert bool(domain.goal(back[None], o)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"obs{i}.png" for i in range(4)]  # no temp leftovers


def test_test_targets_are_deterministic_and_in_bounds(domain: Domain) -> None:
    assert domain.test_targets is not None
    a, b = domain.test_targets(6, 3), domain.test_targets(6, 3)
    assert a == b and len(a) == 6 and a != domain.test_targets(6, 4)
    for tree in a:
        validate(tree, domain.grammar)
        assert domain.min_primitives <= tree.sigma <= domain.max_primitives


def test_sketch_when_offered(domain: Domain) -> None:
    if domain.sketch is None:
        pytest.skip(f"{domain.name} has no sketch observation model")
    trees = programs(domain, 3, seed=5)
    a = domain.sketch(trees, torch.Generator().manual_seed(0))
    b = domain.sketch(trees, torch.Generator().manual_seed(0))
    assert a.shape == (3, *domain.observation_shape) and torch.equal(a, b)
