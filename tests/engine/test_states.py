"""On-policy training states: collected from searches, written and read back, drawn by the training stream."""

from __future__ import annotations

import json
from pathlib import Path
from random import Random

import pytest

from tests.engine.blocks_domain import load_trained, make_domain, near
from treediff.engine.errors import InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.search.config import SearchConfig
from treediff.engine.training.data import DataSpec, make_batch, make_example
from treediff.engine.training.states import StatePair, collect_states, read_states, sample_states, write_states
from treediff.engine.training.traincfg import parse_train_config
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import reverse_path
from treediff.engine.trees.tokens import Vocab


def pairs_of(grammar: Grammar, n: int, seed: int) -> list[StatePair]:
    """``n`` pairs of a random target and a random different program of the same grammar."""
    rng = Random(seed)
    out: list[StatePair] = []
    while len(out) < n:
        target, state = sample_tree(grammar, rng, 2, 4), sample_tree(grammar, rng, 1, 4)
        if state != target:
            out.append(StatePair(target, state))
    return out


def test_sample_states_leaves_out_the_target_and_keeps_at_most_the_asked_number(csg_grammar: Grammar) -> None:
    programs = [p.state for p in pairs_of(csg_grammar, 30, 1)]
    target = programs[3]
    chosen = sample_states(programs + programs[:5], target, 10, Random(0))
    assert len(chosen) == 10 and all(p.target == target and p.state != target for p in chosen)
    assert len({p.state for p in chosen}) == 10
    assert chosen == sample_states(programs + programs[:5], target, 10, Random(0))
    few = sample_states(programs[:4], target, 10, Random(0))
    assert [p.state for p in few] == [programs[i] for i in (0, 1, 2)]


def test_states_round_trip_through_a_file(csg_grammar: Grammar, tmp_path: Path) -> None:
    pairs = pairs_of(csg_grammar, 12, 2)
    path = tmp_path / "states.jsonl"
    write_states(path, pairs)
    assert read_states(path, csg_grammar) == tuple(pairs)
    assert [json.loads(line)["state"] for line in path.read_text().splitlines()] == [str(p.state) for p in pairs]


@pytest.mark.parametrize(("text", "message"), [
    ("", "holds no state pairs"),
    ('{"target": "(Circle 1 2 3)"}\n', "line 1: .* is not an object with \"target\" and \"state\""),
    ("not json\n", "line 1"),
    ('{"target": "(Circle 1 2 3)", "state": "(Nope 1)"}\n', "line 1"),
])
def test_a_bad_states_file_is_an_error_naming_the_file_and_line(csg_grammar: Grammar, tmp_path: Path, text: str,
                                                                message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(Exception, match=message) as info:
        read_states(path, csg_grammar)
    assert "bad.jsonl" in str(info.value)
    with pytest.raises(InputError, match="cannot read training states file"):
        read_states(tmp_path / "missing.jsonl", csg_grammar)


def test_an_example_of_a_state_edits_that_state_into_its_target(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    spec = DataSpec(multi_label=True)
    for pair in pairs_of(csg_grammar, 20, 3):
        ex = make_example(csg_grammar, vocab, spec, Random(0), pair.target, pair.state)
        assert vocab.decode(list(ex.current)) == pair.state and vocab.decode(list(ex.target)) == pair.target
        assert ex.path_length == len(reverse_path(pair.state, pair.target, csg_grammar, spec.sigma_small)) > 0


def test_batches_draw_the_asked_share_of_states_and_are_unchanged_without_them(csg_grammar: Grammar) -> None:
    vocab = Vocab(csg_grammar)
    pairs = pairs_of(csg_grammar, 8, 4)
    known = {(str(p.target), str(p.state)) for p in pairs}
    plain = DataSpec()
    assert make_batch(csg_grammar, vocab, DataSpec(states=tuple(pairs)), 16, 1, 0, 3).program.equal(
        make_batch(csg_grammar, vocab, plain, 16, 1, 0, 3).program)  # p_states 0: the stream is as before

    def drawn(p_states: float) -> int:
        spec = DataSpec(states=tuple(pairs), p_states=p_states)
        batch = make_batch(csg_grammar, vocab, spec, 64, 1, 0, 3)
        rows = zip(batch.target_ids.tolist(), batch.program.tolist())
        return sum((str(vocab.decode([t for t in a if t])), str(vocab.decode([t for t in b if t]))) in known
                   for a, b in rows)

    assert drawn(1.0) == 64
    assert 16 <= drawn(0.5) <= 48


def test_train_config_needs_a_states_file_and_its_share_together() -> None:
    assert parse_train_config("states: s.jsonl\np_states: 0.5\n").p_states == 0.5
    with pytest.raises(InputError, match="expected both"):
        parse_train_config("states: s.jsonl\n")
    with pytest.raises(InputError, match="expected both"):
        parse_train_config("p_states: 0.5\n")
    with pytest.raises(InputError, match="only for model: diffusion"):
        parse_train_config("model: ar\nstates: s.jsonl\np_states: 0.5\n")


def test_collected_states_are_programs_the_beam_search_expanded(tmp_path: Path) -> None:
    domain = make_domain()
    bundle = load_trained("diffusion", tmp_path, domain)
    executor = domain.make_executor("cpu")
    targets = domain.test_targets(3, 7)
    pairs = collect_states(domain, executor, bundle, None, SearchConfig(), targets, budget=60, per_target=5, seed=1)
    assert pairs and {p.target for p in pairs} <= set(targets)
    assert all(p.state != p.target for p in pairs)
    for target in targets:
        assert sum(p.target == target for p in pairs) <= 5
    again = collect_states(domain, executor, bundle, None, SearchConfig(), targets, budget=60, per_target=5, seed=1)
    assert again == pairs  # seeded: the same searches, the same draws
    start = near(domain, targets[0], 2, 0)
    from treediff.engine.search.solve import solve

    result = solve(domain, executor.execute([targets[0]])[0], "beam", budget=60, seed=0, bundle=bundle, seeds=[start])
    expanded = result.expanded()
    assert expanded and expanded[0] == start  # the start is expanded in the first round
    assert result.lineage is not None
    assert all(any(parent == p for parent, _ in result.lineage.parents.values()) for p in expanded)


def test_the_command_refuses_bad_counts_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treediff.engine.training.states import main

    out = tmp_path / "s.jsonl"
    assert main(["tinysvg", "--out", str(out), "--targets", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --targets 0") and "expected positive numbers" in err and "Traceback" not in err
    assert not out.exists()
