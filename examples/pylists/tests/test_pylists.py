"""Tests of the pylists example plugin, run against the installed package (found through its entry point)."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from treediff_pylists import plugin
from treediff_pylists.frontend import has_errors, read_python
from treediff_pylists.interpreter import run

from treediff import InputError, check_domain, load_registry, parse, sample_tree, to_text

GRAMMAR = plugin.GRAMMAR
TREEDIFF = shutil.which("treediff") or str(Path(sys.executable).parent / "treediff")


def python_reference(text: str, xs: list[int]) -> list[int]:
    """What CPython computes for a program: the oracle of these tests only (the plugin never evaluates text)."""
    code = compile(text, "<program>", "eval")
    return eval(code, {"__builtins__": {}, "sorted": sorted}, {"xs": list(xs)})  # noqa: S307


def test_found_through_its_entry_point_and_passes_the_contract() -> None:
    registry = load_registry()
    assert "pylists" in registry.domains and not registry.failures
    info = next(p for p in registry.plugins if "pylists" in p.domains)
    assert info.module == "treediff_pylists.plugin"
    results = check_domain(registry.domain("pylists"), registry)
    assert all(r.ok for r in results), [str(r) for r in results if not r.ok]


def test_every_sampled_program_is_python_that_tree_sitter_parses_without_errors() -> None:
    rng = random.Random(0)
    for _ in range(400):
        tree = sample_tree(GRAMMAR, rng, 1, 7)
        text = to_text(tree)
        assert not has_errors(text), text
        assert read_python(text, GRAMMAR) == tree, text
        for xs in plugin.INPUTS:
            assert run(tree, xs) == python_reference(text, xs), text


def test_user_python_with_any_spacing_comments_and_parentheses() -> None:
    source = ("# keep the odd ones, doubled\n[ (x*2) for x in (sorted( xs ))  # sorted first\n"
              "  if (x % 2 == 1) ][ :3 ]\n")
    tree = read_python(source, GRAMMAR)
    assert to_text(tree) == "[x * 2 for x in [x for x in sorted(xs) if x % 2 == 1]][:3]"
    code = "[(x*2) for x in (sorted(xs)) if (x % 2 == 1)][:3]"  # the source without its comments
    assert run(tree, [3, 1, 4, 1, 5]) == python_reference(code, [3, 1, 4, 1, 5]) == [2, 2, 6]


@pytest.mark.parametrize(("source", "where", "says"), [
    ("len(xs)", "f.py:1:1", "call outside the subset"),
    ("[x + 1 for x in xs\n if x > 12]", "f.py:2:9", "digit from 0 to 9"),
    ("xs[1]", "f.py:1:1", "expected a slice"),
    ("[x ** 2 for x in xs]", "f.py:1:2", r"operator '\*\*'"),
    ("xs +", "f.py:1:", "syntax error"),
    ("xs\nxs", "f.py:2:1", "exactly one list expression"),
])
def test_code_outside_the_subset_gets_located_messages(source: str, where: str, says: str) -> None:
    with pytest.raises(InputError, match=says) as caught:
        read_python(source, GRAMMAR, "f.py")
    assert str(caught.value).startswith(where)


def test_solve_repairs_a_users_buggy_program(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    domain = plugin.make_domain()
    wanted = parse(GRAMMAR, "sorted([x for x in xs if x % 2 == 1])[::-1]")
    domain.save_observation(domain.make_executor("cpu").execute([wanted])[0], target)
    buggy = tmp_path / "buggy.py"
    buggy.write_text("# odd numbers, largest first\nsorted([x for x in xs if x % 2 == 0])[::-1]\n")
    proc = subprocess.run([TREEDIFF, "solve", "pylists", str(target), "--start", str(buggy), "--method", "mutation",
                           "--budget", "3000", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["solved"], result
    program = parse(GRAMMAR, result["program"])
    assert all(run(program, xs) == run(wanted, xs) for xs in plugin.INPUTS)
    outside = tmp_path / "outside.py"
    outside.write_text("[x for x in reversed(xs)]\n")
    proc = subprocess.run([TREEDIFF, "solve", "pylists", str(target), "--start", str(outside), "--method",
                           "mutation"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and f"{outside}:1:13: `reversed(xs)` is a call outside the subset" in proc.stderr


def test_trains_on_cpu_and_solves_easy_targets(tmp_path: Path) -> None:
    from treediff.engine.search.solve import solve
    from treediff.engine.training.bundle import load_bundle
    from treediff.engine.training.train import run_training
    from treediff.engine.training.traincfg import TrainConfig

    registry = load_registry()
    domain = registry.domain("pylists")
    cfg = TrainConfig(preset="tiny", steps=150, batch_size=16, lr=2e-3, warmup_steps=10, device="cpu", threads=1,
                      val_every=10_000, val_size=16, checkpoint_every=10_000, log_every=10_000, tensorboard="off")
    result = run_training(domain, cfg, tmp_path / "run", registry=registry, log_stream=io.StringIO())
    bundle = load_bundle(result.checkpoint, domain, registry, "cpu")
    executor = domain.make_executor("cpu")
    for text in ("sorted(xs)", "xs[::-1][:2]", "[x + 3 for x in xs]"):
        target = executor.execute([parse(GRAMMAR, text)])[0]
        found = solve(domain, target, "beam", budget=1500, seed=0, bundle=bundle, device="cpu", executor=executor)
        assert found.solved, (text, found.program)
