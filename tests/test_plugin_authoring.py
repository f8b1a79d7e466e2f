"""The plugin-author path (issue 9): a typed, medium-neutral domain contract, encoders for non-image
observations, the installed contract suite and its command, and the scaffold."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.engine.fake_plugins import DomainsPlugin
from tests.engine.records_domain import make_domain as poly_domain
from treediff import DomainError, InputError, ObservationStorage, Registry, check_domain, load_registry
from treediff.engine import cli
from treediff.engine.models.encoders import grid_encoder, records_encoder

VENV_BIN = Path(sys.executable).parent




def use(monkeypatch, *domains) -> Registry:
    registry = load_registry(entry_points=[])
    registry.add("authors-test", DomainsPlugin(*domains))
    for module in ("solve", "eval", "sample", "train", "check_plugin", "demo", "render", "plugins"):
        monkeypatch.setattr(f"treediff.engine.commands.{module}.load_registry", lambda: registry, raising=False)
    monkeypatch.setattr("treediff.engine.domains.registry.load_registry", lambda *a, **k: registry)
    return registry


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. the typed, medium-neutral contract ---------------------------------------------------------------

def test_executor_output_shape_is_checked_at_the_boundary_naming_the_plugin() -> None:
    domain = poly_domain()

    class Wrong:
        device = torch.device("cpu")

        def execute(self, trees):
            return torch.zeros(len(trees), 3)

    domain.make_executor = lambda device: Wrong()
    domain.__post_init__()
    registry = load_registry(entry_points=[])
    registry.add("shapes-plugin", DomainsPlugin(domain))
    with pytest.raises(DomainError, match=r"plugin 'shapes-plugin' \(domain 'poly'\).*shape \[2, 3\]; expected "
                                          r"\[2, 8, 2\]"):
        registry.domain("poly").make_executor("cpu").execute([domain.grammar.productions and
                                                              _tree(domain), _tree(domain)])


def _tree(domain):
    import random

    from treediff import sample_tree

    return sample_tree(domain.grammar, random.Random(0), 1, 2)


def test_unknown_observation_options_are_errors_naming_the_domain(monkeypatch, capsys, tmp_path) -> None:
    domain = poly_domain()
    use(monkeypatch, domain)
    target = tmp_path / "t.json"
    domain.save_observation(domain.make_executor("cpu").execute([_tree(domain)])[0], target)
    code, _, err = run(capsys, "solve", "poly", target, "--method", "mutation", "--budget", 5, "--invert")
    assert code == 2 and "domain 'poly' has no observation option --invert" in err
    code, _, err = run(capsys, "solve", "poly", target, "--method", "mutation", "--budget", 5, "--sketch")
    assert code == 2 and "no sketch model" in err
    code, _, err = run(capsys, "solve", "poly", tmp_path / "missing.json", "--method", "mutation")
    assert code == 2 and "a JSON list of pairs (a .json file)" in err and "PNG" not in err


def test_plugins_lists_each_domains_files_and_options(capsys) -> None:
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "in .png files" in out and "option --invert:" in out and "option --resize:" in out
    with pytest.raises(DomainError, match="taken by program files"):
        ObservationStorage(".txt", lambda p, o: None, lambda o, p: None)


def test_csg2d_declares_its_own_typed_options() -> None:
    domain = load_registry().domain("csg2d")
    assert set(domain.storage.options.model_fields) == {"invert", "resize"}
    with pytest.raises(InputError, match="--invert: Input should be a valid boolean"):
        domain.observation_options({"invert": "maybe"})
    assert domain.storage.suffix == ".png" and domain.targets_dir is not None and domain.targets_dir.is_dir()


def test_non_image_domain_solves_samples_and_evaluates_in_its_own_files(monkeypatch, capsys, tmp_path) -> None:
    domain = poly_domain()
    use(monkeypatch, domain)
    from treediff import parse

    target = tmp_path / "target.json"
    domain.save_observation(domain.make_executor("cpu").execute([parse(domain.grammar, "(x * 2)")])[0], target)
    report = tmp_path / "r.html"
    code, out, err = run(capsys, "solve", "poly", target, "--method", "mutation", "--schedule", "hill",
                         "--budget", 2000, "--report", report)
    assert code == 0, err
    assert "method mutation-hill" in out
    text = report.read_text()
    assert '<pre class="obs">f(0)=' in text and "<img" not in text
    code, out, err = run(capsys, "sample", "poly", "-n", 3, "--out", tmp_path / "s")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["0.json", "1.json", "2.json", "programs.txt"]
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "a.json").write_text(target.read_text())
    (targets / "b.txt").write_text("(x + 1)\n")
    code, out, err = run(capsys, "eval", "poly", "--targets", targets, "--methods", "mutation", "--budget", 50,
                         "--out", tmp_path / "ev")
    assert code == 0, err
    lines = (tmp_path / "ev" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["target"] for line in lines) == ["a", "b"]


def test_train_with_a_preset_uses_the_domains_own_encoder_options(tmp_path) -> None:
    from treediff.engine.training.train import run_training
    from treediff.engine.training.traincfg import TrainConfig

    domain = poly_domain()
    cfg = TrainConfig(preset="tiny", steps=2, batch_size=4, device="cpu", threads=1, val_every=10_000, val_size=4,
                      checkpoint_every=10_000, log_every=10_000, tensorboard="off", warmup_steps=1)
    result = run_training(domain, cfg, tmp_path / "run", registry=load_registry(entry_points=[]),
                          log_stream=io.StringIO())
    assert result.step == 2
    meta = json.loads(next((tmp_path / "run" / "checkpoints").glob("*.json")).read_text())
    assert meta["encoder"] == "records" and meta["model_config"]["encoder_options"] == {"scale": 8.0}


# -- 2. encoders for non-image observations ---------------------------------------------------------------

def test_grid_keeps_several_tokens_for_small_grids_and_presets_are_unchanged_for_images() -> None:
    assert grid_encoder((3, 8, 8), 64).n_tokens == 16  # the three stacked views of an 8x8 board
    assert grid_encoder((3, 8, 8), 64)(torch.rand(2, 3, 8, 8)).shape == (2, 16, 64)
    assert grid_encoder((3, 128, 128), 64).n_tokens == 64
    assert grid_encoder((3, 128, 128), 256).n_tokens == 256
    assert grid_encoder((1, 3, 5), 64).n_tokens == 15


def test_records_encoder_gives_one_token_per_record() -> None:
    enc = records_encoder((24, 2), 32, scale=8.0)
    assert enc(torch.rand(5, 24, 2)).shape == (5, 24, 32)
    with pytest.raises(DomainError, match=r"\[records, fields\]"):
        records_encoder((1, 8, 8), 32)
    with pytest.raises(DomainError, match="unknown 'records' encoder option"):
        records_encoder((4, 2), 32, patch_size=2)


# -- 3. the contract suite, installed ---------------------------------------------------------------------

def test_check_plugin_reports_failures_in_the_authors_terms(monkeypatch, capsys) -> None:
    good = poly_domain()
    bad = poly_domain("badpoly")
    bad.goal = lambda observations, target: torch.zeros(observations.shape[0], dtype=torch.bool)
    bad.storage = ObservationStorage(".json", good.storage.load, lambda obs, path: None)
    use(monkeypatch, good, bad)
    code, out, _ = run(capsys, "check-plugin", "poly")
    assert code == 0 and "PASS encoder" in out and "SKIP sketch" in out
    code, out, _ = run(capsys, "check-plugin", "badpoly")
    assert code == 1
    assert "FAIL goal and distance: goal(x, x) is False" in out
    assert "FAIL observation files: storage.save did not write obs0.json" in out
    assert all(r.ok for r in check_domain(good, load_registry(entry_points=[])))


def test_scaffold_installs_passes_check_plugin_and_its_own_tests(tmp_path) -> None:
    project = tmp_path / "mytiles"
    assert cli.main(["new-plugin", "tiles", "--dir", str(project)]) == 0
    grammar = (project / "treediff_tiles" / "grammar.yaml").read_text()
    assert "$schema=grammar.schema.json" in grammar and (project / "treediff_tiles" / "grammar.schema.json").exists()
    assert "pypi" not in (project / "README.md").read_text().lower()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(project)], check=True,
                   capture_output=True)
    try:
        check = subprocess.run([str(VENV_BIN / "treediff"), "check-plugin", "tiles"], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "PASS preview" in check.stdout
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                               cwd=project, capture_output=True, text=True)
        assert tests.returncode == 0, tests.stdout + tests.stderr
    finally:
        subprocess.run([*pip, "uninstall", "-y", "treediff-tiles"], check=True, capture_output=True)


# -- 4. smaller points -----------------------------------------------------------------------------------

def test_validate_requires_a_primitive_and_a_typo_reports_only_itself(tmp_path, capsys) -> None:
    base = ('name: g\nstart: e\nterminals:\n  n: {type: int, min: 0, max: 3}\nrules:\n  e:\n'
            '    - name: num\n      form: "{v:n}"\n      PRIM\n    - name: add\n      form: "(+ {a:e} {b:f})"\n'
            '      TYPO\n  f:\n    - name: lit\n      form: "<{v:n}>"\n      primitive: true\n')
    noprim = tmp_path / "noprim.yaml"
    noprim.write_text(base.replace("PRIM\n", "weight: 1\n").replace("TYPO\n", "weight: 1\n")
                      .replace("      primitive: true\n", ""))
    code, out, _ = run(capsys, "validate", noprim)
    assert code != 0 and "no production is marked `primitive: true`" in out + _
    typo = tmp_path / "typo.yaml"
    typo.write_text(base.replace("PRIM", "primitive: true").replace("TYPO", "primitve: true"))
    code, out, err = run(capsys, "validate", typo)
    text = out + err
    assert code != 0 and "unknown key 'primitve'" in text and "unreachable" not in text


def test_sample_into_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.run(f"{VENV_BIN / 'treediff'} sample csg2d -n 2000 | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_solve_starts_from_a_program_file(monkeypatch, capsys, tmp_path) -> None:
    from treediff import parse

    domain = poly_domain()
    use(monkeypatch, domain)
    target = tmp_path / "target.json"
    domain.save_observation(domain.make_executor("cpu").execute([parse(domain.grammar, "((x * x) + 3)")])[0], target)
    start = tmp_path / "start.txt"
    start.write_text("((x * x) + 2)\n")
    code, out, err = run(capsys, "solve", "poly", target, "--method", "mutation", "--budget", 500, "--start", start,
                         "--json")
    assert code == 0, err
    assert json.loads(out)["solved"]
    code, _, err = run(capsys, "solve", "poly", target, "--method", "mutation", "--start", tmp_path / "none.txt")
    assert code == 2 and "does not exist" in err
