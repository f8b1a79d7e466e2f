"""The typed search configuration: YAML with located errors, flag overrides, defaults in sync with the methods."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from treediff.engine.errors import InputError
from treediff.engine.search.baselines import mutation_search
from treediff.engine.search.beam import beam_search
from treediff.engine.search.config import (
    BeamConfig,
    MutationConfig,
    RolloutConfig,
    SearchConfig,
    load_search_config,
)
from treediff.engine.search.rollout import rollout_search
from treediff.engine.search.solve import solve


@pytest.mark.parametrize(("section", "function"), [(BeamConfig, beam_search), (MutationConfig, mutation_search),
                                                   (RolloutConfig, rollout_search)])
def test_config_defaults_are_the_search_functions_defaults(section: type, function: object) -> None:
    params = inspect.signature(function).parameters  # type: ignore[arg-type]
    for name, field in section.model_fields.items():  # type: ignore[attr-defined]
        assert params[name].default == field.default, name


def test_yaml_sections_and_located_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("start: random\nbeam:\n  beam_width: 3\n  mix: 0.5\nmutation: {schedule: hill}\n")
    config = load_search_config(good)
    assert (config.start, config.beam.beam_width, config.beam.mix, config.mutation.schedule) == ("random", 3, 0.5,
                                                                                                "hill")
    assert config.beam.expansions == BeamConfig().expansions
    bad = tmp_path / "bad.yaml"
    bad.write_text("beam:\n  beam_width: 0\n  mixx: 1\n")
    with pytest.raises(InputError) as info:
        load_search_config(bad)
    text = str(info.value)
    assert f"{bad}:2:" in text and "beam_width" in text
    assert f"{bad}:3:" in text and "'beam.mixx'" in text


def test_flags_override_the_file_and_are_validated() -> None:
    config = SearchConfig().with_overrides("beam", beam_width=2, mix=None)
    assert config.beam.beam_width == 2 and config.beam.mix == BeamConfig().mix
    with pytest.raises(InputError, match="mix"):
        SearchConfig().with_overrides("beam", mix=1.5)


def test_solve_cli_takes_a_search_config_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from treediff.engine import cli

    target = Path(__file__).parents[2] / "plugins" / "csg2d" / "targets" / "target2.png"
    config = tmp_path / "search.yaml"
    config.write_text("mutation:\n  schedule: hill\n  batch: 3\n")
    code = cli.main(["solve", "csg2d", str(target), "--method", "mutation", "--budget", "7", "--json",
                     "--search-config", str(config), "--schedule", "anneal"])
    assert code == 0
    assert '"renderer_calls": 7' in capsys.readouterr().out
    config.write_text("mutation:\n  schedul: hill\n")
    assert cli.main(["solve", "csg2d", str(target), "--method", "mutation", "--search-config", str(config)]) == 2
    assert "schedul" in capsys.readouterr().err


def test_seeds_start_the_search_from_given_programs() -> None:
    from tests.engine.blocks_domain import make_domain, render
    from treediff.engine.grammar.parse import parse

    d = make_domain()
    start = parse(d.grammar, "(+ (box 1 1 1) (box 2 2 2))")
    ex = d.make_executor("cpu")
    solve(d, render(d, parse(d.grammar, "(box 0 0 1)")), "mutation", budget=3, seed=0, executor=ex, seeds=[start],
          use_goal=False)
    assert ex.executed[0] == start
