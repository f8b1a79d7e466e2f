"""Beam search, rollouts and AR sampling with small trained models on the blocks domain; exact accounting."""

from __future__ import annotations

import dataclasses

import pytest

from tests.engine.blocks_domain import load_trained, make_domain, near, render
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.search.config import SearchConfig
from treediff.engine.search.solve import METHODS, solve


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def models(root):
    d = make_domain()
    return d, load_trained("diffusion", root, d), load_trained("ar", root, d)



def easy_cases(d, n=6):
    return [(t, near(d, t, 1 + i % 2, i)) for i, t in enumerate(d.test_targets(n, 41))]


def test_beam_search_solves_targets_one_or_two_edits_away(models):
    d, bundle, _ = models
    solved = 0
    for i, (target, start) in enumerate(easy_cases(d, 12)):
        res = solve(d, render(d, target), "beam", budget=300, seed=i, bundle=bundle, seeds=[start])
        assert res.trajectory[0].program == start and res.trajectory[-1].program == res.program
        for prev, step in zip(res.trajectory, res.trajectory[1:]):
            assert step.edit.apply(prev.program) == step.program
        assert res.counts["edits_proposed"] > 0 and res.profile["model"] > 0
        if res.solved:
            solved += 1
            assert res.score == 0.0 and res.calls_at_solve <= res.renderer_calls <= 300
            assert (render(d, res.program) == render(d, target)).all()
    assert solved >= 8  # 10 of 12 with the reference run; a 400-step model is weak on its own


def test_rollouts_solve_targets_one_or_two_edits_away(models):
    d, bundle, _ = models
    solved = 0
    for i, (target, start) in enumerate(easy_cases(d, 12)):
        res = solve(d, render(d, target), "rollout", budget=300, seed=i, bundle=bundle,
                    seeds=[start])
        solved += res.solved
    assert solved >= 5  # 7 of 12 with the reference run


def test_ar_sampling_solves_small_targets(models):
    d, _, ar = models
    targets = d.test_targets(12, 43)
    solved = sum(solve(d, render(d, t), "ar", budget=150, seed=i, ar_bundle=ar).solved for i, t in enumerate(targets))
    assert solved >= 8  # 11 of 12 with the reference run


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("budget", [1, 3, 17, 64])
def test_no_method_executes_more_than_the_budget(models, method, budget):
    d, bundle, ar = models
    target = d.test_targets(1, 77)[0]
    ex = d.make_executor("cpu")
    res = solve(d, render(d, target), method, budget=budget, seed=5, bundle=bundle, ar_bundle=ar, executor=ex,
                use_goal=False)
    assert len(set(ex.executed)) == res.renderer_calls <= budget
    assert len(ex.executed) == res.renderer_calls + res.counts["reexecutions"]
    assert not res.solved and res.calls_at_solve is None and res.program is not None


@pytest.mark.parametrize("method", METHODS)
def test_time_limits_are_honoured(models, method):
    d, bundle, ar = models
    target = render(d, d.test_targets(1, 78)[0])
    ex = d.make_executor("cpu")
    res = solve(d, target, method, budget=10_000, time_limit=0.0, bundle=bundle, ar_bundle=ar, executor=ex)
    assert res.renderer_calls == 0 and ex.executed == [] and res.program is None
    res = solve(d, target, method, budget=10_000, time_limit=0.5, bundle=bundle, ar_bundle=ar, use_goal=False)
    assert 0 < res.renderer_calls < 10_000 and res.seconds < 0.5 + 1.0  # at most one batch past the limit


@pytest.mark.parametrize("method", METHODS)
def test_a_solve_at_call_n_is_found_with_a_budget_of_exactly_n_calls(models, method):
    """``calls_at_solve`` is the match's own call number (not the end of its batch): a search capped at that
    many calls makes the same calls and finds the same program; capped one call earlier it does not."""
    d, bundle, ar = models
    checked = 0
    for i, (target, start) in enumerate(easy_cases(d, 8)):
        seeds = [] if method == "ar" else [start]
        def run(budget: int, i: int = i, target=target, seeds=seeds):
            return solve(d, render(d, target), method, budget=budget, seed=i, bundle=bundle, ar_bundle=ar,
                         seeds=seeds)
        full = run(400)
        if not full.solved or full.calls_at_solve == 1:
            continue
        n = full.calls_at_solve
        capped, short = run(n), run(n - 1)
        assert capped.solved and capped.program == full.program and capped.calls_at_solve == n
        assert capped.renderer_calls == n and not short.solved and short.renderer_calls == n - 1
        checked += 1
    assert checked >= 2


