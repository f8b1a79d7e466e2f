"""``treediff solve``: output contract (text and JSON), reports, and one-paragraph errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.engine.blocks_domain import GRAMMAR, make_domain, render, trained_run
from treediff.engine import cli
from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.domains.registry import load_registry
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse

TARGET = "(- (box 1 1 2) (box 2 2 1))"


class BlocksPlugin:
    def __init__(self, domain):
        self.domain = domain

    @hookimpl
    def treediff_register_domains(self, register):
        register(self.domain)


@pytest.fixture
def blocks(monkeypatch):
    """Make the CLI see the blocks domain (and only it); returns the domain object it sees."""
    domain = make_domain()
    registry = load_registry(entry_points=[])
    registry.add("blocks-test", BlocksPlugin(domain))
    monkeypatch.setattr("treediff.engine.commands.solve.load_registry", lambda: registry)
    monkeypatch.setattr("treediff.engine.domains.registry.load_registry", lambda *a, **k: registry)
    return domain


@pytest.fixture
def target_png(blocks, tmp_path):
    path = tmp_path / "target.png"
    blocks.save_observation(render(blocks, parse(blocks.grammar, TARGET)), path)
    return path


def solve(capsys, *argv):
    code = cli.main(["solve", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_is_one_object_with_the_contract_keys(capsys, blocks, target_png):
    code, out, err = solve(capsys, "blocks", target_png, "--method", "mutation", "--budget", 400, "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {"program", "solved", "renderer_calls", "seconds", "score"}
    assert data["solved"] is True and data["score"] == 0.0 and 1 <= data["renderer_calls"] <= 400
    program = parse(blocks.grammar, data["program"])
    assert (render(blocks, program) == render(blocks, parse(blocks.grammar, TARGET))).all()


def test_text_output_ends_with_the_program(capsys, blocks, target_png):
    code, out, _ = solve(capsys, "blocks", target_png, "--method", "mutation", "--budget", 5, "--seed", 3)
    assert code == 0
    last = out.rstrip("\n").splitlines()[-1]
    parse(blocks.grammar, last)
    assert "renderer calls" in out.splitlines()[0]


def test_beam_search_with_a_checkpoint_and_a_report(capsys, blocks, target_png, tmp_path_factory, tmp_path):
    run_dir = trained_run("diffusion", tmp_path_factory.mktemp("runs"))
    report = tmp_path / "report.html"
    code, out, err = solve(capsys, "blocks", target_png, "--checkpoint", run_dir, "--budget", 400, "--json",
                           "--report", report)
    assert code == 0, err
    data = json.loads(out)
    assert data["renderer_calls"] <= 400
    text = report.read_text(encoding="utf-8")
    HTMLParser().feed(text)
    assert text.count("data:image/png;base64,") >= 3 and data["program"] in text


def test_missing_model_suggests_checkpoint_or_mutation(capsys, blocks, target_png):
    code, out, err = solve(capsys, "blocks", target_png)
    assert code == 2 and out == ""
    assert "ships no trained model" in err and "--checkpoint" in err and "--method mutation" in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("case", ["missing", "not_png", "directory", "unknown_domain", "budget", "report_dir",
                                  "bad_checkpoint", "ar_without_model"])
def test_bad_input_is_one_paragraph_exit_2_and_writes_no_report(capsys, blocks, target_png, tmp_path, case):
    report = tmp_path / "r.html"
    args = ["blocks", target_png, "--method", "mutation", "--budget", "50", "--report", report]
    expect = ""
    if case == "missing":
        args[1], expect = tmp_path / "nope.png", "nope.png"
    elif case == "not_png":
        bad = tmp_path / "notes.png"
        bad.write_text("hello")
        args[1], expect = bad, "notes.png"
    elif case == "directory":
        args[1], expect = tmp_path, "directory"
    elif case == "unknown_domain":
        args[0], expect = "nosuchdomain", "nosuchdomain"
    elif case == "budget":
        args[5], expect = "0", "--budget"
    elif case == "report_dir":
        report = tmp_path / "missing" / "r.html"
        args[-1], expect = report, "does not exist"
    elif case == "bad_checkpoint":
        args[2:4] = ["--checkpoint", tmp_path / "nothing-here"]
        expect = "nothing-here"
    elif case == "ar_without_model":
        args[3], expect = "ar", "autoregressive"
    code, out, err = solve(capsys, *args)
    assert code == 2, (out, err)
    assert expect in err and "Traceback" not in err
    assert err.startswith("treediff solve: error:") and len(err.strip().split("\n\n")) == 1
    assert not report.exists()
    if report.parent.exists():
        assert not list(report.parent.glob(".r.html*"))


def test_checkpoint_of_another_grammar_is_refused(capsys, monkeypatch, tmp_path, tmp_path_factory):
    run_dir = trained_run("diffusion", tmp_path_factory.mktemp("runs"))
    other = make_domain()
    other.grammar = Grammar.from_text(GRAMMAR.replace("max: 3", "max: 2"), "blocks-small.yaml")
    registry = load_registry(entry_points=[])
    registry.add("blocks-test", BlocksPlugin(other))
    monkeypatch.setattr("treediff.engine.commands.solve.load_registry", lambda: registry)
    monkeypatch.setattr("treediff.engine.domains.registry.load_registry", lambda *a, **k: registry)
    png = tmp_path / "t.png"
    other.save_observation(render(other, parse(other.grammar, "(box 0 0 1)")), png)
    code, out, err = solve(capsys, "blocks", png, "--checkpoint", run_dir)
    assert code == 2 and "Traceback" not in err
    assert "grammar" in err and str(run_dir) in err


def test_real_process_reports_errors_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "treediff.engine.cli", "solve", "csg2d", str(tmp_path / "none.png"),
                          "--json"],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "none.png" in run.stderr and run.stdout == ""


def test_sketch_targets_run_the_whole_budget_and_return_the_closest_program(capsys, blocks, target_png):
    code, out, err = solve(capsys, "blocks", target_png, "--method", "mutation", "--budget", 60, "--sketch", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["solved"] is False and data["renderer_calls"] == 60 and data["score"] is not None


def test_warning_for_resized_targets_goes_to_stderr(capsys, blocks, tmp_path):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("L", (32, 32), 255).save(path)

    def load(p, options):
        import warnings

        warnings.warn(f"image {str(p)!r} is 32x32 pixels; resized to 16x16", stacklevel=1)
        return render(blocks, parse(blocks.grammar, "(box 0 0 1)"))

    blocks.storage.load = load
    code, out, err = solve(capsys, "blocks", path, "--method", "mutation", "--budget", 5)
    assert code == 0 and "warning: image" in err and "resized" in err


def _args(**kw):
    import argparse

    base = dict(search_config=None, start=None, beam_width=None, expansions=None, mix=None, local=None,
                schedule=None, checkpoint=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_search_settings_beside_the_model_are_the_defaults_and_flags_and_files_override_them(tmp_path):
    from treediff.engine.commands.searchargs import search_config
    from treediff.engine.errors import InputError

    domain = make_domain()
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}", encoding="utf-8")
    (model / "search.yaml").write_text("start: random\nbeam: {beam_width: 3, expansions: 5}\n", encoding="utf-8")
    config = search_config(_args(checkpoint=model), domain)
    assert config.start == "random" and config.beam.beam_width == 3 and config.beam.expansions == 5
    config = search_config(_args(checkpoint=model / "model.json", beam_width=2), domain)  # a file in the folder
    assert config.beam.beam_width == 2 and config.beam.expansions == 5
    own = tmp_path / "own.yaml"
    own.write_text("beam: {expansions: 7}\n", encoding="utf-8")
    config = search_config(_args(checkpoint=model, search_config=own), domain)
    assert config.start == "minimal" and config.beam.beam_width == 4 and config.beam.expansions == 7
    assert search_config(_args(checkpoint=tmp_path), domain).beam.beam_width == 4  # no file: the defaults
    (model / "search.yaml").write_text("beam: {beam_width: 0}\n", encoding="utf-8")
    with pytest.raises(InputError, match="search.yaml"):
        search_config(_args(checkpoint=model), domain)


def test_solve_reads_the_search_settings_beside_the_model(capsys, blocks, target_png, tmp_path_factory):
    run_dir = trained_run("diffusion", tmp_path_factory.mktemp("runs"))
    # AR starts and the AR model's subtree rewrites, asked for by the file, both need an AR model
    for settings in ("start: ar\n", "beam: {ar_edits: 4}\n"):
        (run_dir / "search.yaml").write_text(settings, encoding="utf-8")
        try:
            code, out, err = solve(capsys, "blocks", target_png, "--checkpoint", run_dir, "--budget", 50)
        finally:
            (run_dir / "search.yaml").unlink()
        assert code == 2 and out == "", settings
        assert "autoregressive" in err and "Traceback" not in err, settings
    code, out, err = solve(capsys, "blocks", target_png, "--checkpoint", run_dir, "--budget", 50)
    assert code == 0, err
