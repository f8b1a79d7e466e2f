"""bench/field_refit.py: beam search from each target's own program with one field scrambled."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.benchkit import bench_script
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse


def test_scramble_redraws_exactly_the_leaves_of_the_field(csg_grammar: Grammar) -> None:
    refit = bench_script("field_refit")
    tree = parse(csg_grammar, "(+ (Circle 3 8 8) (- (Quad 8 8 12 8 0) (Circle 2 4 4)))")
    assert refit.field_leaves(tree, "x") == [((0,), 1), ((1, 0), 0), ((1, 1), 1)]
    assert refit.field_leaves(tree, "a") == [((1, 0), 4)] and refit.field_leaves(tree, "nothing") == []
    changed = set()
    for seed in range(20):
        out = refit.scramble(tree, "r", random.Random(seed))
        kept = [c for c in (out.children[0], out.children[1].children[1])]
        assert [k.children[1:] for k in kept] == [(8, 8), (4, 4)]  # only the radii move
        assert out.children[1].children[0] == tree.children[1].children[0]
        changed.add((kept[0].children[0], kept[1].children[0]))
    assert len(changed) > 5  # drawn, not fixed
    assert "r" in refit.field_names(csg_grammar) and "left" not in refit.field_names(csg_grammar)


def test_main_runs_the_shipped_search_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "refit.json"
    refit = bench_script("field_refit")
    assert refit.main(["csg2d", "--field", "x", "-n", "2", "--budget", "30", "--options", '{"line_steps": 2}',
                       "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["field"] == "x" and saved["options"] == {"line_steps": 2} and len(saved["rows"]) <= 2
    assert all(r["leaves"] >= 1 and (r["solved"] == (r["calls_at_solve"] is not None)) for r in saved["rows"])
    assert "within 30 calls" in capsys.readouterr().out
    assert refit.main(["csg2d", "--field", "nosuch", "--out", str(out)]) == 2
    assert "'nosuch' is not a leaf" in capsys.readouterr().err
    assert refit.main(["csg2d", "--field", "x", "--options", '{"line_steps": -1}', "--out", str(out)]) == 2
    assert "line_steps" in capsys.readouterr().err
