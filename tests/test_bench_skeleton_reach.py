"""bench/skeleton_reach.py: how often AR samples hold the target's skeleton, by target size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchkit import bench_script
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse


def test_first_hits_finds_the_first_sample_of_the_skeleton_and_the_first_goal(csg_grammar: Grammar) -> None:
    reach = bench_script("skeleton_reach")
    target = parse(csg_grammar, "(- (Quad 8 8 12 8 0) (Circle 3 8 8))")
    samples = [parse(csg_grammar, text) for text in
               ("(Circle 3 8 8)", "(+ (Quad 8 8 12 8 0) (Circle 3 8 8))", "(- (Quad 1 2 3 4 5) (Circle 1 1 1))",
                "(- (Quad 8 8 12 8 0) (Circle 3 8 8))")]
    assert reach.first_hits(samples, target, [False, False, False, True]) == (3, 4)
    assert reach.first_hits(samples[:2], target, [False, False]) == (None, None)


def test_size_table_counts_hits_within_each_sample_count_and_splits_the_search() -> None:
    reach = bench_script("skeleton_reach")
    rows = [{"target": "a", "primitives": 2, "skeleton_at": 1, "goal_at": 5},
            {"target": "b", "primitives": 2, "skeleton_at": 9, "goal_at": None},
            {"target": "c", "primitives": 3, "skeleton_at": None, "goal_at": None}]
    table = reach.size_table(rows, [4, 16], {"a": True, "b": False, "c": True})
    assert [t["primitives"] for t in table] == ["2", "3", "all"]
    two, three, every = table
    assert (two["skeleton@4"], two["skeleton@16"], two["goal@4"], two["goal@16"]) == (1, 2, 0, 1)
    assert (two["search_solved_held"], two["search_solved_rest"]) == ("1/2", "0/0")
    assert (three["search_solved_held"], three["search_solved_rest"]) == ("0/0", "1/1")
    assert every["targets"] == 3 and every["skeleton@16"] == 2
    assert "search_solved_held" not in reach.size_table(rows, [4], None)[0]
    assert "voted_skeleton@4" not in two
    voted = [dict(r, voted_skeleton_at=a, voted_goal_at=b) for r, (a, b) in zip(rows, [(2, None), (3, 20), (None, 1)])]
    line = reach.size_table(voted, [4, 16], None)[-1]
    assert (line["voted_skeleton@4"], line["voted_goal@4"], line["voted_goal@16"]) == (2, 1, 1)


def test_main_samples_the_shipped_ar_model_and_reports_bad_input(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    reach = bench_script("skeleton_reach")
    out = tmp_path / "reach.json"
    assert reach.main(["csg2d", "-n", "2", "--samples", "4,2", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["samples"] == [2, 4] and len(saved["rows"]) == 2 and saved["sizes"][-1]["targets"] == 2
    assert all(r["skeleton_at"] is None or 1 <= r["skeleton_at"] <= 4 for r in saved["rows"])
    assert "skeleton@4" in capsys.readouterr().out
    assert reach.main(["csg2d", "-n", "2", "--samples", "4", "--vote", "--out", str(out)]) == 0
    voted = json.loads(out.read_text())
    assert voted["vote"] and all(r["voted_skeleton_at"] is None or r["voted_skeleton_at"] <= 4 for r in voted["rows"])
    # a skeleton among the draws is among the voted programs too, within the distinct ones
    assert all((r["skeleton_at"] is None) == (r["voted_skeleton_at"] is None) for r in voted["rows"])
    assert "voted_skeleton@4" in voted["sizes"][-1]
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert reach.main(["csg2d", "-n", "2", "--results", str(bad), "--out", str(out)]) == 2
    assert "--results" in capsys.readouterr().err
    assert reach.main(["csg2d", "--samples", "0", "--out", str(out)]) == 2
    assert "positive counts" in capsys.readouterr().err
