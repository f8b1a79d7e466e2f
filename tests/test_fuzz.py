"""Hypothesis battery (issue 10): fuzzed grammar YAML through `treediff validate` and fuzzed program text
through `treediff render csg2d` and the parser. Whatever the input, the answer is an exit code (validate:
0, 1 or 2; render: 0 or 2) with located lines or a one-paragraph error, never a traceback."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from treediff.engine import cli
from treediff.engine.errors import TreediffError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse

ROOT = Path(__file__).resolve().parents[1]
GRAMMARS = sorted((ROOT / "tests" / "grammars").rglob("*.yaml")) + [ROOT / "plugins" / "csg2d" / "grammar.yaml"]
PROGRAMS = [p.read_text().strip() for p in sorted((ROOT / "plugins" / "csg2d" / "targets").glob("*.txt"))]
EXAMPLES = int(os.environ.get("TREEDIFF_FUZZ_EXAMPLES", "0"))  # set to search longer, with fresh random inputs
FUZZ = settings(max_examples=EXAMPLES or 100, deadline=None, derandomize=not EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GOOD = [p for p in GRAMMARS if p.parent.name != "bad" and p.parent.name != "bad_external"]
LOADABLE = {p for p in GRAMMARS if "syntax" not in p.name}  # the others are not YAML to begin with
LOCATED = re.compile(r"^(.+):\d+:\d+: \S|^    hint: ")  # a diagnostic line, or its hint
WRONG_VALUES = [None, 0, -1, 2.5, True, "", "x", "{a:expr}", [], [1, "a"], {}, {"k": None}, "\x00\x85", 10**30]


# -- grammar YAML ------------------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a loaded YAML document."""
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out += _paths(v, (*prefix, k))
    return out


def _structural(data: st.DataObject, doc: Any) -> str:
    """Delete, rename or retype one key/item of the document, or duplicate one key's line."""
    paths = _paths(doc)
    if not isinstance(doc, dict) or not paths:
        return yaml.safe_dump(doc)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            op = data.draw(st.sampled_from(["delete", "rename", "retype"]), label="op")
            if op == "delete":
                del parent[key]
            elif op == "rename" and isinstance(parent, dict):
                name = data.draw(st.sampled_from(["nme", "rules", "form", "type", "", "1", "start "]), label="name")
                parent[name] = parent.pop(key)
            else:
                parent[key] = data.draw(st.sampled_from(WRONG_VALUES), label="value")
        except (KeyError, IndexError, TypeError):  # an earlier edit removed or replaced this path
            continue
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _textual(data: st.DataObject, text: str) -> bytes:
    """Garbage bytes, cut text, or deleted/duplicated/swapped lines."""
    raw = text.encode()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        op = data.draw(st.sampled_from(["garbage", "cut", "drop-line", "dup-line", "swap-lines"]), label="op")
        at = data.draw(st.integers(0, len(raw)), label="at")
        lines = raw.split(b"\n")
        i, j = data.draw(st.integers(0, len(lines) - 1)), data.draw(st.integers(0, len(lines) - 1))
        if op == "garbage":
            raw = raw[:at] + data.draw(st.binary(min_size=1, max_size=12), label="bytes") + raw[at:]
        elif op == "cut":
            raw = raw[:at]
        elif op == "drop-line":
            raw = b"\n".join(lines[:i] + lines[i + 1:])
        elif op == "dup-line":  # duplicate keys, when the line holds a key
            raw = b"\n".join(lines[:i + 1] + lines[i:])
        else:
            lines[i], lines[j] = lines[j], lines[i]
            raw = b"\n".join(lines)
    return raw


@FUZZ
@given(data=st.data())
def test_fuzzed_grammar_yaml_gets_an_exit_code_never_a_traceback(data: st.DataObject, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = data.draw(st.one_of(st.sampled_from(GOOD), st.sampled_from(GRAMMARS)), label="grammar")
    text = source.read_text(encoding="utf-8")
    if data.draw(st.booleans(), label="structural") and source in LOADABLE:
        raw = _structural(data, yaml.safe_load(text)).encode()
    else:
        raw = _textual(data, text)
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(raw)
    capsys.readouterr()
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 1, 2) and "Traceback" not in out + err, (code, out, err)
    if code == 0:
        assert out == f"{path}: ok\n" and err == ""
    elif code == 1:  # located lines on stdout, a count on stderr
        assert out and all(LOCATED.match(line) for line in out.splitlines()), out
        assert re.fullmatch(rf"{re.escape(str(path))}: \d+ errors?\n", err), err
    else:  # one paragraph
        assert out == "" and err.startswith("treediff validate: error: ") and err.count("\n") == 1, err


# -- program text ------------------------------------------------------------------------------------------

ALPHABET = st.sampled_from(list("()+-  \n\t0123456789") + ["Circle", "Quad", "circle", "(Circle", "-1", "99",
                                                          "1e9", "\x00", "é", "\u202e", "((((", "))))", "#"])


def _program(data: st.DataObject) -> str:
    text = data.draw(st.sampled_from(PROGRAMS), label="program")
    for _ in range(data.draw(st.integers(0, 4), label="edits")):
        at, to = sorted(data.draw(st.tuples(st.integers(0, len(text)), st.integers(0, len(text))), label="span"))
        op = data.draw(st.sampled_from(["insert", "delete", "duplicate", "replace"]), label="op")
        piece = "".join(data.draw(st.lists(ALPHABET, max_size=6), label="piece"))
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[to:]
        elif op == "duplicate":
            text = text[:to] + text[at:to] + text[to:]
        else:
            text = text[:at] + piece + text[to:]
    if data.draw(st.booleans(), label="arbitrary"):
        text = data.draw(st.text(max_size=40), label="text")
    return text


@FUZZ
@given(data=st.data())
def test_fuzzed_program_text_renders_or_exits_2_never_a_traceback(data: st.DataObject, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text = _program(data)
    out_png = tmp_path / "out.png"
    out_png.unlink(missing_ok=True)
    if data.draw(st.booleans(), label="as file") or text.startswith("-") or "\x00" in text or not text.strip():
        program = tmp_path / "prog.txt"
        program.write_bytes(text.encode())
        arg = str(program)
    else:
        arg = text
    capsys.readouterr()
    code = cli.main(["render", "csg2d", arg, "--out", str(out_png)])
    out, err = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 2) and "Traceback" not in out + err, (code, out, err)
    if code == 0:
        assert out_png.is_file() and err == ""
    else:
        assert not out_png.exists() and err.startswith("treediff render: error: ") and err.count("\n") == 1, err


@functools.cache
def _grammar(path: Path) -> Grammar:
    return Grammar.load(path)


@FUZZ
@given(data=st.data(), source=st.sampled_from([GRAMMARS[-1], ROOT / "tests" / "grammars" / "arith.yaml"]))
def test_the_parser_raises_only_treediff_errors(data: st.DataObject, source: Path) -> None:
    try:
        parse(_grammar(source), _program(data))
    except TreediffError:
        pass
