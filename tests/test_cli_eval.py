"""``treediff eval`` and ``treediff demo`` on the blocks test domain: outputs, resume, method selection."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.engine.blocks_domain import make_domain, render, trained_run
from tests.engine.fake_plugins import DomainsPlugin
from treediff.engine import cli
from treediff.engine.domains.registry import load_registry
from treediff.engine.files import read_lines
from treediff.engine.grammar.parse import parse


def use_domains(monkeypatch, *domains):
    registry = load_registry(entry_points=[])
    registry.add("blocks-test", DomainsPlugin(*domains))
    for module in ("treediff.engine.commands.eval", "treediff.engine.commands.demo"):
        monkeypatch.setattr(f"{module}.load_registry", lambda: registry)
    monkeypatch.setattr("treediff.engine.domains.registry.load_registry", lambda *a, **k: registry)
    return registry


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return trained_run("diffusion", root), trained_run("ar", root)


def main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_writes_records_plot_and_summary_for_every_method(capsys, monkeypatch, tmp_path, runs):
    use_domains(monkeypatch, make_domain())
    diffusion, ar = runs
    out = tmp_path / "ev"
    code, stdout, err = main(capsys, "eval", "blocks", "--checkpoint", diffusion, "--ar-checkpoint", ar, "-n", 3,
                             "--budget", 40, "--out", out)
    assert code == 0, err
    records = [json.loads(line) for line in read_lines(out / "results.jsonl")]
    assert sorted((r["target"], r["method"]) for r in records) == sorted(
        (f"t{i:04d}", m) for i in range(3) for m in ("beam", "rollout", "mutation", "ar"))
    assert all(r["renderer_calls"] <= 40 for r in records)
    assert (out / "solved_vs_calls.png").read_bytes().startswith(b"\x89PNG")
    summary = (out / "summary.md").read_text()
    for method in ("beam", "rollout", "mutation", "ar"):
        assert f"| {method} | 3 |" in summary
    assert summary in stdout and json.loads((out / "eval.json").read_text())["budget"] == 40


def test_eval_resume_and_its_guards(capsys, monkeypatch, tmp_path):
    use_domains(monkeypatch, make_domain())
    out = tmp_path / "ev"
    args = ["eval", "blocks", "-n", 4, "--budget", 30, "--out", out]
    assert main(capsys, *args)[0] == 0
    lines = read_lines(out / "results.jsonl")
    assert len(lines) == 4  # default methods without a model: mutation only
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # interrupted mid-line
    code, _, err = main(capsys, *args)
    assert code == 2 and "--resume" in err
    code, _, err = main(capsys, *args, "--resume")
    assert code == 0, err
    assert [json.loads(x)["target"] for x in read_lines(out / "results.jsonl")] == ["t0000", "t0001", "t0002", "t0003"]
    code, _, err = main(capsys, "eval", "blocks", "-n", 4, "--budget", 31, "--out", out, "--resume")
    assert code == 2 and "budget" in err and "Traceback" not in err


def test_eval_from_a_directory_of_targets(capsys, monkeypatch, tmp_path):
    d = make_domain()
    use_domains(monkeypatch, d)
    targets = tmp_path / "targets"
    targets.mkdir()
    tree = parse(d.grammar, "(box 1 1 2)")
    d.save_observation(render(d, tree), targets / "square.png")
    (targets / "prog.txt").write_text("(+ (box 0 0 1) (box 3 3 1))\n")
    code, _, err = main(capsys, "eval", "blocks", "--targets", targets, "--methods", "mutation", "--budget", 200,
                        "--out", tmp_path / "ev")
    assert code == 0, err
    records = {json.loads(x)["target"]: json.loads(x) for x in read_lines(tmp_path / "ev" / "results.jsonl")}
    assert set(records) == {"square", "prog"} and records["square"]["target_program"] is None


@pytest.mark.parametrize("argv, expect", [
    (["--methods", "ar"], "autoregressive"),
    (["--methods", "beam"], "--checkpoint"),
    (["--methods", "beam,astar"], "astar"),
    (["--budget", "0"], "--budget"),
    (["--targets", "/no/such/dir"], "/no/such/dir"),
])
def test_eval_bad_input_exits_2(capsys, monkeypatch, tmp_path, argv, expect):
    use_domains(monkeypatch, make_domain())
    code, out, err = main(capsys, "eval", "blocks", "-n", 2, "--out", tmp_path / "ev", *argv)
    assert code == 2 and expect in err and "Traceback" not in err


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs)["href"])


def test_demo_solves_bundled_targets_and_falls_back_to_mutation(capsys, monkeypatch, tmp_path, runs):
    diffusion, _ = runs
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    shipped = make_domain(checkpoint=diffusion)
    shipped.targets_dir = bundled
    shipped.save_observation(render(shipped, parse(shipped.grammar, "(box 2 2 2)")), bundled / "square.png")
    bare = make_domain()
    bare.name = "blocks-bare"
    use_domains(monkeypatch, shipped, bare)
    out = tmp_path / "demo"
    code, stdout, err = main(capsys, "demo", "--out", out, "--budget", 300, "-n", 2)
    assert code == 0, err
    assert "blocks-bare: using mutation search because it ships no trained model" in err
    assert "no bundled targets; generated 2" in err
    assert "blocks " in stdout and "beam" in stdout and "mutation-anneal" in stdout
    links = Links()
    links.feed((out / "index.html").read_text())
    assert sorted(set(links.links)) == ["blocks-bare/t0000.html", "blocks-bare/t0001.html", "blocks/square.html"]
    index = (out / "index.html").read_text()
    assert index.count('<div class="thumb"><img') == 6  # each target beside the rendering of the program found
    assert index.count('src="data:image/png;base64,') >= 6
    for link in set(links.links):
        assert (out / link).read_text().startswith("<!DOCTYPE html>")
    assert (out / "blocks-bare" / "targets" / "t0000.png").exists()
    assert Path(out / "blocks-bare" / "targets" / "t0000.txt").read_text().strip()
