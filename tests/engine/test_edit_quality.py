"""Tests for evaluation.edit_quality: seeded validation pairs, useful edits, rank correlation, the measurement."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import treediff.engine.evaluation.edit_quality as eq
from tests.benchkit import bench_script
from tests.engine.blocks_domain import make_domain
from tests.engine.trainkit import FAST
from treediff.engine.evaluation.edit_quality import (
    EditPair,
    any_useful,
    edit_quality,
    goal_pairs,
    is_useful,
    measure,
    oracle_useful,
    spearman,
    validation_pairs,
)
from treediff.engine.models.config import PRESETS
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.models.inference import ProposedEdit
from treediff.engine.training.bundle import ModelBundle, build_models
from treediff.engine.trees.noise import path_length, reverse_path
from treediff.engine.trees.ted import tree_edit_distance
from treediff.engine.trees.tokens import Vocab
from treediff.engine.trees.tree import Edit, Node, get


def _bundle(with_value: bool = True) -> ModelBundle:
    """An untrained tiny diffusion bundle for the blocks domain."""
    torch.manual_seed(0)
    domain = make_domain()
    vocab = Vocab(domain.grammar)
    config = PRESETS["tiny"].model_copy(update=FAST)
    models = build_models("diffusion", config, vocab, domain.observation_shape, grid_encoder)
    for module in models.values():
        module.eval()
    return ModelBundle("diffusion", models["denoiser"], models["value"] if with_value else None, None, vocab,
                       config, {}, torch.device("cpu"))


def _pairs(n: int = 20, seed: int = 0, by_length: bool = False) -> list[EditPair]:
    """Blocks pairs; paths of 4-5 edits need programs of more than the domain's 3 primitives."""
    domain = make_domain()
    return validation_pairs(domain.grammar, n, seed, min_primitives=1, max_primitives=6 if by_length else 3,
                            by_length=by_length)


# -- rank correlation -------------------------------------------------------------------------------


def test_spearman_matches_hand_computed_values() -> None:
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)  # 1 - 6 * 4 / (5 * 24)
    # ties take the mean rank: x ranks 1, 2.5, 2.5, 4 -> cov 4.5, var 4.5 and 5
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert spearman([0.1, 5, 7, 100], [1, 2, 3, 4]) == pytest.approx(1.0)  # ranks, not values
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [1]))
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])


# -- the validation set -----------------------------------------------------------------------------


def test_pairs_are_seeded_with_exact_mutation_counts_and_true_lengths() -> None:
    grammar = make_domain().grammar
    pairs = _pairs(20, seed=3)
    assert pairs == _pairs(20, seed=3)
    assert pairs != _pairs(20, seed=4)
    assert [p.mutations for p in pairs] == [1 + i % 5 for i in range(20)]
    for p in pairs:
        assert p.current != p.target
        assert p.length == path_length(p.current, p.target, grammar) > 0
        assert p.distance == tree_edit_distance(p.current, p.target) > 0
    assert all(p.length == 1 for p in pairs if p.mutations == 1)


def test_pairs_by_length_have_each_path_length() -> None:
    pairs = _pairs(15, seed=1, by_length=True)
    assert [p.length for p in pairs] == [1 + i % 5 for i in range(15)]
    assert all(p.mutations >= p.length for p in pairs)


def test_leaf_step_pairs_are_near_misses_with_the_targets_skeleton(csg_grammar: Any) -> None:
    from treediff.engine.trees.tree import skeleton

    pairs = validation_pairs(csg_grammar, 15, 2, by_length=True, p_leaf=1.0)
    assert pairs == validation_pairs(csg_grammar, 15, 2, by_length=True, p_leaf=1.0)
    assert [p.length for p in pairs] == [1 + i % 5 for i in range(15)]
    for p in pairs:  # only leaves moved: same productions in the same places, some leaf values differ
        assert skeleton(p.current) == skeleton(p.target) and p.current != p.target
    mixed = validation_pairs(csg_grammar, 30, 2, p_leaf=0.5)
    assert any(skeleton(p.current) == skeleton(p.target) for p in mixed)
    assert any(skeleton(p.current) != skeleton(p.target) for p in mixed)


def test_pairs_respect_the_token_limit() -> None:
    domain = make_domain()
    vocab = Vocab(domain.grammar)
    pairs = validation_pairs(domain.grammar, 20, 0, min_primitives=1, max_primitives=3, vocab=vocab, max_tokens=12)
    assert all(len(vocab.encode(p.current)) <= 12 and len(vocab.encode(p.target)) <= 12 for p in pairs)


def test_goal_pairs_have_length_zero() -> None:
    goals = goal_pairs(_pairs(10), 4)
    assert len(goals) == 4
    assert all(g.current == g.target and g.length == 0 and g.distance == 0 and g.mutations == 0 for g in goals)


# -- useful edits -----------------------------------------------------------------------------------


def test_the_reverse_paths_edits_lead_to_the_target_and_a_single_mutations_undo_is_useful() -> None:
    grammar = make_domain().grammar
    for p in _pairs(20, seed=5):
        path = reverse_path(p.current, p.target, grammar)
        tree = p.current
        for edit in path:
            tree = edit.apply(tree)
        assert tree == p.target
        if p.length == 1:  # the one edit left reaches the target: the distance drops to 0
            assert is_useful(p, path[0])
            assert oracle_useful(p, grammar)
        assert is_useful(p, Edit((), p.target))  # replacing everything by the target is always useful


