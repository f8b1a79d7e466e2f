"""Tests for treediff.engine.models.value: output shape and range, log-scale loss, overfitting."""

from __future__ import annotations

import torch

from tests.engine.models.fakes import CFG, SHAPE, edit_batch, overfit
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.models.value import ValueNet
from treediff.engine.trees.tokens import Vocab


def _model(grammar: Grammar) -> ValueNet:
    torch.manual_seed(0)
    return ValueNet(CFG, Vocab(grammar), SHAPE, grid_encoder)


def test_forward_is_a_nonnegative_length_per_program(toy_grammar: Grammar) -> None:
    batch = edit_batch(toy_grammar, 5, seed=1)
    out = _model(toy_grammar)(batch)
    assert out.shape == (5,) and out.dtype == torch.float32
    assert (out >= 0).all()


def test_loss_is_smooth_l1_on_log_scale(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 4, seed=2)
    out = model.loss(batch)
    z = model.predict_log(batch.target, batch.current, batch.program)
    expected = torch.nn.functional.smooth_l1_loss(z, torch.log1p(batch.path_length))
    torch.testing.assert_close(out["loss"], expected)
    assert set(out) == {"loss", "value", "mae"}


def test_padding_does_not_change_the_value(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar).eval()
    batch = edit_batch(csg_grammar, 3, seed=3)
    with torch.no_grad():
        a = model(batch)
        batch.program = torch.nn.functional.pad(batch.program, (0, 7))  # extra PAD columns
        b = model(batch)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_overfits_a_tiny_batch(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 8, seed=4)
    first, out = overfit(model, batch, 80)
    assert out["loss"].item() < 0.1 * first
    assert out["mae"].item() < 0.5
