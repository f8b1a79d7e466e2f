"""On-the-fly training data: examples, deterministic streams, workers, execution and validation sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from random import Random
from typing import Any

import pytest
import torch

from tests.engine.blocks_domain import make_domain, render
from treediff.engine.errors import DomainError, TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.training.data import (
    DataSpec,
    EditStream,
    Materializer,
    make_batch,
    make_example,
    make_loader,
    validation_batches,
)
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import reverse_path
from treediff.engine.trees.tokens import BOS, EOS, PAD, EditTokens, Vocab, decode_edit
from treediff.engine.trees.tree import Node


def test_example_is_the_first_step_of_the_reverse_path(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(min_primitives=2, max_primitives=6)
    rng = Random(3)
    for _ in range(50):
        ex = make_example(csg_grammar, vocab, spec, rng)
        current, target = vocab.decode(list(ex.current)), vocab.decode(list(ex.target))
        nonterminal = vocab.token_production(ex.current[ex.position]).lhs
        edit = decode_edit(vocab, current, EditTokens(ex.position, nonterminal, ex.replacement))
        assert edit.replacement.sigma <= spec.sigma_small
        after = edit.apply(current)
        assert len(reverse_path(after, target, csg_grammar, spec.sigma_small)) == ex.path_length - 1
        assert 2 <= target.sigma <= 6


def test_token_limits_are_respected_or_reported(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(max_program_tokens=20, max_edit_tokens=8)
    rng = Random(0)
    for _ in range(30):
        ex = make_example(csg_grammar, vocab, spec, rng)
        assert len(ex.current) <= 20 and len(ex.replacement) + 2 <= 8
    with pytest.raises(TreeError, match="max_program_tokens=3"):
        make_example(csg_grammar, vocab, DataSpec(max_program_tokens=3), rng)


def test_batches_are_a_pure_function_of_seed_rank_and_index(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec()
    a = make_batch(csg_grammar, vocab, spec, 8, seed=1, rank=0, index=5)
    b = make_batch(csg_grammar, vocab, spec, 8, seed=1, rank=0, index=5)
    assert torch.equal(a.program, b.program) and torch.equal(a.replacement, b.replacement)
    for other in (make_batch(csg_grammar, vocab, spec, 8, 1, 1, 5), make_batch(csg_grammar, vocab, spec, 8, 1, 0, 6),
                  make_batch(csg_grammar, vocab, spec, 8, 2, 0, 5)):
        assert not torch.equal(a.target_ids[:, :4], other.target_ids[:, :4])


def test_batch_layout(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    tb = make_batch(csg_grammar, vocab, DataSpec(), 16, 0, 0, 0)
    assert tb.program.dtype == torch.long and tb.program.shape[0] == 16 == len(tb)
    assert (tb.replacement[:, 0] == BOS).all()
    ends = (tb.replacement != PAD).sum(1) - 1
    assert (tb.replacement[torch.arange(16), ends] == EOS).all()
    prods = tb.program[torch.arange(16), tb.edit_position]
    assert ((prods >= vocab.prod_offset) & (prods < vocab.value_offset)).all()
    assert (tb.path_length >= 1).all()
    ar = make_batch(csg_grammar, vocab, replace(DataSpec(), kind="ar"), 4, 0, 0, 0)
    assert torch.equal(ar.program, ar.target_ids)


def test_stream_is_the_same_with_any_number_of_workers(csg_grammar: Grammar) -> None:
    spec = DataSpec(max_primitives=4)
    serial = list(make_loader(EditStream(csg_grammar, spec, 4, seed=7, start=3, stop=9), workers=0))
    parallel = list(make_loader(EditStream(csg_grammar, spec, 4, seed=7, start=3, stop=9), workers=2))
    assert [b.index for b in serial] == [b.index for b in parallel] == list(range(3, 9))
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a.program, b.program) and torch.equal(a.target_ids, b.target_ids)


def test_materializer_executes_targets_and_currents() -> None:
    domain = make_domain()
    vocab = Vocab(domain.grammar)
    tb = make_batch(domain.grammar, vocab, DataSpec(max_primitives=3), 6, 0, 0, 0)
    batch = Materializer(domain, vocab, torch.device("cpu"))(tb)
    assert batch.target.shape == batch.current.shape == (6, 1, 16, 16)
    for i in range(6):
        target = vocab.decode([t for t in tb.target_ids[i].tolist() if t != PAD])
        current = vocab.decode([t for t in tb.program[i].tolist() if t != PAD])
        assert torch.equal(batch.target[i], render(domain, target))
        assert torch.equal(batch.current[i], render(domain, current))
    ar = Materializer(domain, vocab, torch.device("cpu"), kind="ar")(
        make_batch(domain.grammar, vocab, DataSpec(kind="ar", max_primitives=3), 3, 0, 0, 0))
    assert torch.equal(ar.target, ar.current)


def test_sketch_targets_come_from_the_domain_sketch_model() -> None:
    calls: list[int] = []

    def sketch(trees: Sequence[Node], generator: torch.Generator) -> torch.Tensor:
        calls.append(len(trees))
        return torch.rand(len(trees), 1, 16, 16, generator=generator)

    plain = replace(make_domain(), sketch=None)
    with pytest.raises(DomainError, match="no sketch model"):
        Materializer(plain, Vocab(plain.grammar), torch.device("cpu"), sketch=True)
    domain = replace(make_domain(), sketch=sketch)
    vocab = Vocab(domain.grammar)
    tb = make_batch(domain.grammar, vocab, DataSpec(max_primitives=3), 5, 0, 0, 0)
    mat = Materializer(domain, vocab, torch.device("cpu"), sketch=True)
    a, b = mat(tb), mat(tb)
    assert calls == [5, 5] and torch.equal(a.target, b.target)  # seeded by the batch index: replays on resume
    assert not torch.equal(a.target, Materializer(domain, vocab, torch.device("cpu"))(tb).target)


def test_validation_set_is_fixed_by_its_seed() -> None:
    domain = make_domain()
    mat = Materializer(domain, Vocab(domain.grammar), torch.device("cpu"))
    spec = DataSpec(max_primitives=3)
    a = validation_batches(domain.grammar, spec, 10, 4, seed=5, materialize=mat)
    b = validation_batches(domain.grammar, spec, 10, 4, seed=5, materialize=mat)
    c = validation_batches(domain.grammar, spec, 10, 4, seed=6, materialize=mat)
    assert [len(x) for x in a] == [4, 4, 2]
    assert all(torch.equal(x.program, y.program) and torch.equal(x.target, y.target) for x, y in zip(a, b))
    assert [x.program.tolist() for x in a] != [y.program.tolist() for y in c]


def test_validation_set_leaves_out_the_training_states() -> None:
    from treediff.engine.training.states import StatePair

    domain = make_domain()
    mat = Materializer(domain, Vocab(domain.grammar), torch.device("cpu"))
    spec = DataSpec(max_primitives=3)
    rng = Random(1)
    pairs = tuple(StatePair(sample_tree(domain.grammar, rng, 2, 3), sample_tree(domain.grammar, rng, 4, 5))
                  for _ in range(4))
    with_states = replace(spec, states=pairs, p_states=1.0)
    a = validation_batches(domain.grammar, spec, 8, 4, seed=5, materialize=mat)
    b = validation_batches(domain.grammar, with_states, 8, 4, seed=5, materialize=mat)
    assert all(torch.equal(x.program, y.program) and torch.equal(x.target, y.target) for x, y in zip(a, b))


def test_first_edits_are_the_edits_no_earlier_edit_contains(csg_grammar: Grammar) -> None:
    from treediff.engine.training.data import first_edits
    from treediff.engine.trees.tree import Edit

    leaf = Node(csg_grammar.productions[0], (1, 1, 1))
    path = [Edit((0,), leaf), Edit((0, 1), leaf), Edit((1,), leaf), Edit((1, 0, 1), leaf), Edit((2,), leaf)]
    assert first_edits(path) == [path[0], path[2], path[4]]
    assert first_edits([Edit((), leaf), Edit((0,), leaf)]) == [Edit((), leaf)]


def test_multi_label_examples_mark_every_edit_that_may_come_first(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(min_primitives=2, max_primitives=6, multi_label=True, p_fresh=0.0)
    rng = Random(5)
    several = 0
    for _ in range(60):
        ex = make_example(csg_grammar, vocab, spec, rng)
        assert ex.position in ex.positions
        current, target = vocab.decode(list(ex.current)), vocab.decode(list(ex.target))
        where = {path: position for position, path in vocab.node_positions(current)}
        path = reverse_path(current, target, csg_grammar, spec.sigma_small)
        for position in ex.positions:  # each marked edit starts a shortest path back to the target
            edit = next(e for e in path if where[e.path] == position)
            after = edit.apply(current)
            assert len(reverse_path(after, target, csg_grammar, spec.sigma_small)) == ex.path_length - 1
        several += len(ex.positions) > 1
    assert several > 5  # several right answers are common, which is why the pointer needs them all


def test_goal_examples_have_no_edit_and_zero_length(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(min_primitives=2, max_primitives=4, p_goal=0.5)
    rng = Random(1)
    examples = [make_example(csg_grammar, vocab, spec, rng) for _ in range(80)]
    goals = [e for e in examples if e.path_length == 0]
    assert 20 < len(goals) < 60
    assert all(e.current == e.target and e.positions == () for e in goals)
    batch = make_batch(csg_grammar, vocab, spec, 16, seed=0, rank=0, index=0)
    for row in range(16):
        marked = batch.position_mask[row].nonzero().flatten().tolist()
        if batch.path_length[row] == 0:
            assert marked == []
        else:
            assert int(batch.edit_position[row]) in marked


def _same_shape(current: Node, target: Node) -> bool:
    from treediff.engine.trees.tree import skeleton

    return skeleton(current) == skeleton(target)


@pytest.mark.parametrize(("option", "holds"), [
    ("p_leaf", _same_shape),  # every noise step moved a leaf: the program keeps the target's shape
    ("p_hoist", lambda current, target: current.sigma < target.sigma),  # every step dropped a part
])
def test_noise_options_reach_the_examples_through_the_config(csg_grammar: Grammar, option: str, holds: Any) -> None:
    from treediff.engine.training.recipe import data_spec
    from treediff.engine.training.traincfg import TrainConfig

    domain = type("D", (), {"min_primitives": 4, "max_primitives": 6})
    mcfg = type("M", (), {"sigma_small": 2, "max_program_tokens": 128, "max_edit_tokens": 40})
    spec = data_spec(domain, TrainConfig(p_fresh=0.0, p_goal=0.0, **{option: 1.0}), mcfg)  # type: ignore[arg-type]
    assert getattr(spec, option) == 1.0
    vocab, rng = Vocab(csg_grammar), Random(5)
    for _ in range(30):
        ex = make_example(csg_grammar, vocab, spec, rng)
        assert holds(vocab.decode(list(ex.current)), vocab.decode(list(ex.target)))


def test_a_target_source_gives_each_batch_its_targets_deterministically(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(p_fresh=0.0, p_goal=0.0, max_primitives=4)
    asked: list[tuple[int, int]] = []

    def source(n: int, seed: int) -> list[Node]:  # a fixed pool, rotated by the seed
        asked.append((n, seed))
        pool = _pool(csg_grammar)
        return [pool[(seed + i) % len(pool)] for i in range(n)]

    a = make_batch(csg_grammar, vocab, spec, 6, seed=3, rank=0, index=2, targets=source)
    b = make_batch(csg_grammar, vocab, spec, 6, seed=3, rank=0, index=2, targets=source)
    c = make_batch(csg_grammar, vocab, spec, 6, seed=3, rank=0, index=3, targets=source)
    assert torch.equal(a.target_ids, b.target_ids) and torch.equal(a.program, b.program)
    assert asked[0] == asked[1] and asked[0][0] == 6 and asked[2][1] != asked[0][1]
    got = [vocab.decode([t for t in row if t != PAD]) for row in a.target_ids.tolist()]
    assert got == source(6, asked[0][1])  # the batch's targets are the source's, in order
    assert not torch.equal(a.target_ids, c.target_ids)
    plain = make_batch(csg_grammar, vocab, spec, 6, seed=3, rank=0, index=2)
    assert not torch.equal(plain.target_ids, a.target_ids)


def _pool(grammar: Grammar) -> list[Node]:
    from treediff.engine.grammar.parse import parse

    texts = ["(+ (Circle 3 5 7) (Circle 4 5 6))", "(- (Quad 8 8 6 6 0) (Circle 2 8 8))",
             "(+ (Quad 3 3 4 4 1) (Circle 2 12 12))"]
    return [parse(grammar, t) for t in texts]


def test_targets_test_needs_a_domain_with_test_targets() -> None:
    from treediff.engine.errors import InputError
    from treediff.engine.training.recipe import target_source
    from treediff.engine.training.traincfg import TrainConfig

    domain = make_domain()
    assert target_source(domain, TrainConfig()) is None
    assert target_source(domain, TrainConfig(targets="test")) is domain.test_targets
    bare = replace(domain, test_targets=None)
    with pytest.raises(InputError, match="targets: test.*no test_targets"):
        target_source(bare, TrainConfig(targets="test"))


def test_targets_test_keep_to_the_configs_size_bounds_as_a_pure_function_of_the_seed() -> None:
    from treediff.engine.errors import InputError
    from treediff.engine.training.recipe import target_source
    from treediff.engine.training.traincfg import TrainConfig

    domain = make_domain()
    sizes = [t.sigma for t in domain.test_targets(64, 3)]
    assert min(sizes) < 3 <= max(sizes)  # the unbounded generator makes both
    source = target_source(domain, TrainConfig(targets="test", min_primitives=3))
    assert source is not None and source is not domain.test_targets
    big = source(20, 3)
    assert len(big) == 20 and all(t.sigma >= 3 for t in big)
    assert big == source(20, 3) and big != source(20, 4)
    small = target_source(domain, TrainConfig(targets="test", max_primitives=2))
    assert small is not None and all(t.sigma <= 2 for t in small(10, 1))
    never = target_source(domain, TrainConfig(targets="test", min_primitives=60))
    assert never is not None
    with pytest.raises(InputError, match="60..*primitives in 16 draws of 5"):
        never(5, 0)


def test_sized_share_mixes_bounded_and_unbounded_targets_in_each_batch() -> None:
    from pydantic import ValidationError

    from treediff.engine.training.recipe import target_source
    from treediff.engine.training.traincfg import TrainConfig

    domain = make_domain()
    source = target_source(domain, TrainConfig(targets="test", min_primitives=3, sized_share=0.25))
    assert source is not None
    batch = list(source(40, 5))
    assert len(batch) == 40 and batch == list(source(40, 5)) and batch != list(source(40, 6))
    assert all(t.sigma >= 3 for t in batch[:10])  # round(40 * 0.25) bounded targets first
    assert any(t.sigma < 3 for t in batch[10:])  # the rest keeps the small sizes the bound leaves out
    assert batch[10:] != list(domain.test_targets(30, 5))  # drawn past the bounded part's seeds
    whole = target_source(domain, TrainConfig(targets="test", min_primitives=3, sized_share=0.0))
    assert whole is not None and list(whole(12, 2)) == list(domain.test_targets(12, 2 + 16))
    with pytest.raises(ValidationError, match="sized_share 0.5 with targets: random"):
        TrainConfig(min_primitives=3, sized_share=0.5)
    with pytest.raises(ValidationError, match="expected targets: test and a size bound"):
        TrainConfig(targets="test", sized_share=0.5)