def test_no_op_and_harmful_edits_are_not_useful() -> None:
    for p in _pairs(10, seed=6):
        assert not is_useful(p, Edit((), p.current))
        assert not any_useful(p, [])
        noop = Edit((0,), get(p.current, (0,))) if isinstance(p.current.children[0], Node) else Edit((), p.current)
        assert not is_useful(p, noop)
        assert any_useful(p, [noop, Edit((), p.target)])
    pair = _pairs(1, seed=7)[0]
    undo = reverse_path(pair.current, pair.target, make_domain().grammar)[0]
    assert pair.length == 1 and is_useful(pair, undo)
    assert not is_useful(pair, Edit(undo.path, get(pair.current, undo.path)))  # the wrong subtree rewritten as is


# -- the measurement ----------------------------------------------------------------------------------


def _oracle_models(monkeypatch: pytest.MonkeyPatch, pairs: Sequence[EditPair], goals: Sequence[EditPair]) -> None:
    """Greedy edits jump to the target, sampled ones are no-ops, the value network knows the true length."""
    target_of = {p.current: p.target for p in pairs}
    length_of = {p.current: p.length for p in [*pairs, *goals]}
    assert len(target_of) == len(pairs)

    def propose(denoiser: Any, vocab: Any, target: torch.Tensor, current: torch.Tensor, programs: Sequence[Node],
                n: int, generator: torch.Generator, temperature: float = 1.0, **kw: Any) -> list[list[ProposedEdit]]:
        assert target.shape[0] == current.shape[0] == len(programs)
        if temperature <= 0:
            return [[ProposedEdit(Edit((), target_of[t]), 0.0)] for t in programs]
        return [[ProposedEdit(Edit((), t), -1.0)] * n for t in programs]

    def values(value_net: Any, vocab: Any, target: torch.Tensor, current: torch.Tensor,
               programs: Sequence[Node]) -> torch.Tensor:
        return torch.tensor([float(length_of[t]) for t in programs])

    monkeypatch.setattr(eq, "propose_edits", propose)
    monkeypatch.setattr(eq, "predict_values", values)


def test_measure_counts_oracle_edits_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    domain = make_domain()
    pairs = _pairs(15, seed=2, by_length=True)
    goals = goal_pairs(pairs, 3)
    _oracle_models(monkeypatch, pairs, goals)
    result = measure(_bundle(), domain.grammar, domain.make_executor("cpu"), pairs, goals, batch_size=4)
    assert [r.bin for r in result.rows] == ["1", "2", "3", "4", "5", "all"]
    assert [r.pairs for r in result.rows] == [3, 3, 3, 3, 3, 15]
    assert all(r.greedy == 1.0 and r.best_of == 0.0 for r in result.rows)
    assert [r.mean_value for r in result.rows] == [1.0, 2.0, 3.0, 4.0, 5.0, 3.0]
    assert result.value_spearman == pytest.approx(1.0)
    assert result.value_at_goal == 0.0 and result.goal_pairs == 3
    assert result.row("1").oracle == 1.0


def test_measure_with_an_untrained_model_is_deterministic_and_well_formed() -> None:
    domain = make_domain()
    bundle = _bundle()
    first = edit_quality(bundle, domain, domain.make_executor("cpu"), n=10, seed=0)
    again = edit_quality(bundle, domain, domain.make_executor("cpu"), n=10, seed=0)
    a, b = first.to_json(), again.to_json()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    assert first.row("all").pairs == 10 == sum(r.pairs for r in first.rows if r.bin != "all")
    assert first.goal_pairs == 2
    for r in first.rows:
        assert 0.0 <= r.greedy <= 1.0 and 0.0 <= r.best_of <= 1.0 and r.mean_value >= 0.0
    assert -1.0 <= first.value_spearman <= 1.0 and first.value_at_goal >= 0.0
    json.dumps(a, allow_nan=False)


def test_without_a_value_network_value_fields_are_null() -> None:
    domain = make_domain()
    result = edit_quality(_bundle(with_value=False), domain, domain.make_executor("cpu"), n=5, seed=1)
    data = result.to_json()
    assert data["value_spearman"] is None and data["value_at_goal"] is None
    assert all(r["mean_value"] is None for r in data["rows"])
    json.dumps(data, allow_nan=False)


def test_bench_script_writes_json(tmp_path: Path) -> None:
    module = bench_script("edit_quality")
    out = tmp_path / "eq.json"
    assert module.main(["--domain", "csg2d", "--n", "5", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["domain"] == "csg2d" and data["result"]["rows"][-1]["pairs"] == 5


def test_state_pairs_carry_the_true_path_length_and_leave_out_long_programs(csg_grammar) -> None:
    from random import Random

    from treediff.engine.evaluation.edit_quality import state_pairs
    from treediff.engine.training.states import StatePair
    from treediff.engine.trees.derivation import sample_tree

    rng = Random(5)
    states = [StatePair(sample_tree(csg_grammar, rng, 2, 5), sample_tree(csg_grammar, rng, 1, 5)) for _ in range(40)]
    states = [s for s in states if s.state != s.target]
    pairs = state_pairs(csg_grammar, states, 10, seed=3)
    assert len(pairs) == 10 and pairs == state_pairs(csg_grammar, states, 10, seed=3)
    for p in pairs:
        assert StatePair(p.target, p.current) in states and p.mutations == 0
        assert p.length == path_length(p.current, p.target, csg_grammar) > 0
        assert p.distance == tree_edit_distance(p.current, p.target)
    vocab = Vocab(csg_grammar)
    short = state_pairs(csg_grammar, states, 100, seed=3, vocab=vocab, max_tokens=12)
    assert short and all(len(vocab.encode(p.current)) <= 12 and len(vocab.encode(p.target)) <= 12 for p in short)
    assert len(short) < len(states)