def test_beam_search_is_deterministic_given_the_seed(models):
    d, bundle, _ = models
    target = render(d, d.test_targets(1, 79)[0])
    a, b = (solve(d, target, "beam", budget=80, seed=9, bundle=bundle) for _ in range(2))
    assert (a.program, a.renderer_calls, a.solved, a.calls_at_solve) == \
        (b.program, b.renderer_calls, b.solved, b.calls_at_solve)


def test_beam_search_without_value_network_ranks_by_distance(models):
    d, bundle, _ = models
    no_value = dataclasses.replace(bundle, value=None)
    target, start = easy_cases(d, 1)[0]
    res = solve(d, render(d, target), "beam", budget=150, seed=0, bundle=no_value, seeds=[start])
    assert res.solved and res.counts.get("values_predicted", 0) == 0


def test_unsolved_search_returns_the_lowest_distance_program(models):
    d, bundle, _ = models
    target = render(d, d.test_targets(1, 80)[0])
    ex = d.make_executor("cpu")
    res = solve(d, target, "beam", budget=20, seed=1, bundle=bundle, executor=ex, use_goal=False)
    best = float(d.distance(ex.execute(list(dict.fromkeys(ex.executed))), target).min())
    assert res.score == pytest.approx(best) and not res.solved


def test_method_and_checkpoint_mismatches_are_clear_errors(models):
    d, bundle, ar = models
    target = render(d, d.test_targets(1, 81)[0])
    with pytest.raises(CheckpointError, match="needs a diffusion checkpoint.*--method mutation"):
        solve(d, target, "beam", budget=5)
    with pytest.raises(CheckpointError, match="kind 'ar'"):
        solve(d, target, "rollout", budget=5, bundle=ar)
    with pytest.raises(CheckpointError, match="autoregressive"):
        solve(d, target, "ar", budget=5, bundle=bundle)
    with pytest.raises(InputError, match="unknown search method"):
        solve(d, target, "astar", budget=5)
    with pytest.raises(InputError, match="shape"):
        solve(d, target[0], "mutation", budget=5)


@pytest.mark.parametrize("method", ["beam", "rollout"])
@pytest.mark.parametrize("start", ["ar", "minimal"])
def test_searches_can_start_from_ar_samples_or_the_minimal_program(models, method, start):
    d, bundle, ar = models
    target = render(d, d.test_targets(1, 82)[0])
    ex = d.make_executor("cpu")
    res = solve(d, target, method, budget=25, seed=2, bundle=bundle, ar_bundle=ar, executor=ex, use_goal=False,
                config=SearchConfig(start=start))
    assert len(set(ex.executed)) == res.renderer_calls <= 25
    first = ex.executed[0]
    if start == "minimal":
        assert str(first) == "(box 0 0 1)"
    assert res.trajectory[0].edit is None


@pytest.mark.parametrize("restart", ["start", "random"])
def test_a_stuck_beam_restarts_from_its_start_or_from_random_programs(models, monkeypatch, restart):
    import treediff.engine.search.beam as beam

    d, bundle, _ = models
    asked: list[object] = []
    original = beam.start_programs

    def spy(domain, start, count, rng):
        asked.append(start)
        return original(domain, start, count, rng)

    monkeypatch.setattr(beam, "start_programs", spy)
    target = render(d, d.test_targets(1, 83)[0])
    config = SearchConfig().with_overrides("beam", patience=1, restart=restart)
    ex = d.make_executor("cpu")
    res = solve(d, target, "beam", budget=200, seed=3, bundle=bundle, executor=ex, use_goal=False, config=config)
    assert asked[0] == "minimal" and len(asked) > 2  # restarted more than once
    assert set(asked[1:]) == ({"minimal"} if restart == "start" else {"random"})
    assert len(set(ex.executed)) == res.renderer_calls <= 200


def test_beam_local_order_ar_reads_the_local_edits_with_the_ar_model(models, monkeypatch):
    import treediff.engine.models.likelihood as likelihood

    d, bundle, ar = models
    read: list[int] = []
    original = likelihood.program_logprobs

    def spy(model, vocab, target, trees):
        read.append(len(trees))
        return original(model, vocab, target, trees)

    monkeypatch.setattr(likelihood, "program_logprobs", spy)
    config = SearchConfig().with_overrides("beam", local_order="ar", local_samples=1)
    assert config.beam.uses_ar and not SearchConfig().beam.uses_ar
    res = solve(d, render(d, d.test_targets(1, 88)[0]), "beam", budget=120, seed=3, bundle=bundle,
                ar_bundle=ar, use_goal=False, config=config)
    assert read and res.renderer_calls <= 120
    with pytest.raises(CheckpointError, match="autoregressive"):
        solve(d, render(d, d.test_targets(1, 88)[0]), "beam", budget=50, seed=2, bundle=bundle, config=config)


