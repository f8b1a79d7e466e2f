"""The TinySVG colour table: CSS named colours, in the grammar's word order, `none` unpainted."""

from __future__ import annotations

from treediff.engine.grammar.grammar import Grammar
from treediff.plugins.tinysvg.palette import COLORS, WORDS, color_index, rgb_table


def test_words_follow_the_grammar(svg_grammar: Grammar) -> None:
    assert WORDS == svg_grammar.terminals["color"].values
    assert [color_index(w) for w in WORDS] == list(range(len(WORDS)))


def test_css_values() -> None:
    assert COLORS["red"] == (255, 0, 0) and COLORS["green"] == (0, 128, 0) and COLORS["blue"] == (0, 0, 255)
    assert COLORS["yellow"] == (255, 255, 0) and COLORS["purple"] == (128, 0, 128)
    assert COLORS["orange"] == (255, 165, 0) and COLORS["black"] == (0, 0, 0)
    assert COLORS["white"] == (255, 255, 255) and COLORS["none"] is None


def test_rgb_table_marks_paint() -> None:
    table = rgb_table()
    assert table[color_index("none")][3] == 0.0
    assert table[color_index("orange")] == (1.0, 165 / 255, 0.0, 1.0)
    assert all(row[3] == 1.0 for word, row in zip(WORDS, table) if word != "none")
