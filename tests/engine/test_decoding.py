"""Tests for treediff.engine.trees.decoding: constrained decoding states, mask arrays and the batched decoder."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.toys import random_tree
from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.decoding import DONE, BatchDecoder, DecodeState, MaskTable
from treediff.engine.trees.tokens import EOS, Vocab
from treediff.engine.trees.tree import build, validate

GRAMMARS = sorted((Path(__file__).parents[1] / "grammars").glob("*.yaml"))
BOUNDS = [(None, 12), (2, 30), (6, None), (0, 40), (8, 80)]



def terminates_without_token_bound(g: Grammar) -> bool:
    """Whether every recursion passes a primitive (so a primitive bound alone ends decoding)."""
    return g.name == "csg2d"



def feasible(vocab: Vocab, nt: str, max_sigma: int | None, max_tokens: int | None) -> bool:
    g = vocab.grammar
    return (max_sigma is None or g.min_sigma[nt] <= max_sigma) and (
        max_tokens is None or vocab.min_tokens[nt] <= max_tokens)


def test_random_allowed_choices_give_valid_trees_within_bounds(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(5)
    for nt in g.nonterminals:
        for max_sigma, max_tokens in BOUNDS:
            if max_tokens is None and not terminates_without_token_bound(g):
                continue
            if not feasible(vocab, nt, max_sigma, max_tokens):
                with pytest.raises(TreeError, match="fits the budget"):
                    DecodeState(vocab, nt, max_sigma, max_tokens)
                continue
            for _ in range(25):
                state = DecodeState(vocab, nt, max_sigma, max_tokens)
                for _ in range(1000):
                    if state.done:
                        break
                    allowed = state.allowed()
                    assert allowed and EOS not in allowed
                    mask = state.allowed_mask()
                    assert mask.shape == (vocab.size,) and np.flatnonzero(mask).tolist() == allowed
                    state.step(rng.choice(allowed))
                assert state.done and state.allowed() == [EOS] and state.symbol == DONE
                tree = state.tree()
                validate(tree, g, nt)
                assert vocab.encode(tree) == state.ids
                assert max_sigma is None or tree.sigma <= max_sigma
                assert max_tokens is None or len(state.ids) <= max_tokens
                assert state.sigma == tree.sigma


def test_bounds_admit_every_tree_that_fits(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(9)
    for nt in g.nonterminals:
        for _ in range(40):
            tree = random_tree(g, rng, nt)
            ids = vocab.encode(tree)
            state = DecodeState(vocab, nt, max_primitives=tree.sigma, max_tokens=len(ids))
            for tok in ids:
                state.step(tok)
            assert state.done and state.tree() == tree
            if tree.sigma > 0:  # one primitive fewer must cut some choice off
                tight = DecodeState(vocab, nt, max_primitives=tree.sigma - 1) if g.min_sigma[nt] < tree.sigma \
                    else None
                if tight is not None:
                    with pytest.raises(TreeError, match="not allowed"):
                        for tok in ids:
                            tight.step(tok)


def test_state_errors_and_eos(csg: Vocab) -> None:
    state = DecodeState(csg, "shape", max_primitives=1)
    assert csg.names[state.allowed()[0]] == "circle" and len(state.allowed()) == 2
    with pytest.raises(TreeError, match=r"'union'\) is not allowed at position 0 of a .* allowed: circle, quad"):
        state.step(csg.production_token("union"))
    with pytest.raises(TreeError, match="not finished after 0 tokens: expecting 'shape'"):
        state.tree()
    for tok in csg.encode(build(csg.grammar, "circle", r=1, x=2, y=3)):
        state.step(tok)
    assert state.done and state.allowed() == [EOS]
    state.step(EOS)  # accepted and ignored once done
    assert state.tree() == build(csg.grammar, "circle", r=1, x=2, y=3)
    with pytest.raises(TreeError, match="not allowed"):
        state.step(csg.value_token("coord", 1))
    with pytest.raises(TreeError, match="no such nonterminal"):
        DecodeState(csg, "cmd")
    with pytest.raises(TreeError, match="max_tokens is -1"):
        DecodeState(csg, "shape", max_tokens=-1)
    with pytest.raises(TreeError, match="smallest needs 1 primitive"):
        DecodeState(csg, "shape", max_primitives=0)


def test_copy_is_independent(csg: Vocab) -> None:
    state = DecodeState(csg, max_primitives=3)
    state.step(csg.production_token("union"))
    twin = state.copy()
    twin.step(csg.production_token("circle"))
    assert state.ids == [csg.production_token("union")] and len(twin.ids) == 2
    assert state.symbol == "shape" and twin.symbol == "coord"


def run_lockstep(vocab: Vocab, rng: random.Random, nts: list[str], sigmas: list[int | None],
                 tokens: list[int | None]) -> None:
    batch = BatchDecoder(vocab, nts, len(nts), max_primitives=sigmas, max_tokens=tokens)
    states = [DecodeState(vocab, nt, s, t) for nt, s, t in zip(nts, sigmas, tokens)]
    for _ in range(2000):
        mask = batch.mask()
        assert mask.shape == (len(nts), vocab.size)
        for row, state in enumerate(states):
            assert np.array_equal(mask[row], state.allowed_mask())
        if batch.done.all():
            break
        chosen = [rng.choice(s.allowed()) for s in states]
        batch.step(chosen)
        for s, tok in zip(states, chosen):
            s.step(tok)
        assert [batch.ids(r) for r in range(len(nts))] == [s.ids for s in states]
    assert batch.done.all() and all(s.done for s in states)
    assert batch.trees() == [s.tree() for s in states]


def test_batch_decoder_agrees_with_decode_state(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(2)
    for _ in range(4):
        nts, sigmas, tokens = [], [], []
        for _ in range(48):
            nt = rng.choice(g.nonterminals)
            s, t = rng.choice(BOUNDS[:2] + BOUNDS[3:])
            if feasible(vocab, nt, s, t):
                nts.append(nt)
                sigmas.append(s)
                tokens.append(t)
        run_lockstep(vocab, rng, nts, sigmas, tokens)


def test_batch_decoder_grows_for_long_sequences() -> None:
    lists = Vocab(Grammar.load(Path(__file__).parents[1] / "grammars" / "lists.yaml"))
    rng = random.Random(4)
    run_lockstep(lists, rng, ["list"] * 16, [None] * 16, [300] * 16)


def test_batch_decoder_errors(csg: Vocab) -> None:
    batch = BatchDecoder(csg, "shape", 3, max_primitives=[1, 2, None], max_tokens=40)
    union = csg.production_token("union")
    with pytest.raises(TreeError, match=r"1 chosen token\(s\) are not allowed \(row 0: 6 while expecting 'shape'\)"):
        batch.step([union, union, union])
    with pytest.raises(TreeError, match="expected \\(3,\\)"):
        batch.step([union])
    with pytest.raises(TreeError, match="rows \\[0, 1, 2\\] are not finished"):
        batch.trees()
    with pytest.raises(TreeError, match="2 entries for a batch of 3"):
        BatchDecoder(csg, "shape", 3, max_primitives=[1, 2])
    with pytest.raises(TreeError, match="2 nonterminals given for a batch of 3"):
        BatchDecoder(csg, ["shape", "shape"], 3)
    with pytest.raises(TreeError, match="no such nonterminal"):
        BatchDecoder(csg, ["shape", "cmd"])


def test_mask_table_arrays(csg: Vocab) -> None:
    table = MaskTable.build(csg)
    arrays = table.arrays()
    assert set(arrays) == {"symbol_allowed", "symbol_min_sigma", "symbol_min_tokens", "token_slots",
                           "token_arity", "token_min_sigma", "token_min_tokens", "token_primitive"}
    assert table.symbols == ("shape", "coord", "angle", DONE)
    union = csg.production_token("union")
    assert table.token_slots[union].tolist() == [0, 0, -1, -1, -1]
    assert table.token_min_sigma[union] == 2 and table.token_min_tokens[union] == 9
    assert table.symbol_allowed[table.symbol_index(DONE)].tolist() == [t == EOS for t in range(csg.size)]
    top = np.array([0, 0, 1])
    mask = table.mask(top, np.array([1, 5, 0]), np.array([100, 7, 1]))
    assert [csg.names[t] for t in np.flatnonzero(mask[0])] == ["circle", "quad"]
    assert [csg.names[t] for t in np.flatnonzero(mask[1])] == ["circle", "quad"]  # 7 tokens: no room to combine
    assert mask[2].sum() == 16
    with pytest.raises(TreeError, match="unknown symbol"):
        table.symbol_index("cmd")
