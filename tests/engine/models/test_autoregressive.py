"""Tests for treediff.engine.models.autoregressive: sequence building, shapes, overfitting, KV-cache decoding."""

from __future__ import annotations

import torch

from tests.engine.models.fakes import CFG, SHAPE, edit_batch, overfit
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.autoregressive import ARModel, program_sequence
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.trees.tokens import BOS, EOS, PAD, Vocab


def _model(grammar: Grammar) -> ARModel:
    torch.manual_seed(0)
    return ARModel(CFG, Vocab(grammar), SHAPE, grid_encoder)


def test_program_sequence() -> None:
    program = torch.tensor([[7, 8, 9], [7, PAD, PAD]])
    assert program_sequence(program).tolist() == [[BOS, 7, 8, 9, EOS], [BOS, 7, EOS, PAD, PAD]]


def test_forward_shape_and_loss(toy_grammar: Grammar) -> None:
    batch = edit_batch(toy_grammar, 4, seed=1)
    model = _model(toy_grammar)
    logits = model(batch)
    assert logits.shape == (4, batch.program.shape[1] + 1, Vocab(toy_grammar).size)
    out = model.loss(batch)
    assert set(out) == {"loss", "tokens", "token_acc", "program_acc"} and torch.isfinite(out["loss"])


def test_ignores_the_current_observation(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar).eval()
    batch = edit_batch(csg_grammar, 3, seed=2)
    a = model(batch)
    batch.current = torch.rand_like(batch.current)
    torch.testing.assert_close(a, model(batch))


def test_overfits_a_tiny_batch(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 8, seed=3)
    first, out = overfit(model, batch, 80)
    assert out["loss"].item() < 0.25 * first


def test_kv_cache_matches_full_forward(toy_grammar: Grammar) -> None:
    model = _model(toy_grammar).eval()
    batch = edit_batch(toy_grammar, 3, seed=4)
    seq = program_sequence(batch.program)[:, :-1].repeat_interleave(2, 0)  # [B*2, L+1], 2 rows per target
    with torch.no_grad():
        full = model(batch).repeat_interleave(2, 0)
        cache = model.start_decoding(batch.target)
        steps = torch.stack([model.decode_step(cache, seq[:, t]) for t in range(seq.shape[1])], 1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-4)
