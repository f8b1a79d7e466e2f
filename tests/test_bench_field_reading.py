"""bench/field_reading.py: the AR model's teacher-forced accuracy on each field of the grammar."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.benchkit import bench_script
from treediff.engine.grammar.grammar import Grammar


def test_chance_is_uniform_over_each_fields_choices(csg_grammar: Grammar) -> None:
    chance = bench_script("field_reading").chance_nll(csg_grammar)
    assert chance["<shape>"] == pytest.approx(math.log(4))  # circle, quad, union, difference
    assert chance["circle.r"] == pytest.approx(math.log(16)) and chance["quad.a"] == pytest.approx(math.log(8))
    assert set(chance) == {"<shape>", "circle.r", "circle.x", "circle.y", "quad.x", "quad.y", "quad.w", "quad.h",
                           "quad.a"}


def test_field_table_groups_readings_by_field() -> None:
    readings = [("a.x", -0.5, True), ("a.x", -1.5, False), ("<s>", -0.1, True), ("a.x", -1.0, True)]
    table = bench_script("field_reading").field_table(readings, {"a.x": 2.0, "<s>": 0.7})
    assert [r["field"] for r in table] == ["<s>", "a.x"]
    s, x = table
    assert (s["tokens"], s["accuracy"], s["nll"], s["chance_nll"]) == (1, 1.0, pytest.approx(0.1), 0.7)
    assert (x["tokens"], x["accuracy"], x["nll"]) == (3, pytest.approx(2 / 3), pytest.approx(1.0))


def test_main_reads_generated_targets_with_the_shipped_ar_model(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fields.json"
    assert bench_script("field_reading").main(["csg2d", "-n", "6", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    fields = {r["field"]: r for r in saved["fields"]}
    assert "<shape>" in fields and saved["targets"] == 6 and saved["seed"] == 1
    assert all(0 <= r["accuracy"] <= 1 and r["nll"] > 0 for r in saved["fields"])
    assert "<shape>" in capsys.readouterr().out
    assert bench_script("field_reading").main(["nosuchdomain", "--out", str(out)]) == 2
    assert "nosuchdomain" in capsys.readouterr().err
