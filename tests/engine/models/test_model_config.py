"""Tests for treediff.engine.models.config: presets are valid and sized as documented."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.toys import GRAMMAR_DIR
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.autoregressive import ARModel
from treediff.engine.models.backbone import count_parameters
from treediff.engine.models.config import PRESETS, ModelConfig
from treediff.engine.models.denoiser import Denoiser
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.models.value import ValueNet
from treediff.engine.trees.tokens import Vocab


def test_presets_exist_and_validate() -> None:
    assert {"tiny", "default"} <= set(PRESETS)
    for cfg in PRESETS.values():
        assert ModelConfig.model_validate(cfg.model_dump()) == cfg


def test_config_rejects_unknown_fields_and_bad_heads() -> None:
    with pytest.raises(ValidationError):
        ModelConfig.model_validate({"d_model": 64, "bogus": 1})
    with pytest.raises(ValidationError, match="n_heads"):
        ModelConfig(d_model=60, n_heads=8)


def test_preset_sizes() -> None:
    vocab = Vocab(Grammar.load(GRAMMAR_DIR / "csg.yaml"))
    shape = (1, 128, 128)
    tiny = sum(count_parameters(cls(PRESETS["tiny"], vocab, shape, grid_encoder))
               for cls in (Denoiser, ValueNet))
    default = count_parameters(Denoiser(PRESETS["default"], vocab, shape, grid_encoder))
    ar = count_parameters(ARModel(PRESETS["tiny"], vocab, shape, grid_encoder))
    assert 100_000 < tiny < 1_000_000
    assert 100_000 < ar < 1_000_000
    assert 3_000_000 < default < 30_000_000
