"""Tests for treediff.engine.models.inference: valid edits by construction, budgets, log-probabilities, determinism."""

from __future__ import annotations

import pytest
import torch

from tests.engine.models.fakes import CFG, SHAPE, observe, programs, tiny_ar
from tests.engine.models.reference_decoding import ReferenceState
from tests.toys import GRAMMAR_DIR
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.batch import encode_programs, make_edit_batch
from treediff.engine.models.constraint import GrammarConstraint, TensorMaskTable
from treediff.engine.models.denoiser import Denoiser
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.models.inference import (
    ProposedEdit,
    _decode,
    _sample_positions,
    infill_edits,
    predict_values,
    propose_edits,
    sample_programs,
)
from treediff.engine.models.value import ValueNet
from treediff.engine.trees.tokens import BOS, EOS, Vocab, encode_edit
from treediff.engine.trees.tree import Node, get, validate


def _setup(grammar: Grammar, **update: object) -> tuple[Denoiser, Vocab]:
    torch.manual_seed(0)
    vocab = Vocab(grammar)
    return Denoiser(CFG.model_copy(update=update), vocab, SHAPE, grid_encoder).eval(), vocab


def _propose(model: Denoiser, vocab: Vocab, trees: list[Node], n: int, seed: int,
             **kw: object) -> list[list[ProposedEdit]]:
    """Sample edits for ``trees``; the target of tree i is the observation of tree -1-i."""
    return propose_edits(model, vocab, observe(trees[::-1]), observe(trees), trees, n,
                         torch.Generator().manual_seed(seed), **kw)  # type: ignore[arg-type]


def _replay(vocab: Vocab, nonterminal: str, ids: list[int], max_primitives: int | None, max_tokens: int) -> None:
    """Raise unless every token (and the final EOS) is allowed by the reference decoding state."""
    state = ReferenceState(vocab, nonterminal, max_primitives, max_tokens)
    for tok in [*ids, EOS]:
        state.step(tok)
    assert state.finished


@pytest.mark.parametrize("max_primitives", ["sigma_small", 1, None])
def test_hundreds_of_edits_are_grammar_valid(toy_grammar: Grammar, max_primitives: int | str | None) -> None:
    model, vocab = _setup(toy_grammar)
    trees = programs(toy_grammar, 32, seed=1)
    proposals = _propose(model, vocab, trees, 8, seed=2, max_primitives=max_primitives, unique=False)
    bound = CFG.sigma_small if max_primitives == "sigma_small" else max_primitives
    assert not isinstance(bound, str)
    total = 0
    for tree, edits in zip(trees, proposals):
        for p in edits:
            nt = get(tree, p.edit.path).production.lhs
            validate(p.edit.replacement, toy_grammar, nt)
            validate(p.edit.apply(tree), toy_grammar)
            _replay(vocab, nt, vocab.encode(p.edit.replacement), bound, CFG.max_edit_tokens - 2)
            assert bound is None or p.edit.replacement.sigma <= bound
            assert p.logprob <= 0.0
            total += 1
    assert total >= 200


def test_edits_keep_programs_within_max_program_tokens(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar, max_program_tokens=24)
    trees = [t for t in programs(csg_grammar, 64, seed=3) if len(vocab.encode(t)) <= 24][:16]
    for tree, edits in zip(trees, _propose(model, vocab, trees, 8, seed=4, max_primitives=None, unique=False)):
        for p in edits:
            assert len(vocab.encode(p.edit.apply(tree))) <= 24


