"""Grammar compilation: structure, sizes, and located errors for every kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from treediff.engine.errors import GrammarError, InputError
from treediff.engine.grammar.grammar import Grammar

BAD = Path(__file__).parent.parent / "grammars" / "bad"


def expectations(path: Path) -> list[tuple[int, str]]:
    """The ``# expect LINE: text`` comments at the top of a bad grammar file."""
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"# expect (\d+): (.*)", line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def test_csg_structure(csg_grammar: Grammar) -> None:
    g = csg_grammar
    assert g.start == "shape"
    assert [p.name for p in g.rules["shape"]] == ["circle", "quad", "union", "difference"]
    circle = g.by_name["circle"]
    assert circle.primitive and [s.field for s in circle.slots] == ["r", "x", "y"]
    assert circle.slots[0].terminal is not None and circle.slots[0].terminal.values == tuple(range(16))
    assert g.by_name["union"].child_nonterminals == ("shape", "shape")
    assert g.min_sigma == {"shape": 1}
    assert g.prod_min_sigma[g.by_name["union"].index] == 2


def test_lists_sizes() -> None:
    g = Grammar.load(BAD.parent / "lists.yaml")
    assert g.min_sigma == {"list": 0, "rest": 0, "item": 0}
    assert g.min_height == {"list": 1, "rest": 1, "item": 1}
    assert g.prod_min_height[g.by_name["nested"].index] == 2
    assert g.prod_min_height[g.by_name["items"].index] == 2
    assert g.prod_min_nodes[g.by_name["items"].index] == 3


def test_terminal_types() -> None:
    g = Grammar.load(BAD.parent / "logo.yaml")
    turn, color, flag = g.terminals["turn"], g.terminals["color"], g.terminals["flag"]
    assert turn.values == (-3, -2, -1, 0, 1, 2, 3) and turn.index(-3) == 0
    assert color.values == ("red", "green", "blue", "none") and color.describe().startswith("one of")
    assert flag.values == (False, True) and flag.text(True) == "true"
    assert not turn.contains(True) and not flag.contains(1) and not color.contains("pink")


def test_fingerprint_ignores_path_but_not_content(tmp_path: Path) -> None:
    text = (BAD.parent / "csg.yaml").read_text()
    a = Grammar.from_text(text, "a.yaml")
    b = Grammar.from_text(text, "b.yaml")
    c = Grammar.from_text(text.replace("max: 15", "max: 14"), "a.yaml")
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")) + sorted((BAD.parent / "bad_external").glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_bad_grammars_report_every_error_at_its_line(path: Path) -> None:
    from treediff.engine.grammar.validation import validate_file

    expected = expectations(path)
    assert expected, f"{path} has no '# expect' lines"
    problems = validate_file(path)
    for line, text in expected:
        hits = [d for d in problems if d.line == line and text in d.message]
        assert hits, f"expected {text!r} at line {line}; got:\n" + "\n".join(map(str, problems))
    assert len(problems) <= len(expected) + 1, "\n".join(map(str, problems))
    for d in problems:
        assert d.path == str(path) and d.col >= 1


def test_grammar_error_lists_all_diagnostics() -> None:
    with pytest.raises(GrammarError) as info:
        Grammar.load(BAD / "types_and_keys.yaml")
    assert len(info.value.diagnostics) == 5
    assert str(info.value).count("types_and_keys.yaml:") == 5


def test_unreadable_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        Grammar.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("name: x\nstart: s\nrules: {s: [{name: a, form: ''}]}\n", "empty form"),
    ("name: x\nstart: s\nrules: {s: []}\n", "at least 1"),
    ("name: x\nstart: s\nrules: {s: [{name: a, form: a, weight: 0}]}\n", "weight 0"),
    ("name: 1x\nstart: s\nrules: {s: [{name: a, form: a}]}\n", "should match pattern"),
    ("name: x\nstart: s\nterminals: {t: {type: float}}\nrules: {s: [{name: a, form: a}]}\n", "type"),
])
def test_single_mistakes(text: str, fragment: str) -> None:
    with pytest.raises(GrammarError) as info:
        Grammar.from_text(text, "g.yaml")
    assert fragment in str(info.value)
    assert all(d.path == "g.yaml" for d in info.value.diagnostics)
