"""bench/failures.py: eval rows grouped by target size, unsolved ends measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchkit import bench_script

ONE = "(Circle 3 8 8)"
TWO = "(+ (Circle 3 8 8) (Quad 8 8 12 8 0))"
THREE = "(+ (Circle 3 8 8) (+ (Quad 8 8 12 8 0) (Circle 2 4 4)))"


def _row(target: str, program: str, solved: bool, score: float, ted: int, method: str = "beam",
         name: str = "t0") -> dict:
    return {"method": method, "target": name, "target_program": target, "program": program, "solved": solved,
            "score": score, "ted": ted}


def test_by_size_groups_by_target_primitives_and_measures_only_unsolved_ends() -> None:
    from treediff.engine.domains.registry import load_registry

    grammar = load_registry().domain("csg2d").grammar
    rows = [_row(TWO, TWO, True, 0.0, 0), _row(TWO, ONE, False, 0.2, 4), _row(THREE, ONE, False, 0.4, 9),
            _row(THREE, TWO, False, 0.2, 5)]
    table = bench_script("failures").by_size(rows, grammar)
    assert list(table) == [2, 3]
    assert table[2] == {"targets": 2, "solved": 1, "unsolved_end_size": 1.0, "unsolved_score": 0.2,
                        "unsolved_ted": 4.0}
    assert table[3]["solved"] == 0 and table[3]["unsolved_end_size"] == 1.5
    assert table[3]["unsolved_score"] == pytest.approx(0.3) and table[3]["unsolved_ted"] == 7.0


def test_main_reads_one_method_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_row(TWO, TWO, True, 0.0, 0), _row(TWO, ONE, False, 0.3, 4, method="mutation")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "eval.json").write_text(json.dumps({"domain": "csg2d"}))
    assert bench_script("failures").main([str(tmp_path), "--method", "mutation"]) == 0
    saved = json.loads((tmp_path / "failures-mutation.json").read_text())
    assert saved["by_target_size"] == {"2": {"targets": 1, "solved": 0, "unsolved_end_size": 1.0,
                                             "unsolved_score": 0.3, "unsolved_ted": 4.0}}
    assert bench_script("failures").main([str(tmp_path / "missing")]) == 2
    assert "results.jsonl not found" in capsys.readouterr().err
    (tmp_path / "eval.json").unlink()
    assert bench_script("failures").main([str(tmp_path)]) == 2
    assert "eval.json" in capsys.readouterr().err
