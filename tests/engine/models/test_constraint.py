"""Tests for treediff.engine.models.constraint: valid trees by construction, budgets, agreement with a plain
reference (tests/engine/models/reference_decoding.py), end-of-sequence handling and the cached mask table."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from tests.engine.models.reference_decoding import ReferenceState
from tests.toys import random_tree
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.constraint import DONE, GrammarConstraint, TensorMaskTable
from treediff.engine.trees.tokens import EOS, PAD, Vocab
from treediff.engine.trees.tree import Node, validate

GRAMMARS = Path(__file__).parents[2] / "grammars"
BOUNDS = [(None, 12), (2, 30), (0, 40), (8, 80)]  # (max_primitives, max_tokens)
NO_LIMIT = 10**6


def feasible(vocab: Vocab, nt: str, max_sigma: int | None, max_tokens: int) -> bool:
    return (max_sigma is None or vocab.grammar.min_sigma[nt] <= max_sigma) and vocab.min_tokens[nt] <= max_tokens


def constraint(vocab: Vocab, nts: list[str], sigmas: list[int | None], tokens: list[int]) -> GrammarConstraint:
    table = TensorMaskTable.of(vocab, "cpu")
    return GrammarConstraint(table, torch.tensor([table.symbol_ids[nt] for nt in nts]),
                             torch.tensor([NO_LIMIT if s is None else s for s in sigmas]), torch.tensor(tokens))


def run_lockstep(vocab: Vocab, rng: random.Random, nts: list[str], sigmas: list[int | None],
                 tokens: list[int]) -> list[Node]:
    """Drive the tensor constraint and one reference state per row with the same random allowed tokens,
    comparing the masks at every step (past EOS too); returns the finished trees."""
    ours = constraint(vocab, nts, sigmas, tokens)
    refs = [ReferenceState(vocab, nt, s, t) for nt, s, t in zip(nts, sigmas, tokens)]
    for _ in range(max(tokens) + 3):
        mask = ours.mask()
        assert mask.shape == (len(nts), vocab.size)
        for row, ref in enumerate(refs):
            assert mask[row].nonzero().flatten().tolist() == ref.allowed(), f"row {row}"
        chosen = [rng.choice(r.allowed()) for r in refs]
        ours.step(torch.tensor(chosen))
        for r, tok in zip(refs, chosen):
            r.step(tok)
    assert bool(ours.finished.all()) and all(r.finished for r in refs)
    assert ours.mask()[:, PAD].all() and ours.mask().sum().item() == len(nts)
    assert ours.length.tolist() == [len(r.ids) for r in refs] and ours.sigma.tolist() == [r.sigma for r in refs]
    return [r.tree() for r in refs]


def test_agrees_with_the_reference_and_gives_valid_trees_within_bounds(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(2)
    for _ in range(3):
        nts, sigmas, tokens = [], [], []
        for _ in range(48):
            nt = rng.choice(g.nonterminals)
            s, t = rng.choice(BOUNDS)
            if feasible(vocab, nt, s, t):
                nts.append(nt)
                sigmas.append(s)
                tokens.append(t)
        for tree, nt, s, t in zip(run_lockstep(vocab, rng, nts, sigmas, tokens), nts, sigmas, tokens):
            validate(tree, g, nt)
            assert s is None or tree.sigma <= s
            assert len(vocab.encode(tree)) <= t


def test_long_sequences() -> None:
    lists = Vocab(Grammar.load(GRAMMARS / "lists.yaml"))
    run_lockstep(lists, random.Random(4), ["list"] * 16, [None] * 16, [300] * 16)


def test_bounds_admit_every_tree_that_fits(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(9)
    for nt in g.nonterminals:
        trees = [random_tree(g, rng, nt) for _ in range(30)]
        ids = [vocab.encode(t) for t in trees]
        c = constraint(vocab, [nt] * len(trees), [t.sigma for t in trees], [len(i) for i in ids])
        for step in range(max(len(i) for i in ids) + 1):
            tok = torch.tensor([i[step] if step < len(i) else (EOS if step == len(i) else PAD) for i in ids])
            assert c.mask().gather(1, tok[:, None]).all()
            c.step(tok)
        assert bool(c.complete.all())
        tight = [k for k, t in enumerate(trees) if g.min_sigma[nt] < t.sigma]  # one primitive fewer cuts a choice
        if tight:
            c = constraint(vocab, [nt] * len(tight), [trees[k].sigma - 1 for k in tight], [len(ids[k]) for k in tight])
            ok = torch.ones(len(tight), dtype=torch.bool)
            for step in range(max(len(ids[k]) for k in tight)):
                tok = torch.tensor([ids[k][step] if step < len(ids[k]) else EOS for k in tight])
                ok &= c.mask().gather(1, tok[:, None])[:, 0] | c.complete
                c.step(tok)
            assert not ok.any()


def test_finished_rows_allow_only_eos_then_pad(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    c = constraint(vocab, ["shape"], [1], [10])
    assert [vocab.names[t] for t in c.mask()[0].nonzero().flatten().tolist()] == ["circle", "quad"]
    for tok in [vocab.production_token("circle"), *(vocab.value_token("coord", 1) for _ in range(3))]:
        assert c.mask()[0, tok]
        c.step(torch.tensor([tok]))
    assert c.complete.all() and c.mask()[0].nonzero().flatten().tolist() == [EOS]
    c.step(torch.tensor([EOS]))
    assert c.finished.all() and c.mask()[0].nonzero().flatten().tolist() == [PAD]


def test_table_is_built_once_per_vocab_and_device(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    table = TensorMaskTable.of(vocab, "cpu")
    assert TensorMaskTable.of(vocab, torch.device("cpu")) is table
    assert TensorMaskTable.of(Vocab(csg_grammar), "cpu") is not table
    assert table.symbols == ("shape", "coord", "angle", DONE)
    union = vocab.production_token("union")
    assert table.token_push[union].tolist() == [0, 0, -1, -1, -1]
    assert table.token_min_sigma[union] == 2 and table.token_min_tokens[union] == 9
    assert table.symbol_allowed[table.done_symbol].tolist() == [t == EOS for t in range(vocab.size)]


def test_token_lhs_marks_production_tokens(toy_grammar: Grammar) -> None:
    vocab = Vocab(toy_grammar)
    table = TensorMaskTable.of(vocab, "cpu")
    for tok in range(vocab.size):
        if vocab.token_kind(tok) == "production":
            assert table.symbols[int(table.token_lhs[tok])] == vocab.token_production(tok).lhs
        else:
            assert int(table.token_lhs[tok]) == -1
