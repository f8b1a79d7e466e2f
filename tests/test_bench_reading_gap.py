"""bench/reading_gap.py: the AR model's reading of each eval target against the program the search found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchkit import bench_script

ONE = "(Circle 3 8 8)"
TWO = "(+ (Circle 3 8 8) (Quad 8 8 12 8 0))"
THREE = "(+ (Circle 3 8 8) (+ (Quad 8 8 12 8 0) (Circle 2 4 4)))"


def _row(name: str, target: str, program: str, solved: bool, method: str = "beam") -> dict:
    return {"method": method, "target": name, "target_program": target, "program": program, "solved": solved,
            "score": 0.0 if solved else 0.2}


def test_gaps_compare_the_target_with_the_program_found_and_summary_counts_the_unsolved() -> None:
    reads = {ONE: -5.0, TWO: -9.0, THREE: -20.0}
    asked: list[str] = []

    def read(target: str, programs: list[str]) -> list[float]:
        asked.append(target)
        return [reads[p] for p in programs]

    rows = [_row("a", TWO, TWO, True), _row("b", TWO, THREE, False), _row("c", THREE, ONE, False)]
    table = bench_script("reading_gap").gaps(rows, read)
    assert asked == [TWO, TWO, THREE]  # each row read against its own target
    assert [(r["target_logprob"], r["found_logprob"], r["target_reads_better"]) for r in table] == \
        [(-9.0, -9.0, False), (-9.0, -20.0, True), (-20.0, -5.0, False)]
    assert bench_script("reading_gap").summary(table) == {"rows": 3, "unsolved": 2, "unsolved_target_reads_better": 1,
                                     "mean_gap_where_better": 11.0}
    assert bench_script("reading_gap").summary(table[:1])["mean_gap_where_better"] is None


def test_main_reads_with_the_shipped_ar_model_and_writes_json(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_row("t0", TWO, TWO, True), _row("t1", THREE, ONE, False), _row("t2", TWO, ONE, False, "mutation")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "eval.json").write_text(json.dumps({"domain": "csg2d"}))
    assert bench_script("reading_gap").main([str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "reading-gap-beam.json").read_text())
    first, second = saved["rows"]
    assert first["target_logprob"] == pytest.approx(first["found_logprob"])  # the same program read twice
    assert all(r["target_logprob"] < 0 and r["found_logprob"] < 0 for r in saved["rows"])
    assert saved["summary"]["unsolved"] == 1 and "model_ar" in saved["ar"]
    assert "reads the target better" in capsys.readouterr().out
    assert bench_script("reading_gap").main([str(tmp_path / "missing")]) == 2
    assert "results.jsonl not found" in capsys.readouterr().err
    (tmp_path / "eval.json").write_text("{}")
    assert bench_script("reading_gap").main([str(tmp_path)]) == 2
    assert "eval.json" in capsys.readouterr().err
