"""The command line contract: exit codes, located messages, no tracebacks, atomic outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.toys import GRAMMAR_DIR
from treediff.engine.cli import main
from treediff.engine.commands.new_plugin import scaffold
from treediff.engine.errors import InputError

BAD = GRAMMAR_DIR / "bad"


def test_validate_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", str(GRAMMAR_DIR / "csg.yaml"), str(GRAMMAR_DIR / "logo.yaml")]) == 0
    assert main(["validate", str(GRAMMAR_DIR / "csg.yaml"), str(BAD / "forms.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"{BAD / 'forms.yaml'}:12:" in out and "hint:" in out
    assert main(["validate", str(tmp_path / "nope.yaml"), str(GRAMMAR_DIR / "csg.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


def test_validate_binary_file_is_unreadable_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["validate", str(junk)]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_console_script_reports_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "treediff.engine.cli", "sample", str(BAD / "syntax.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "syntax.yaml:7:13: YAML syntax error" in proc.stderr and "Traceback" not in proc.stderr


def test_sample_grammar_file_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sample", str(GRAMMAR_DIR / "logo.yaml"), "-n", "5", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and len(first.splitlines()) == 5


def test_new_plugin_scaffold_works(tmp_path: Path) -> None:
    target = scaffold("tiles", tmp_path)
    assert (target / "treediff_tiles" / "grammar.yaml").exists()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=target,
                          env={"PYTHONPATH": f"{target}:{Path.cwd()}", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pytest.raises(InputError, match="already exists"):
        scaffold("tiles", tmp_path)
    with pytest.raises(InputError, match="not valid"):
        scaffold("Bad-Name", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["treediff-tiles"]  # no staging leftovers


def test_plugins_lists_builtin_domains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "domain csg2d" in out and "domain tinysvg" in out and "encoder grid" in out


def test_render_writes_png_and_nothing_on_bad_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    good = tmp_path / "good.png"
    assert main(["render", "csg2d", "(+ (Circle 2 3 3) (Quad 8 8 4 9 7))", "--out", str(good)]) == 0
    image = Image.open(good)
    assert image.size == (128, 128)
    assert image.convert("L").getpixel((24, 24)) < 64 and image.convert("L").getpixel((127, 0)) > 192
    program = tmp_path / "prog.txt"
    program.write_text("(Rectangle 3 3 red none 0)\n")
    assert main(["render", "tinysvg", str(program), "--out", str(tmp_path / "svg.png")]) == 0
    bad = tmp_path / "bad.png"
    assert main(["render", "csg2d", "(Quad 8 8 4 9 9)", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "<argument>:1:15:" in err and "out of range" in err and "Traceback" not in err
    assert not bad.exists()
    assert main(["render", "nosuchdomain", "(Circle 1 1 1)", "--out", str(bad)]) == 2
    assert "unknown domain 'nosuchdomain'" in capsys.readouterr().err


def test_sample_domain_writes_images_and_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "csg2d", "-n", "3", "--seed", "1", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("(") for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png", "2.png", "contact_sheet.png",
                                                          "programs.txt"]
    assert (tmp_path / "programs.txt").read_text().splitlines() == lines


@pytest.mark.parametrize(("field", "value", "expected"), [("grammar", "csg2d", "'grammar'"),
                                                          ("step", "many", "'step'"),
                                                          ("kind", "gan", "'kind'")])
def test_solve_with_bad_checkpoint_metadata_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             field: str, value: object, expected: str) -> None:
    import json
    import shutil

    shipped = Path(__file__).parents[1] / "plugins" / "csg2d" / "model"
    bad = tmp_path / "BADDIR"
    shutil.copytree(shipped, bad)
    meta = json.loads((bad / "model.json").read_text(encoding="utf-8"))
    meta[field] = value
    (bad / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    target = shipped.parent / "targets" / "target1.png"
    assert main(["solve", "csg2d", str(target), "--checkpoint", str(bad), "--budget", "10"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(bad / "model.json") in err and expected in err and "expected" in err


def test_every_command_module_loads_and_a_missing_one_is_not_skipped() -> None:
    import argparse

    from treediff.engine import commands
    from treediff.engine.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) == len(commands.COMMANDS)
    with pytest.raises(ModuleNotFoundError):
        commands.load("no_such_command")