def test_beam_ar_filter_samples_more_proposals_and_executes_the_best_read_share(models, monkeypatch):
    import treediff.engine.search.beam as beam

    d, bundle, ar = models
    shares: list[tuple[int, int]] = []
    original = beam.read_filter

    def spy(offered, reader, factor, seen):
        kept = original(offered, reader, factor, seen)
        fresh = len({item[2] for item in offered if not seen(item[2])})
        shares.append((fresh, len(kept)))
        assert factor == 3
        return kept

    monkeypatch.setattr(beam, "read_filter", spy)
    config = SearchConfig().with_overrides("beam", ar_filter=3, ar_edits=4, local=0)
    res = solve(d, render(d, d.test_targets(1, 89)[0]), "beam", budget=150, seed=3, bundle=bundle, ar_bundle=ar,
                use_goal=False, config=config)
    assert shares and res.renderer_calls <= 150
    assert all(kept == -(-fresh // 3) for fresh, kept in shares)
    assert any(fresh >= 3 for fresh, _ in shares)


def test_beam_round_order_read_executes_each_round_best_read_first_and_reads_each_program_once(models,
                                                                                                 monkeypatch):
    import treediff.engine.models.likelihood as likelihood
    from treediff.engine.search.budget import BudgetedExecutor

    d, bundle, ar = models
    scores: dict = {}
    batches: list[list] = []
    original_read, original_run = likelihood.program_logprobs, BudgetedExecutor.run

    def read(model, vocab, target, trees):
        out = original_read(model, vocab, target, trees)
        assert not any(t in scores for t in trees)  # the reader remembers what it read
        scores.update(zip(trees, out.tolist()))
        return out

    def run(self, trees):
        batches.append(list(trees))
        return original_run(self, trees)

    monkeypatch.setattr(likelihood, "program_logprobs", read)
    monkeypatch.setattr(BudgetedExecutor, "run", run)

    def rounds(order):
        scores.clear(), batches.clear()
        config = SearchConfig().with_overrides("beam", round_order=order, local_order="ar")
        solve(d, render(d, d.test_targets(1, 90)[0]), "beam", budget=200, seed=3, bundle=bundle, ar_bundle=ar,
              use_goal=False, config=config)
        return [b for b in batches if len(b) > 1]

    ordered = rounds("read")
    assert len(ordered) >= 3 and all([scores[t] for t in b] == sorted((scores[t] for t in b), reverse=True)
                                     for b in ordered)
    proposed = rounds("proposed")
    assert proposed[0] != ordered[0]  # executed in another order ...
    # ... but every round runs the same programs: each next beam is chosen as if run as proposed (the last
    # round, cut short by the budget, may differ)
    assert [set(b) for b in proposed[:-1]] == [set(b) for b in ordered[:-1]]
    assert SearchConfig().with_overrides("beam", round_order="read").beam.uses_ar


def test_beam_opening_runs_the_first_rounds_short_and_doubling_and_the_first_is_the_best_read_head(models,
                                                                                                    monkeypatch):
    from treediff.engine.search.budget import BudgetedExecutor

    d, bundle, ar = models
    batches: list[list] = []
    original_run = BudgetedExecutor.run

    def run(self, trees):
        batches.append(list(trees))
        return original_run(self, trees)

    monkeypatch.setattr(BudgetedExecutor, "run", run)

    def rounds(opening):
        batches.clear()
        config = SearchConfig().with_overrides("beam", round_order="read", local_order="ar", opening=opening)
        solve(d, render(d, d.test_targets(1, 90)[0]), "beam", budget=300, seed=3, bundle=bundle, ar_bundle=ar,
              use_goal=False, config=config)
        return batches[1:]  # after the start program

    full = rounds(0)
    short = rounds(3)
    assert len(full[0]) > 3 and short[0] == full[0][:3]  # the same round, cut to its best-read head
    assert all(len(b) <= 3 << k for k, b in enumerate(short))
    assert any(len(b) == 3 << k for k, b in enumerate(short) if k > 0)  # later rounds run more
    assert len(short) > len(full)  # more, shorter rounds in the same budget


def test_ar_filler_writes_each_wraps_empty_slot_and_keeps_the_wrapped_node(models):
    import torch

    from treediff.engine.search.budget import BudgetedExecutor
    from treediff.engine.search.rewrites import ar_filler
    from treediff.engine.trees.derivation import minimal_tree
    from treediff.engine.trees.neighbours import wrap_edits
    from treediff.engine.trees.tree import Node, get

    d, _, ar = models
    target, parent = d.test_targets(2, 90)
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), render(d, target), budget=10)
    wraps = [(e, e.apply(parent)) for e in wrap_edits(d.grammar, parent)][:12]
    fill = ar_filler(renderer, ar, torch.Generator().manual_seed(0), 1.0)
    filled = fill(parent, wraps)
    assert filled and renderer.calls == 0 and renderer.profile.seconds.get("model", 0) > 0
    assert renderer.profile.counts["edits_proposed"] >= len(filled)  # the decode counts what it wrote
    empty = minimal_tree(d.grammar)
    for edit, program in filled:
        assert edit.apply(parent) == program and program not in {c for _, c in wraps}
        node = get(parent, edit.path)
        kids = [c for c in edit.replacement.children if type(c) is Node]
        assert node in kids and any(k != empty for k in kids if k != node)  # the node kept, its new neighbour written
    assert fill(parent, []) == []


