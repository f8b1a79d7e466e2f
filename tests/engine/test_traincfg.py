"""Training configs: YAML with located errors, flag overrides, defaults and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from treediff.engine.errors import InputError
from treediff.engine.training.traincfg import TrainConfig, load_train_config, parse_train_config


def test_yaml_values_and_defaults() -> None:
    cfg = parse_train_config("preset: default\nmodel: ar\nsteps: 50\nmodel_overrides: {dropout: 0.1}\n")
    assert (cfg.preset, cfg.model, cfg.steps, cfg.model_overrides) == ("default", "ar", 50, {"dropout": 0.1})
    assert cfg.batch_size == TrainConfig().batch_size and parse_train_config("") == TrainConfig()


def test_unknown_keys_and_bad_values_are_located() -> None:
    with pytest.raises(InputError) as err:
        parse_train_config("steps: 10\n\nwarmup: 5\nlr: -1\nschedule: wavy\n", "cfg.yaml")
    text = str(err.value)
    assert "cfg.yaml:3:1: unknown option 'warmup'" in text and "warmup_steps" in text
    assert "cfg.yaml:4:5: lr:" in text and "cfg.yaml:5:11: schedule:" in text and "'wavy'" in text


def test_syntax_errors_and_wrong_shapes_are_located() -> None:
    with pytest.raises(InputError, match=r"c\.yaml:2:\d+: YAML syntax error"):
        parse_train_config("steps: 10\nlr: [1\n", "c.yaml")
    with pytest.raises(InputError, match=r"c\.yaml:1:1: the top level must be a mapping"):
        parse_train_config("- 1\n- 2\n", "c.yaml")
    with pytest.raises(InputError, match="min_primitives .4. is greater than max_primitives .2."):
        parse_train_config("min_primitives: 4\nmax_primitives: 2\n", "c.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        load_train_config(tmp_path / "nope.yaml")


def test_flags_override_and_are_validated() -> None:
    cfg = TrainConfig(steps=10).with_overrides(steps=20, batch_size=None, device="cpu")
    assert (cfg.steps, cfg.batch_size, cfg.device) == (20, TrainConfig().batch_size, "cpu")
    with pytest.raises(InputError, match="command-line training options are invalid: steps"):
        cfg.with_overrides(steps=0)


def test_schema_forbids_unknown_keys() -> None:
    schema = TrainConfig.model_json_schema()
    assert schema["additionalProperties"] is False and "steps" in schema["properties"]


def test_shipped_model_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "plugins"
    found = sorted(root.glob("*/model*/train.yaml"))
    assert {p.parent.name for p in found} == {"model", "model_ar"}
    for path in found:
        config = load_train_config(path)
        assert config.steps >= 1
        assert config.model == ("ar" if path.parent.name == "model_ar" else "diffusion")
        shipped = json.loads((path.parent / "model.json").read_text())
        assert shipped["kind"] == config.model and shipped["domain"] == path.parent.parent.name


def test_noise_shares_may_not_add_up_past_one() -> None:
    with pytest.raises(InputError, match=r"p_leaf \(0.6\) \+ p_hoist \(0.5\) is more than 1"):
        parse_train_config("p_leaf: 0.6\np_hoist: 0.5\n", "cfg.yaml")
    assert parse_train_config("p_leaf: 0.3\np_hoist: 0.2\n", "cfg.yaml").p_hoist == 0.2
