"""The evaluation harness: targets, JSONL records, resume after interruption, sharding, curves and summary."""

from __future__ import annotations

import json

import pytest

from tests.engine.blocks_domain import make_domain, render
from treediff.engine.errors import InputError
from treediff.engine.evaluation.evalreport import solved_curve, summary_markdown, summary_rows, write_outputs
from treediff.engine.evaluation.harness import (
    RESULTS,
    Target,
    completed,
    directory_targets,
    eval_domain,
    evaluate,
    generated_targets,
    load_records,
    method_records,
    pair_seed,
    prepare_output,
    shard,
)
from treediff.engine.files import append_line, read_lines
from treediff.engine.grammar.parse import parse
from treediff.engine.search.config import MutationConfig, SearchConfig

METHODS = ["mutation"]
CONFIG = SearchConfig(mutation=MutationConfig(schedule="hill"))


def run(d, targets, out, resume=False, rank=0, world=1, budget=60):
    prepare_output(out, resume)
    return evaluate(d, targets, METHODS, out, budget=budget, seed=1, resume=resume, rank=rank, world=world,
                    config=CONFIG)


def test_generated_targets_come_from_the_domain_test_set():
    d = make_domain()
    targets = generated_targets(d, 5, 3, d.make_executor("cpu"))
    assert [t.name for t in targets] == [f"t{i:04d}" for i in range(5)]
    assert [t.program for t in targets] == d.test_targets(5, 3)
    assert all((t.observation == render(d, t.program)).all() for t in targets)
    d.test_targets = None
    fallback = generated_targets(d, 3, 3, d.make_executor("cpu"))
    assert len(fallback) == 3 and all(1 <= t.program.sigma <= 3 for t in fallback)
    with pytest.raises(InputError, match="--n"):
        generated_targets(d, 0, 3, d.make_executor("cpu"))