def test_beam_read_slots_keep_the_best_read_candidates_the_ranking_left_out(models, monkeypatch):
    import treediff.engine.search.beam as beam

    d, bundle, ar = models
    calls: list[tuple[int, int]] = []
    original = beam.best_read_left

    def spy(ranked, chosen, reader, k, tree):
        picked = original(ranked, chosen, reader, k, tree)
        calls.append((len(chosen), len(picked)))
        assert not {id(c) for c in picked} & {id(c) for c in chosen}
        return picked

    monkeypatch.setattr(beam, "best_read_left", spy)
    config = SearchConfig().with_overrides("beam", read_slots=1)
    assert config.beam.uses_ar
    res = solve(d, render(d, d.test_targets(1, 91)[0]), "beam", budget=150, seed=3, bundle=bundle, ar_bundle=ar,
                use_goal=False, config=config)
    assert calls and res.renderer_calls <= 150
    assert all(chosen == 3 and picked == 1 for chosen, picked in calls)  # beam_width 4: 3 by rank, 1 by reading
    with pytest.raises(InputError, match="value_slots=2 and read_slots=2"):
        SearchConfig().with_overrides("beam", value_slots=2, read_slots=2)


def test_diverse_selection_keeps_other_skeletons_before_more_variants_of_the_best(csg_grammar):
    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.beam import _select
    from treediff.engine.search.budget import Visit
    from treediff.engine.search.candidates import Candidate

    texts = ["(+ (Circle 3 5 7) (Circle 4 5 6))", "(+ (Circle 3 5 8) (Circle 4 5 6))",
             "(+ (Circle 3 5 9) (Circle 4 5 6))", "(- (Circle 3 5 7) (Circle 4 5 6))", "(Circle 3 5 7)"]
    ranked = [Candidate(t, Visit(t, False, 0.1 * i, i + 1), 0.0)
              for i, t in enumerate(parse(csg_grammar, x) for x in texts)]
    assert _select(ranked, 3, 0) == ranked[:3]
    assert _select(ranked, 3, 1) == [ranked[0], ranked[3], ranked[4]]
    assert _select(ranked, 4, 2) == [ranked[0], ranked[1], ranked[3], ranked[4]]
    assert _select(ranked, 5, 1) == ranked  # too few skeletons: the best of the rest fill the beam, in rank order


def test_value_slots_keep_the_value_networks_favourites_that_the_distance_ranking_left_out(csg_grammar):
    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.beam import _select
    from treediff.engine.search.budget import Visit
    from treediff.engine.search.candidates import Candidate

    texts = ["(Circle 3 5 7)", "(Circle 3 5 8)", "(Circle 3 5 9)", "(Circle 3 5 10)", "(Circle 3 5 11)"]
    values = [2.0, 3.0, 1.0, 0.5, 0.5]
    ranked = [Candidate(t, Visit(t, False, 0.1 * i, i + 1), 0.0, value=v)
              for i, (t, v) in enumerate(zip((parse(csg_grammar, x) for x in texts), values))]
    assert _select(ranked, 3, 0, 0) == ranked[:3]
    assert _select(ranked, 3, 0, 1) == [ranked[0], ranked[1], ranked[3]]  # value ties: the nearer one
    assert _select(ranked, 4, 0, 2) == [ranked[0], ranked[1], ranked[3], ranked[4]]