def test_positions_are_distinct_when_possible(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = [t for t in programs(csg_grammar, 40, seed=5) if t.size >= 4][:10]
    for edits in _propose(model, vocab, trees, 4, seed=6, unique=False):
        assert len(edits) == 4 and len({p.edit.path for p in edits}) == 4


def test_per_position_decodes_several_replacements_at_fewer_places(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = [t for t in programs(csg_grammar, 40, seed=5) if t.size >= 4][:10]
    for edits in _propose(model, vocab, trees, 6, seed=6, unique=False, per_position=3):
        paths = [p.edit.path for p in edits]
        assert len(edits) == 6 and len(set(paths)) == 2
        assert all(paths.count(path) == 3 for path in set(paths))
    with pytest.raises(ValueError, match="per_position"):
        _propose(model, vocab, trees, 6, seed=6, per_position=0)


def test_sample_positions_only_valid() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 12, generator=gen) * 5
    valid = torch.rand(50, 12, generator=gen) < 0.3
    valid[:, 0] = True
    for temperature in (1.0, 0.0):
        picks = _sample_positions(logits, valid, 6, temperature, gen)
        assert picks.shape == (50, 6) and valid.gather(1, picks).all()
        for row, v in zip(picks, valid):
            k = min(6, int(v.sum()))
            assert len(set(row[:k].tolist())) == k


def test_unique_drops_noops_and_repeats() -> None:
    grammar = Grammar.load(GRAMMAR_DIR / "arith.yaml")
    model, vocab = _setup(grammar)
    trees = programs(grammar, 8, seed=7, max_primitives=1)  # mostly one-node programs: few distinct edits
    for tree, edits in zip(trees, _propose(model, vocab, trees, 16, seed=8)):
        assert len({p.edit for p in edits}) == len(edits)
        assert all(p.edit.apply(tree) != tree for p in edits)
        assert [p.logprob for p in edits] == sorted((p.logprob for p in edits), reverse=True)


def test_deterministic_given_the_generator(toy_grammar: Grammar) -> None:
    model, vocab = _setup(toy_grammar)
    trees = programs(toy_grammar, 8, seed=9)
    a = _propose(model, vocab, trees, 4, seed=10)
    assert a == _propose(model, vocab, trees, 4, seed=10)
    assert a != _propose(model, vocab, trees, 4, seed=11)


def test_logprob_is_pointer_plus_masked_tokens(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = programs(csg_grammar, 4, seed=12)
    targets, currents = observe(trees[::-1]), observe(trees)
    proposals = _propose(model, vocab, trees, 3, seed=13, unique=False)
    for i, tree in enumerate(trees):
        for p in proposals[i]:
            batch = make_edit_batch(vocab, targets[i:i + 1], currents[i:i + 1], [tree], [p.edit], [1.0])
            with torch.no_grad():
                pos_logits, tok_logits = model(batch)
            # Every node of a csg program is an eligible position (the budgets never bind here).
            expected = torch.log_softmax(pos_logits[0], 0)[batch.edit_position[0]].item()
            enc = encode_edit(vocab, tree, p.edit)
            state = ReferenceState(vocab, enc.nonterminal, CFG.sigma_small, CFG.max_edit_tokens - 2)
            for t, tok in enumerate([*enc.replacement, EOS]):
                allowed = torch.zeros(vocab.size, dtype=torch.bool)
                allowed[state.allowed()] = True
                masked = tok_logits[0, t].masked_fill(~allowed, float("-inf"))
                expected += torch.log_softmax(masked, 0)[tok].item()
                state.step(tok)
            assert p.logprob == pytest.approx(expected, abs=1e-4)


def test_greedy_ignores_the_generator(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = programs(csg_grammar, 4, seed=14)
    greedy = _propose(model, vocab, trees, 2, seed=1, temperature=0.0)
    assert greedy == _propose(model, vocab, trees, 2, seed=2, temperature=0.0)


def test_works_under_bf16_autocast(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = programs(csg_grammar, 4, seed=15)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        proposals = _propose(model, vocab, trees, 4, seed=16)
    assert sum(map(len, proposals)) > 0
    for tree, edits in zip(trees, proposals):
        for p in edits:
            validate(p.edit.apply(tree), csg_grammar)


def test_empty_inputs(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    assert propose_edits(model, vocab, observe([]), observe([]), [], 4, torch.Generator()) == []


def test_sample_programs_valid_and_bounded(toy_grammar: Grammar) -> None:
    model, vocab = tiny_ar(toy_grammar)
    target = observe(programs(toy_grammar, 3, seed=17))
    out = sample_programs(model, vocab, target, 40, torch.Generator().manual_seed(1), max_tokens=20)
    assert len(out) == 3 and all(len(row) == 40 for row in out)
    for row in out:
        for tree, logprob in row:
            validate(tree, toy_grammar)
            assert len(vocab.encode(tree)) <= 20 and logprob <= 0.0
    assert out == sample_programs(model, vocab, target, 40, torch.Generator().manual_seed(1), max_tokens=20)


def test_predict_values_matches_the_model(csg_grammar: Grammar) -> None:
    torch.manual_seed(0)
    vocab = Vocab(csg_grammar)
    model = ValueNet(CFG, vocab, SHAPE, grid_encoder).eval()
    trees = programs(csg_grammar, 5, seed=18)
    target, current = observe(trees[::-1]), observe(trees)
    values = predict_values(model, vocab, target, current, trees)
    with torch.no_grad():
        expected = torch.expm1(model.predict_log(target, current, encode_programs(vocab, trees))).clamp_min(0)
    assert values.shape == (5,)
    torch.testing.assert_close(values, expected)


def test_single_target_is_broadcast(csg_grammar: Grammar) -> None:
    model, vocab = _setup(csg_grammar)
    trees = programs(csg_grammar, 3, seed=19)
    target = observe(trees[:1])
    a = propose_edits(model, vocab, target, observe(trees), trees, 2, torch.Generator().manual_seed(0))
    b = propose_edits(model, vocab, target.expand(3, *SHAPE), observe(trees), trees, 2,
                      torch.Generator().manual_seed(0))
    assert a == b


def test_forced_tokens_are_fed_as_given_and_not_counted(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    tree = programs(csg_grammar, 1, seed=31)[0]
    ids = vocab.encode(tree)
    table = TensorMaskTable.of(vocab, "cpu")

    def run(forced: torch.Tensor | None) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
        start = torch.full((2,), table.symbol_ids[csg_grammar.start], dtype=torch.long)
        constraint = GrammarConstraint(table, start, torch.full((2,), 10**6), torch.full((2,), 64))
        with torch.no_grad():
            cache = model.start_decoding(observe([tree]).expand(2, *SHAPE))
            return _decode(lambda t: model.decode_step(cache, t), constraint, 65, 1.0,
                           torch.Generator().manual_seed(4), forced)

    whole = torch.tensor([ids, [-1] * len(ids)])  # row 0: the whole program forced; row 1: free
    rows, logp, done = run(whole)
    assert rows[0] == ids and bool(done.all())
    assert logp.shape[0] == 2 and float(logp[0, :len(ids)].abs().sum()) == 0.0  # forced: not counted
    assert float(logp[0, len(ids)]) <= 0.0  # the EOS after them is the model's own
    half = torch.tensor([ids[:3] + [-1] * (len(ids) - 3)] * 2)
    rows, _, _ = run(half)
    assert all(row[:3] == ids[:3] for row in rows)


def test_infill_rewrites_one_subtree_and_keeps_the_rest(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = programs(csg_grammar, 4, seed=32)
    out = infill_edits(model, vocab, observe(trees[::-1]), trees, 12, torch.Generator().manual_seed(5))
    assert len(out) == 4 and sum(len(row) for row in out) > 12
    for tree, row in zip(trees, out):
        assert len(row) <= 12 and len({e.edit for e in row}) == len(row)  # no repeats
        for prop in row:
            old = get(tree, prop.edit.path)
            assert isinstance(old, Node) and prop.edit.replacement != old  # no no-ops
            assert prop.edit.replacement.production.lhs == old.production.lhs
            new = prop.edit.apply(tree)
            validate(new, csg_grammar)
            assert len(vocab.encode(new)) <= CFG.max_program_tokens and prop.logprob <= 0.0
    again = infill_edits(model, vocab, observe(trees[::-1]), trees, 12, torch.Generator().manual_seed(5))
    assert again == out


def test_infill_suffix_keeps_the_prefix_and_rewrites_everything_after_it(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = programs(csg_grammar, 3, seed=35)
    target = observe(trees[::-1])
    out = infill_edits(model, vocab, target, trees, 8, torch.Generator().manual_seed(8), mode="suffix")
    assert sum(len(row) for row in out) > 3
    for tree, row in zip(trees, out):
        for prop in row:
            assert prop.edit.path == () and prop.edit.replacement != tree and prop.logprob <= 0.0
            validate(prop.edit.replacement, csg_grammar)
    # one decode, two proposals: "both" is exactly the subtree rewrites and the continuations of the same draws
    sub, suf, both = (infill_edits(model, vocab, target, trees, 8, torch.Generator().manual_seed(8), mode=m)
                      for m in ("subtree", "suffix", "both"))
    assert suf == out
    for a, b, c in zip(sub, suf, both, strict=True):
        assert {p.edit for p in c} == {p.edit for p in a} | {p.edit for p in b}
    # a continuation also rewrites what comes after the node, which no subtree rewrite of that draw does
    spliced = {p.edit.apply(tree) for tree, row in zip(trees, sub) for p in row}
    assert any(p.edit.replacement not in spliced for row in suf for p in row)


def test_infill_sites_put_every_rewrite_at_the_given_nodes(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = sorted(programs(csg_grammar, 12, seed=36), key=lambda t: -len(vocab.node_positions(t)))[:3]
    deep = [max((path for _, path in vocab.node_positions(t)), key=len) for t in trees]
    sites = [[deep[0]], [(), deep[1]], []]  # the last program has none: drawn uniformly as without sites
    out = infill_edits(model, vocab, observe(trees), trees, 10, torch.Generator().manual_seed(9), sites=sites)
    assert {p.edit.path for p in out[0]} == {deep[0]}
    assert {p.edit.path for p in out[1]} <= {(), deep[1]} and len(out[1]) > 1
    assert len({p.edit.path for p in out[2]}) > 1


def test_infill_logprob_is_the_replacements_tokens_given_the_prefix(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    tree = programs(csg_grammar, 1, seed=33)[0]
    target = observe([tree])
    prop = infill_edits(model, vocab, target, [tree], 4, torch.Generator().manual_seed(6))[0][0]
    new = prop.edit.apply(tree)
    ids = vocab.encode(new)
    pos = dict((path, p) for p, path in vocab.node_positions(new))[prop.edit.path]
    end = vocab.subtree_end(ids, pos)
    # teacher-forced log-probabilities of the new program under the grammar mask, summed over the replacement
    table = TensorMaskTable.of(vocab, "cpu")
    constraint = GrammarConstraint(table, torch.tensor([table.symbol_ids[csg_grammar.start]]),
                                   torch.tensor([10**6]), torch.tensor([CFG.max_program_tokens]))
    total, token = 0.0, torch.tensor([BOS])
    with torch.no_grad():
        cache = model.start_decoding(target)
        for k, tok in enumerate(ids):
            logits = model.decode_step(cache, token).masked_fill(~constraint.mask(), float("-inf"))
            if pos <= k < end:
                total += float(torch.log_softmax(logits, -1)[0, tok])
            token = torch.tensor([tok])
            constraint.step(token)
    assert prop.logprob == pytest.approx(total, abs=1e-4)


def test_infill_skips_programs_longer_than_the_model_reads(csg_grammar: Grammar) -> None:
    model, vocab = tiny_ar(csg_grammar)
    trees = programs(csg_grammar, 2, seed=34)
    short = CFG.model_copy(update={"max_program_tokens": len(vocab.encode(trees[0])) - 1})
    model.cfg = short
    out = infill_edits(model, vocab, observe(trees), trees[:1], 4, torch.Generator().manual_seed(7))
    assert out == [[]]
