"""Tests for treediff.engine.models.constraint: the tensor stack machine agrees with decoding's BatchDecoder."""

from __future__ import annotations

import numpy as np
import torch

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.constraint import GrammarConstraint, TensorMaskTable
from treediff.engine.trees.decoding import BatchDecoder
from treediff.engine.trees.tokens import EOS, PAD, Vocab
from treediff.engine.trees.tree import validate


def test_masks_match_batch_decoder_on_random_walks(toy_grammar: Grammar) -> None:
    vocab = Vocab(toy_grammar)
    table = TensorMaskTable(vocab, "cpu")
    rng = np.random.default_rng(0)
    nts = [nt for nt in toy_grammar.nonterminals for _ in range(6)]
    sigma = [int(rng.integers(toy_grammar.min_sigma[nt], toy_grammar.min_sigma[nt] + 4)) for nt in nts]
    tokens = [int(rng.integers(vocab.min_tokens[nt], vocab.min_tokens[nt] + 25)) for nt in nts]
    ref = BatchDecoder(vocab, nts, max_primitives=sigma, max_tokens=tokens, table=None)
    ours = GrammarConstraint(table, torch.tensor([table.symbol_ids[nt] for nt in nts]), torch.tensor(sigma),
                             torch.tensor(tokens))
    for _ in range(max(tokens) + 1):
        expected = ref.mask()
        got = ours.mask()
        live = ~ours.finished
        assert np.array_equal(got[live].numpy(), expected[live.numpy()])
        choice = np.array([rng.choice(np.flatnonzero(row)) for row in expected])
        ref.step(choice)
        ours.step(torch.from_numpy(choice))
        if ours.finished.all():
            break
    assert ours.finished.all() and ref.done.all()
    for tree, nt, bound in zip(ref.trees(), nts, sigma):
        validate(tree, toy_grammar, nt)
        assert tree.sigma <= bound


def test_finished_rows_allow_only_pad(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    table = TensorMaskTable(vocab, "cpu")
    c = GrammarConstraint(table, torch.tensor([table.symbol_ids["shape"]]), torch.tensor([1]), torch.tensor([10]))
    for tok in [vocab.production_token("circle"), *(vocab.value_token("coord", 1) for _ in range(3))]:
        assert c.mask()[0, tok]
        c.step(torch.tensor([tok]))
    assert c.complete.all() and c.mask()[0].nonzero().flatten().tolist() == [EOS]
    c.step(torch.tensor([EOS]))
    assert c.finished.all() and c.mask()[0].nonzero().flatten().tolist() == [PAD]


def test_token_lhs_marks_production_tokens(toy_grammar: Grammar) -> None:
    vocab = Vocab(toy_grammar)
    table = TensorMaskTable(vocab, "cpu")
    for tok in range(vocab.size):
        if vocab.token_kind(tok) == "production":
            assert table.symbols[int(table.token_lhs[tok])] == vocab.token_production(tok).lhs
        else:
            assert int(table.token_lhs[tok]) == -1