def test_value_slots_need_a_place_left_for_the_ranking():
    with pytest.raises(InputError, match="value_slots=4 .*beam_width=4"):
        SearchConfig().with_overrides("beam", value_slots=4)


def test_a_kicked_restart_starts_near_the_best_program_found(models, monkeypatch):
    import treediff.engine.search.beam as beam
    from treediff.engine.trees.noise import path_length

    d, bundle, _ = models
    sigma = bundle.config.sigma_small
    kicked: list[tuple[object, list[object]]] = []
    original = beam._kicked

    def spy(renderer, rng, sigma, width, kick):
        out = original(renderer, rng, sigma, width, kick)
        kicked.append((renderer.best.tree, out))
        return out

    monkeypatch.setattr(beam, "_kicked", spy)
    target = render(d, d.test_targets(1, 83)[0])
    config = SearchConfig().with_overrides("beam", patience=1, restart="kick", kick=1)
    ex = d.make_executor("cpu")
    res = solve(d, target, "beam", budget=200, seed=3, bundle=bundle, executor=ex, use_goal=False, config=config)
    assert len(kicked) > 1 and len(set(ex.executed)) == res.renderer_calls <= 200
    for best, programs in kicked:
        assert len(programs) == config.beam.beam_width
        # one random subtree mutation away: a single edit of at most sigma_small primitives leads back
        assert all(p != best and path_length(p, best, d.grammar, sigma) == 1 for p in programs)


def test_per_position_beams_decode_several_replacements_at_each_sampled_position(models, monkeypatch):
    import treediff.engine.models.inference as inference

    d, bundle, _ = models
    seen: list[int] = []
    original = inference.propose_edits

    def spy(*args, **kwargs):
        seen.append(kwargs["per_position"])
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "propose_edits", spy)
    target = render(d, d.test_targets(1, 83)[0])
    config = SearchConfig().with_overrides("beam", per_position=4, expansions=8)
    res = solve(d, target, "beam", budget=120, seed=3, bundle=bundle, use_goal=False, config=config)
    assert seen and set(seen) == {4} and res.renderer_calls <= 120


def test_value_slots_score_candidates_with_the_value_network_even_when_ranking_by_distance(models, monkeypatch):
    import treediff.engine.models.inference as inference

    d, bundle, _ = models
    calls: list[int] = []
    original = inference.predict_values

    def spy(*args, **kwargs):
        calls.append(len(args[4]))
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "predict_values", spy)
    target = render(d, d.test_targets(1, 83)[0])
    plain = solve(d, target, "beam", budget=120, seed=3, bundle=bundle, use_goal=False)
    assert not calls  # mix 1 ranks by distance alone: no value-network batch
    config = SearchConfig().with_overrides("beam", value_slots=1)
    res = solve(d, target, "beam", budget=120, seed=3, bundle=bundle, use_goal=False, config=config)
    assert calls and res.renderer_calls <= 120 and plain.renderer_calls <= 120


def test_ar_start_programs_are_all_samples_best_first_and_every_sample_is_counted(models):
    import torch

    from treediff.engine.search.baselines import ar_programs
    from treediff.engine.search.budget import BudgetedExecutor

    d, _, ar = models
    target = render(d, d.test_targets(1, 84)[0])
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=1000)
    ranked = ar_programs(renderer, ar, 40, torch.Generator().manual_seed(0))
    visits = sorted(renderer.visits.values(), key=lambda v: (not v.solved, v.distance, v.call))
    assert renderer.calls == len(visits) > 3  # every distinct sample was executed
    assert ranked == [v.tree for v in visits]  # best first
    again = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=1000)
    assert ar_programs(again, ar, 40, torch.Generator().manual_seed(0)) == ranked  # seeded


def test_ar_programs_likely_first_execute_the_samples_in_falling_log_probability(models, monkeypatch):
    import torch

    import treediff.engine.models.inference as inference
    from treediff.engine.search.baselines import ar_programs
    from treediff.engine.search.budget import BudgetedExecutor

    d, _, ar = models
    target = render(d, d.test_targets(1, 84)[0])
    drawn: dict = {}
    original = inference.sample_programs

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        for tree, logprob in out[0]:
            drawn.setdefault(tree, float(logprob))
        return out

    monkeypatch.setattr(inference, "sample_programs", spy)

    ranked: list[list] = []

    def executed(likely_first):
        drawn.clear()
        renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=1000)
        ranked.append(ar_programs(renderer, ar, 40, torch.Generator().manual_seed(0), likely_first=likely_first))
        return [v.tree for v in sorted(renderer.visits.values(), key=lambda v: v.call)], dict(drawn)

    likely, logprobs = executed(True)
    assert len(likely) > 3 and [logprobs[t] for t in likely] == sorted(logprobs.values(), reverse=True)
    sampled, _ = executed(False)
    assert set(sampled) == set(likely) and sampled != likely  # the same programs, in sampling order
    assert ranked[0] == ranked[1]  # ranked the same way: the search goes on from the same starts


