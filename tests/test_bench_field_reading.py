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
    readings = [("a.x", -0.5, True, 1), ("a.x", -1.5, False, 3), ("<s>", -0.1, True, None), ("a.x", -1.0, True, 2)]
    table = bench_script("field_reading").field_table(readings, {"a.x": 2.0, "<s>": 0.7})
    assert [r["field"] for r in table] == ["<s>", "a.x"]
    s, x = table
    assert (s["tokens"], s["accuracy"], s["nll"], s["chance_nll"], s["equal"]) == (1, 1.0, pytest.approx(0.1), 0.7,
                                                                                  None)
    assert (x["tokens"], x["accuracy"], x["nll"], x["equal"]) == (3, pytest.approx(2 / 3), pytest.approx(1.0), 2.0)


def test_equal_values_count_the_values_of_each_leaf_that_execute_alike(csg_grammar: Grammar) -> None:
    import torch

    from treediff.engine.grammar.parse import parse
    from treediff.engine.trees.tokens import Vocab

    tree = parse(csg_grammar, "(+ (Circle 3 8 8) (Quad 8 8 12 8 0))")

    def execute(trees: list) -> torch.Tensor:  # a stand-in execution: what a program "shows" is its radius only
        return torch.tensor([[float(t.children[0].children[0] > 1)] for t in trees])

    equal = bench_script("field_reading").equal_values(tree, Vocab(csg_grammar), execute, lambda o: o[:, 0] == 1.0)
    assert equal == [None, None, 14, 16, 16, None, 16, 16, 16, 16, 8]  # r > 1: 14 of 16 radii; the rest free


def test_main_reads_generated_targets_with_the_shipped_ar_model(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fields.json"
    assert bench_script("field_reading").main(["csg2d", "-n", "6", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    fields = {r["field"]: r for r in saved["fields"]}
    assert "<shape>" in fields and saved["targets"] == 6 and saved["seed"] == 1
    assert all(0 <= r["accuracy"] <= 1 and r["nll"] > 0 for r in saved["fields"])
    assert fields["<shape>"]["equal"] is None and fields["circle.r"]["equal"] >= 1
    assert "<shape>" in capsys.readouterr().out
    assert bench_script("field_reading").main(["nosuchdomain", "--out", str(out)]) == 2
    assert "nosuchdomain" in capsys.readouterr().err