def test_directory_targets_read_pngs_and_programs(tmp_path):
    d = make_domain()
    tree = parse(d.grammar, "(+ (box 0 0 1) (box 2 2 2))")
    d.save_observation(render(d, tree), tmp_path / "a.png")
    (tmp_path / "b.txt").write_text(str(tree) + "\n")
    (tmp_path / "notes.md").write_text("ignored")
    targets = directory_targets(d, tmp_path, d.make_executor("cpu"))
    assert [t.name for t in targets] == ["a", "b"]
    assert targets[0].program is None and targets[1].program == tree
    assert (targets[0].observation == targets[1].observation).all()
    d.save_observation(render(d, tree), tmp_path / "b.png")  # same name as the program: one target
    assert [t.name for t in directory_targets(d, tmp_path, d.make_executor("cpu"))] == ["a", "b"]
    with pytest.raises(InputError, match="does not exist"):
        directory_targets(d, tmp_path / "missing", d.make_executor("cpu"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .png or .txt"):
        directory_targets(d, tmp_path / "empty", d.make_executor("cpu"))


def test_eval_writes_one_record_per_target_and_method(tmp_path):
    d = make_domain()
    targets = generated_targets(d, 4, 0, d.make_executor("cpu"))
    records = run(d, targets, tmp_path)
    lines = read_lines(tmp_path / RESULTS)
    assert len(lines) == len(records) == 4
    for line, target in zip(lines, targets):
        rec = json.loads(line)
        assert rec["target"] == target.name and rec["method"] == "mutation"
        assert rec["renderer_calls"] <= 60 and rec["budget"] == 60
        assert rec["target_program"] == str(target.program)
        assert (rec["calls_to_solve"] is not None) == rec["solved"]
        if rec["solved"]:
            assert rec["score"] == 0.0
        assert rec["ted"] is not None and rec["ted"] >= 0


def test_interrupted_eval_resumes_without_duplicates(tmp_path):
    d = make_domain()
    targets = generated_targets(d, 5, 0, d.make_executor("cpu"))
    full = {(r["target"], r["program"]) for r in run(d, targets, tmp_path / "full")}
    out = tmp_path / "cut"
    run(d, targets[:2], out)
    with open(out / RESULTS, "a", encoding="utf-8") as fh:
        fh.write('{"target": "t0002", "meth')  # killed mid-line
    with pytest.raises(InputError, match="--resume"):
        run(d, targets, out)
    new = run(d, targets, out, resume=True)
    assert [r["target"] for r in new] == ["t0002", "t0003", "t0004"]
    records = load_records(out)
    assert len(read_lines(out / RESULTS)) == 5 == len(records)
    assert {(r["target"], r["program"]) for r in records} == full  # per-pair seeds: resume changes nothing
    assert run(d, targets, out, resume=True) == []


def test_shards_partition_the_targets_and_share_one_file(tmp_path):
    d = make_domain()
    targets = generated_targets(d, 7, 0, d.make_executor("cpu"))
    assert sorted(t.name for r in range(3) for t in shard(targets, r, 3)) == sorted(t.name for t in targets)
    assert [t.name for t in shard(targets, 1, 3)] == ["t0001", "t0004"]
    prepare_output(tmp_path, False)
    for rank in range(3):
        evaluate(d, targets, METHODS, tmp_path, budget=20, seed=0, rank=rank, world=3, config=CONFIG)
    assert completed(tmp_path) == {(t.name, "mutation") for t in targets}
    with pytest.raises(InputError):
        shard(targets, 3, 3)


def test_pair_seeds_are_stable_and_distinct():
    assert pair_seed(0, "t0001", "beam") == pair_seed(0, "t0001", "beam")
    assert len({pair_seed(0, "t0001", m) for m in ("beam", "rollout", "mutation", "ar")}) == 4
    assert pair_seed(1, "t0001", "beam") != pair_seed(0, "t0001", "beam")


def records(method, calls, budget=100):
    return [{"target": f"t{i}", "method": method, "solved": c is not None, "calls_to_solve": c, "seconds": 1.0,
             "score": 0.0 if c else 0.5, "ted": 0, "budget": budget} for i, c in enumerate(calls)]


def test_solved_curve_counts_targets_solved_within_x_calls():
    recs = records("beam", [5, 5, 20, None])
    xs, ys = solved_curve(recs, "beam", 100)
    assert xs == [0, 5, 20, 100] and ys == [0.0, 0.5, 0.75, 0.75]
    assert solved_curve(recs, "ar", 100) == ([0, 100], [0.0, 0.0])


def test_summary_table_and_plot(tmp_path):
    recs = records("beam", [5, 5, 20, None]) + records("mutation", [50, None, None, None])
    rows = {r["method"]: r for r in summary_rows(recs, ["beam", "mutation"])}
    assert rows["beam"]["solved"] == 0.75 and rows["beam"]["median_calls"] == 5
    assert rows["mutation"]["median_calls"] == 50 and rows["mutation"]["mean_seconds"] == 1.0
    text = summary_markdown(recs, ["beam", "mutation"])
    assert "| beam | 4 | 75.0 | 5 |" in text and "| mutation | 4 | 25.0 | 50 |" in text
    for line in recs:
        append_line(tmp_path / RESULTS, json.dumps(line))
    plot, summary = write_outputs(tmp_path, load_records(tmp_path), ["beam", "mutation"], 100)
    assert plot.read_bytes().startswith(b"\x89PNG") and summary.read_text() == text


def test_targets_without_programs_have_no_ted(tmp_path):
    d = make_domain()
    target = Target("x", render(d, parse(d.grammar, "(box 1 1 1)")))
    (rec,) = run(d, [target], tmp_path, budget=300)
    assert rec["ted"] is None and rec["target_program"] is None and rec["solved"]


def test_method_records_read_one_method_of_a_finished_eval_and_name_a_missing_file(tmp_path):
    rows = [{"target": "t0", "method": "beam", "solved": True}, {"target": "t0", "method": "ar", "solved": False},
            {"target": "t1", "method": "beam", "solved": False}]
    (tmp_path / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert method_records(tmp_path, "beam") == [rows[0], rows[2]]
    assert method_records(tmp_path, "mutation") == []
    with pytest.raises(InputError, match="missing.results.jsonl not found; expected the output folder"):
        method_records(tmp_path / "missing", "beam")


def test_eval_domain_reads_the_settings_file_and_names_it_when_it_is_bad(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps({"domain": "csg2d", "budget": 5}))
    assert eval_domain(tmp_path) == "csg2d"
    (tmp_path / "eval.json").write_text("{}")
    with pytest.raises(InputError, match="eval.json: KeyError.*expected the eval.json that `treediff eval` writes"):
        eval_domain(tmp_path)
    with pytest.raises(InputError, match="missing.eval.json"):
        eval_domain(tmp_path / "missing")