def test_ar_programs_with_a_pool_run_only_the_voted_samples(models, monkeypatch):
    import torch

    import treediff.engine.models.inference as inference
    from treediff.engine.search.baselines import ar_programs
    from treediff.engine.search.budget import BudgetedExecutor
    from treediff.engine.search.starts import skeleton_vote

    d, _, ar = models
    target = render(d, d.test_targets(1, 84)[0])
    draws: list = []
    original = inference.sample_programs

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        draws.append(out[0])
        return out

    monkeypatch.setattr(inference, "sample_programs", spy)
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=1000)
    ranked = ar_programs(renderer, ar, 6, torch.Generator().manual_seed(0), pool=60)
    assert len(draws) == 1 and len(draws[0]) == 60  # the pool is drawn, not executed
    voted = [tree for tree, _ in skeleton_vote(draws[0], 6)]
    assert renderer.calls == len(voted) == 6 and set(renderer.visits) == set(voted) == set(ranked)


def test_ar_programs_sample_at_the_given_temperature(models):
    import torch

    from treediff.engine.search.baselines import ar_programs
    from treediff.engine.search.budget import BudgetedExecutor

    d, _, ar = models
    target = render(d, d.test_targets(1, 84)[0])

    def distinct(temperature):
        renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=1000)
        return len(ar_programs(renderer, ar, 40, torch.Generator().manual_seed(0), temperature))

    assert distinct(0.05) < distinct(1.0)  # nearly greedy samples repeat one another


def test_ar_samples_are_executed_within_the_budget(models):
    d, bundle, ar = models
    target = render(d, d.test_targets(1, 85)[0])
    ex = d.make_executor("cpu")
    res = solve(d, target, "beam", budget=7, seed=1, bundle=bundle, ar_bundle=ar, executor=ex, use_goal=False,
                config=SearchConfig(start="ar", ar_samples=50))
    assert len(set(ex.executed)) == res.renderer_calls == 7


def test_a_search_from_ar_samples_goes_on_past_the_samples(models):
    d, bundle, ar = models
    target = render(d, d.test_targets(1, 86)[0])
    for method in ("beam", "rollout"):
        res = solve(d, target, method, budget=120, seed=1, bundle=bundle, ar_bundle=ar, use_goal=False,
                    config=SearchConfig(start="ar", ar_samples=20))
        assert res.renderer_calls == 120, method  # the AR samples are run first, then the search edits the best
        assert res.counts["edits_proposed"] > 0, method


def test_restart_next_cycles_through_the_seed_programs_in_turns_of_the_beam_width():
    import random

    from treediff.engine.search.beam import _next_seeds
    from treediff.engine.trees.derivation import sample_tree

    d = make_domain()
    rng = random.Random(0)
    seeds = list(dict.fromkeys(sample_tree(d.grammar, rng, 1, 3) for _ in range(40)))[:5]
    assert len(seeds) == 5
    assert _next_seeds(seeds, 1, 2) == seeds[2:4]
    assert _next_seeds(seeds, 2, 2) == [seeds[4], seeds[0]]  # wraps around
    assert _next_seeds(seeds, 7, 2) == seeds[4:] + seeds[:1]
    assert _next_seeds(seeds[:1], 3, 4) == seeds[:1]
    assert _next_seeds("minimal", 3, 4) == "minimal" and _next_seeds([], 1, 4) == "random"


def test_a_stuck_beam_with_restart_next_starts_again_from_unused_seeds(models, monkeypatch):
    import treediff.engine.search.beam as beam

    d, bundle, _ = models
    asked: list[object] = []
    original = beam.start_programs

    def spy(domain, start, count, rng):
        asked.append(list(start) if not isinstance(start, str) else start)
        return original(domain, start, count, rng)

    monkeypatch.setattr(beam, "start_programs", spy)
    target = render(d, d.test_targets(1, 87)[0])
    seeds = [s for _, s in easy_cases(d, 12)]
    seeds = list(dict.fromkeys(seeds))
    config = SearchConfig().with_overrides("beam", patience=1, restart="next", beam_width=2)
    solve(d, target, "beam", budget=300, seed=3, bundle=bundle, use_goal=False, config=config, seeds=seeds)
    assert len(asked) > 2
    assert asked[1] == seeds[2:4] and asked[2] == seeds[4:6]


