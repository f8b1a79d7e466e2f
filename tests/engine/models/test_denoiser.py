"""Tests for treediff.engine.models.denoiser: shapes, pointer masking, loss, overfitting, KV cache, autocast."""

from __future__ import annotations

import pytest
import torch

from tests.engine.models.fakes import CFG, SHAPE, edit_batch, overfit
from treediff.engine.errors import InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.denoiser import Denoiser
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.trees.tokens import Vocab


def _model(grammar: Grammar, seed: int = 0, **update: object) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(CFG.model_copy(update=update), Vocab(grammar), SHAPE, grid_encoder)


def test_forward_shapes_and_pointer_mask(toy_grammar: Grammar) -> None:
    vocab = Vocab(toy_grammar)
    batch = edit_batch(toy_grammar, 6, seed=1)
    pos_logits, tok_logits = _model(toy_grammar)(batch)
    b, length = batch.program.shape
    assert pos_logits.shape == (b, length) and pos_logits.dtype == torch.float32
    assert tok_logits.shape == (b, batch.replacement.shape[1] - 1, vocab.size)
    is_prod = (batch.program >= vocab.prod_offset) & (batch.program < vocab.value_offset)
    assert torch.isfinite(pos_logits[is_prod]).all()
    assert torch.isneginf(pos_logits[~is_prod]).all()  # PAD and value tokens can never be pointed at
    assert (~is_prod).any()


@pytest.mark.parametrize("conditioning", ["channels", "tokens"])
def test_loss_terms(csg_grammar: Grammar, conditioning: str) -> None:
    out = _model(csg_grammar, conditioning=conditioning).loss(edit_batch(csg_grammar, 4, seed=2))
    assert set(out) == {"loss", "position", "tokens", "position_acc", "token_acc", "edit_acc"}
    assert torch.isclose(out["loss"], out["position"] + out["tokens"])
    assert all(torch.isfinite(v) for v in out.values())


def test_uses_the_observations(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar).eval()
    batch = edit_batch(csg_grammar, 3, seed=3)
    a, _ = model(batch)
    batch.target = batch.target.flip(-1)
    b, _ = model(batch)
    finite = torch.isfinite(a)
    assert not torch.allclose(a[finite], b[finite])


def test_overfits_a_tiny_batch(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 8, seed=4)
    first, out = overfit(model, batch, 100)
    assert out["loss"].item() < 0.25 * first
    assert out["token_acc"].item() > 0.9


@pytest.mark.parametrize("group", [1, 3])
def test_kv_cache_matches_full_forward(toy_grammar: Grammar, group: int) -> None:
    model = _model(toy_grammar).eval()
    batch = edit_batch(toy_grammar, 4, seed=5)
    with torch.no_grad():
        _, full = model(batch)  # [B, R-1, V]
        ctx = model.encode(batch.target, batch.current, batch.program)
        cache = model.start_decoding(ctx, batch.edit_position[:, None].expand(-1, group))
        inputs = batch.replacement[:, :-1].repeat_interleave(group, 0)  # [B*g, R-1]
        steps = torch.stack([model.decode_step(cache, inputs[:, t]) for t in range(inputs.shape[1])], 1)
    torch.testing.assert_close(steps, full.repeat_interleave(group, 0), atol=1e-5, rtol=1e-4)


def test_bf16_autocast(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 4, seed=6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.loss(batch)
    out["loss"].backward()
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_rejects_overlong_programs(csg_grammar: Grammar) -> None:
    model = _model(csg_grammar, max_program_tokens=4)
    batch = edit_batch(csg_grammar, 2, seed=7)
    batch.program = torch.full((2, 5), Vocab(csg_grammar).prod_offset)
    with pytest.raises(InputError, match="max_program_tokens=4"):
        model(batch)


def test_pointer_loss_is_the_marginal_likelihood_of_every_right_position(csg_grammar: Grammar) -> None:
    from dataclasses import replace

    model = _model(csg_grammar).eval()
    batch = edit_batch(csg_grammar, 4, seed=5)
    vocab = Vocab(csg_grammar)
    is_prod = (batch.program >= vocab.prod_offset) & (batch.program < vocab.value_offset)  # [B, L]
    mask = torch.zeros_like(is_prod)
    for row in range(4):  # the labelled position and one more production position
        mask[row, batch.edit_position[row]] = True
        mask[row, is_prod[row].nonzero().flatten()[-1]] = True
    with torch.no_grad():
        logits, _ = model(batch)
        probs = logits.softmax(-1)  # [B, L]
        want = -(probs * mask).sum(-1).log().mean()
        one = model.loss(batch)["position"]
        both = model.loss(replace(batch, position_mask=mask))["position"]
    assert torch.isclose(both, want, atol=1e-5)
    assert both < one  # more right answers: never a larger loss


def test_goal_rows_do_not_train_the_denoiser(csg_grammar: Grammar) -> None:
    from dataclasses import replace

    model = _model(csg_grammar)
    batch = edit_batch(csg_grammar, 4, seed=6)
    goal = replace(batch, path_length=torch.tensor([1.0, 0.0, 2.0, 0.0]))
    kept = torch.tensor([0, 2])
    only = replace(batch, target=batch.target[kept], current=batch.current[kept], program=batch.program[kept],
                   edit_position=batch.edit_position[kept], replacement=batch.replacement[kept],
                   path_length=batch.path_length[kept])
    with torch.no_grad():
        a, b = model.loss(goal), model.loss(only)
    assert torch.isclose(a["position"], b["position"], atol=1e-5)
    assert torch.isclose(a["tokens"], b["tokens"], atol=1e-5)
    model.zero_grad()
    model.loss(replace(batch, path_length=torch.zeros(4)))["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() and not g.any() for g in grads)
