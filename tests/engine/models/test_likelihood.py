"""Tests for treediff.engine.models.likelihood: teacher-forced log-probabilities of whole programs and of each
of their tokens, checked against step-by-step decoding."""

from __future__ import annotations

import pytest
import torch

from tests.engine.models.fakes import CFG, observe, programs, tiny_ar
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.likelihood import program_logprobs, token_logprobs, token_readings
from treediff.engine.trees.tokens import BOS, EOS


def test_program_logprobs_are_the_teacher_forced_tokens_and_eos(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = programs(csg_grammar, 3, seed=35)
    target = observe(trees[:1])
    scores = program_logprobs(model, vocab, target, trees)
    for tree, score in zip(trees, scores.tolist()):
        total, token = 0.0, torch.tensor([BOS])
        with torch.no_grad():
            cache = model.start_decoding(target)
            for tok in [*vocab.encode(tree), EOS]:  # every token given the ones before it, unmasked, then EOS
                total += float(torch.log_softmax(model.decode_step(cache, token), -1)[0, tok])
                token = torch.tensor([tok])
        assert score == pytest.approx(total, abs=1e-3)
    assert program_logprobs(model, vocab, target, []).shape == (0,)


def test_token_logprobs_are_each_token_given_the_ones_before_it(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = sorted(programs(csg_grammar, 4, seed=37), key=lambda t: len(vocab.encode(t)))
    target = observe(trees[:1])
    model.cfg = CFG.model_copy(update={"max_program_tokens": len(vocab.encode(trees[-1])) - 1})
    rows = token_logprobs(model, vocab, target, trees)
    assert rows[-1] == []  # too long for the model: not read
    for tree, row in zip(trees[:-1], rows):
        expected, token = [], torch.tensor([BOS])
        with torch.no_grad():
            cache = model.start_decoding(target)
            for tok in vocab.encode(tree):
                expected.append(float(torch.log_softmax(model.decode_step(cache, token), -1)[0, tok]))
                token = torch.tensor([tok])
        assert row == pytest.approx(expected, abs=1e-3)
    assert token_logprobs(model, vocab, target, []) == []


def test_program_logprobs_of_programs_longer_than_the_model_reads_are_minus_infinity(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = sorted(programs(csg_grammar, 6, seed=36), key=lambda t: len(vocab.encode(t)))
    longest = len(vocab.encode(trees[-1]))
    assert len(vocab.encode(trees[0])) < longest
    model.cfg = CFG.model_copy(update={"max_program_tokens": longest - 1})
    scores = program_logprobs(model, vocab, observe(trees[:1]), trees).tolist()
    for tree, score in zip(trees, scores):
        fits = len(vocab.encode(tree)) < longest
        assert (score == float("-inf")) != fits and score < 0


def test_token_readings_flag_the_tokens_the_model_would_have_chosen_itself(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = programs(csg_grammar, 3, seed=38)
    target = observe(trees[:1])
    readings = token_readings(model, vocab, target, trees)
    assert [[lp for lp, _ in row] for row in readings] == token_logprobs(model, vocab, target, trees)
    hits = 0
    for tree, row in zip(trees, readings):
        token = torch.tensor([BOS])
        with torch.no_grad():
            cache = model.start_decoding(target)
            for tok, (_, top) in zip(vocab.encode(tree), row, strict=True):
                logits = model.decode_step(cache, token)[0]
                assert top == (int(logits.argmax()) == tok)
                hits += top
                token = torch.tensor([tok])
    assert 0 < hits < sum(len(r) for r in readings)  # the untrained model gets some right, not all