def test_beam_ar_edits_ask_the_ar_model_for_subtree_rewrites_within_the_budget(models, monkeypatch):
    import treediff.engine.models.inference as inference

    d, bundle, ar = models
    asked: list[int] = []
    offered: set = set()
    original = inference.infill_edits

    def spy(*args, **kwargs):
        asked.append(args[4])
        out = original(*args, **kwargs)
        offered.update((parent, p.edit) for parent, row in zip(args[3], out) for p in row)
        return out

    monkeypatch.setattr(inference, "infill_edits", spy)
    target = render(d, d.test_targets(1, 85)[0])
    config = SearchConfig().with_overrides("beam", ar_edits=6)
    res = solve(d, target, "beam", budget=150, seed=2, bundle=bundle, ar_bundle=ar, use_goal=False, config=config)
    assert asked and all(n >= 2 for n in asked) and res.renderer_calls <= 150
    assert res.lineage is not None
    assert any(res.lineage.parents.get(edit.apply(parent)) == (parent, edit) for parent, edit in offered)
    with pytest.raises(CheckpointError, match="autoregressive"):
        solve(d, target, "beam", budget=50, seed=2, bundle=bundle, config=config)
    import random

    import torch

    from treediff.engine.search.beam import beam_search
    from treediff.engine.search.budget import BudgetedExecutor

    renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=50)
    with pytest.raises(ValueError, match="ar_edits 6 needs an autoregressive model"):
        beam_search(renderer, bundle, torch.Generator(), random.Random(0), ar_edits=6)
    assert renderer.calls == 0  # refused before any program is executed


@pytest.mark.parametrize("flags, expected", [({}, (0.7, "subtree")),
                                             ({"ar_edit_temperature": 1.3, "ar_rewrite": "suffix"}, (1.3, "suffix"))])
def test_beam_ar_rewrites_take_their_temperature_and_mode_from_the_config(models, monkeypatch, flags, expected):
    import treediff.engine.models.inference as inference

    d, bundle, ar = models
    seen: set = set()
    original = inference.infill_edits

    def spy(*args, **kwargs):
        seen.add((args[6], args[7]))
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "infill_edits", spy)
    config = SearchConfig().with_overrides("beam", ar_edits=4, temperature=0.7, **flags)
    solve(d, render(d, d.test_targets(1, 86)[0]), "beam", budget=120, seed=3, bundle=bundle, ar_bundle=ar,
          use_goal=False, config=config)
    assert seen == {expected}


def test_models_needed_adds_the_ar_model_for_ar_starts_and_ar_edits():
    from treediff.engine.commands.searchargs import models_needed

    plain = SearchConfig()
    assert models_needed(["beam"], plain) == ["beam"]
    assert models_needed(["beam"], plain.with_overrides("", start="ar")) == ["beam", "ar"]
    assert models_needed(["beam"], plain.with_overrides("beam", ar_edits=4)) == ["beam", "ar"]
    assert models_needed(["mutation"], plain.with_overrides("beam", ar_edits=4)) == ["mutation"]
    assert models_needed(["beam"], plain.with_overrides("beam", local_order="ar")) == ["beam", "ar"]
    assert models_needed(["beam"], plain.with_overrides("beam", ar_filter=2)) == ["beam", "ar"]
    assert models_needed(["beam"], plain.with_overrides("beam", round_order="read")) == ["beam", "ar"]


def _surprise_setup(models, monkeypatch, node: int):
    """A renderer on one target and a stand-in AR reading that is sure of every token except those of the
    ``node``-th node of each program (prefix order), which it finds unlikely."""
    import treediff.engine.models.likelihood as likelihood
    from treediff.engine.search.budget import BudgetedExecutor

    d, _, ar = models

    def reading(model, vocab, target, programs):
        rows = []
        for program in programs:
            row = [0.0] * len(vocab.encode(program))
            for k in vocab.node_tokens(program)[node][1]:
                row[k] = -20.0
            rows.append(row)
        return rows

    monkeypatch.setattr(likelihood, "token_logprobs", reading)
    target = render(d, d.test_targets(1, 88)[0])
    return d, ar, BudgetedExecutor(d, d.make_executor("cpu"), target, budget=10)


def test_surprise_sites_go_where_the_ar_model_reads_other_tokens(models, monkeypatch):
    import torch

    from treediff.engine.search.reading import surprise_sites

    d, ar, renderer = _surprise_setup(models, monkeypatch, node=1)
    trees = [t for t in d.test_targets(20, 89) if len(ar.vocab.node_tokens(t)) >= 3][:3]
    assert trees
    sure = surprise_sites(renderer, ar, trees, 50, torch.Generator().manual_seed(0), floor=0.0)
    assert sure == [[ar.vocab.node_tokens(t)[1][0]] * 50 for t in trees]  # all at the unlikely node
    mixed = surprise_sites(renderer, ar, trees, 400, torch.Generator().manual_seed(0), floor=0.5)
    for tree, sites in zip(trees, mixed):
        paths = [path for path, _ in ar.vocab.node_tokens(tree)]
        share = sites.count(paths[1]) / len(sites)
        assert set(sites) == set(paths)  # the uniform half reaches every node
        assert 0.5 < share < 0.5 + 0.5 / len(paths) + 0.1
    again = surprise_sites(renderer, ar, trees, 400, torch.Generator().manual_seed(0), floor=0.5)
    assert again == mixed and renderer.calls == 0  # seeded; reading costs no renderer calls


def test_beam_surprise_sites_put_the_ar_rewrites_at_the_unlikely_nodes(models, monkeypatch):
    import treediff.engine.models.inference as inference

    d, ar, _ = _surprise_setup(models, monkeypatch, node=0)
    bundle = models[1]
    sites: list = []
    original = inference.infill_edits

    def spy(*args, **kwargs):
        sites.append(args[8])
        return original(*args, **kwargs)

    monkeypatch.setattr(inference, "infill_edits", spy)
    target = render(d, d.test_targets(1, 90)[0])
    config = SearchConfig().with_overrides("beam", ar_edits=8, ar_sites="surprise", ar_site_floor=0.0)
    solve(d, target, "beam", budget=120, seed=3, bundle=bundle, ar_bundle=ar, use_goal=False, config=config)
    assert sites and all(row and set(row) == {()} for per_round in sites for row in per_round)  # all at the root


def test_read_mix_is_a_weight_and_needs_the_ar_model():
    assert SearchConfig().with_overrides("beam", read_mix=0.3).beam.uses_ar
    with pytest.raises(InputError, match="read_mix"):
        SearchConfig().with_overrides("beam", read_mix=1.5)


def test_beam_read_mix_needs_an_ar_model(models):
    import random

    import torch

    from treediff.engine.search.beam import beam_search
    from treediff.engine.search.budget import BudgetedExecutor

    d, bundle, _ = models
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), render(d, d.test_targets(1, 92)[0]), budget=50)
    with pytest.raises(ValueError, match="read_mix 0.5 needs an autoregressive model"):
        beam_search(renderer, bundle, torch.Generator(), random.Random(0), read_mix=0.5)
    assert renderer.calls == 0


def test_beam_wrap_fills_need_an_ar_model_and_execute_the_filled_wraps(models, monkeypatch):
    import random

    import torch

    import treediff.engine.search.beam as beam_module
    from treediff.engine.search.budget import BudgetedExecutor

    d, bundle, ar = models
    target = render(d, d.test_targets(1, 92)[0])
    renderer = BudgetedExecutor(d, d.make_executor("cpu"), target, budget=50)
    with pytest.raises(ValueError, match="wrap_fills 2 needs an autoregressive model"):
        beam_module.beam_search(renderer, bundle, torch.Generator(), random.Random(0), wrap_fills=2)
    assert renderer.calls == 0 and SearchConfig().with_overrides("beam", wrap_fills=2).beam.uses_ar
    filled: list = []
    original = beam_module.ar_filler

    def spy(*args):
        fill = original(*args)

        def wrapped(parent, wraps):
            out = fill(parent, wraps)
            filled.extend(c for _, c in out)
            return out
        return wrapped

    monkeypatch.setattr(beam_module, "ar_filler", spy)
    executed: list = []
    monkeypatch.setattr(BudgetedExecutor, "run", lambda self, trees, _run=BudgetedExecutor.run:
                        executed.extend(trees) or _run(self, trees))
    config = SearchConfig().with_overrides("beam", wrap_fills=2)
    solve(d, target, "beam", budget=120, seed=1, bundle=bundle, ar_bundle=ar, use_goal=False, config=config)
    assert filled and set(filled) & set(executed)
