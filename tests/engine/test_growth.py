"""Function-preserving growth (a wider grid stem, deeper blocks): same outputs, recorded config, warm start,
clear errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.engine.blocks_domain import make_domain
from tests.engine.trainkit import FAST, blocks_registry, fast_config, fixed_batch
from treediff.engine.errors import InputError
from treediff.engine.training.bundle import load_bundle
from treediff.engine.training.checkpoint import read_checkpoint
from treediff.engine.training.export import export_model
from treediff.engine.training.growth import block_prefixes, encoder_prefixes, grow_model, main, token_cell, widen_stem
from treediff.engine.training.train import Trainer, run_training


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    result = run_training(make_domain(), fast_config(steps=10), run, registry=blocks_registry(),
                          log_stream=io.StringIO())
    return export_model(result.checkpoint, run / "model").parent  # type: ignore[arg-type]


def _outputs(model_dir: Path, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    bundle = load_bundle(model_dir, make_domain(), blocks_registry(), "cpu")
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(seed))  # [B, 3C, H, W]
    return (bundle.denoiser.context.observation_encoder(x),  # type: ignore[union-attr]
            bundle.value.context.observation_encoder(x))  # type: ignore[union-attr]


def _trained_from(grown: Path, run: Path, **overrides: Any) -> dict[str, torch.Tensor]:
    """The denoiser's weights after a 4-step run warm-started from ``grown`` with ``overrides`` of the fast model
    (``encoder_options`` merged into the fast ones)."""
    options = {**FAST["encoder_options"], **overrides.pop("encoder_options", {})}
    cfg = fast_config(steps=4, model_overrides={**FAST, **overrides, "encoder_options": options}, val_every=100,
                      checkpoint_every=100)
    trainer = Trainer(make_domain(), cfg, run, registry=blocks_registry(), log_stream=io.StringIO(), init=grown)
    result = trainer.run()
    trainer.close()
    return read_checkpoint(result.checkpoint).role_weights("denoiser")  # type: ignore[arg-type]


def test_widened_model_computes_the_same_and_records_its_stem(exported: Path, tmp_path: Path) -> None:
    written = widen_stem(exported, tmp_path / "wide", 12, seed=3)
    meta = json.loads(written.read_text())
    assert meta["model_config"]["encoder_options"]["stem_channels"] == 12
    assert meta["widened_from"]["stem_channels"] == 8 and "train_state" not in meta
    wide = read_checkpoint(tmp_path / "wide")
    assert len(encoder_prefixes(wide.weights)) == 2  # the denoiser's and the value network's
    assert wide.role_weights("denoiser")["context.observation_encoder.stem.0.weight"].shape[0] == 12
    for before, after in zip(_outputs(exported), _outputs(tmp_path / "wide")):
        assert torch.allclose(before, after, atol=1e-6)
    new_filters = wide.role_weights("value")["context.observation_encoder.stem.0.weight"][8:]
    assert new_filters.abs().sum() > 0  # the new channels are live, not dead zeros
    again = widen_stem(exported, tmp_path / "again", 12, seed=3)
    same_seed = read_checkpoint(again).role_weights("value")["context.observation_encoder.stem.0.weight"][8:]
    assert torch.equal(same_seed, new_filters)  # seeded: the same seed draws the same new filters


def test_a_run_with_the_wider_stem_warm_starts_from_it_and_trains(exported: Path, tmp_path: Path) -> None:
    widen_stem(exported, tmp_path / "wide", 12)
    trained = _trained_from(tmp_path / "wide", tmp_path / "run", encoder_options={"stem_channels": 12})
    start = read_checkpoint(tmp_path / "wide").role_weights("denoiser")
    key = "context.observation_encoder.patchify.weight"
    assert trained[key][:, 8:].abs().sum() > 0 and start[key][:, 8:].abs().sum() == 0  # new channels now read


def test_bad_widths_and_models_without_a_grid_encoder_are_refused(exported: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="has 8 stem channels; widening needs more, got 8"):
        widen_stem(exported, tmp_path / "same", 8)
    assert not (tmp_path / "same").exists()
    assert main([str(exported), str(tmp_path / "less"), "--stem-channels", "4"]) == 2
    assert "cannot widen model" in capsys.readouterr().err
    ckpt = read_checkpoint(exported)
    no_grid = tmp_path / "nogrid"
    no_grid.mkdir()
    from safetensors.torch import save_file
    save_file({k: v for k, v in ckpt.weights.items() if "observation_encoder" not in k},
              str(no_grid / "model.safetensors"))
    (no_grid / "model.json").write_text(json.dumps({k: v for k, v in ckpt.meta.items()}))
    with pytest.raises(InputError, match="no grid observation encoder"):
        widen_stem(no_grid, tmp_path / "out", 16)


def test_a_fine_stem_computes_the_same_and_its_run_learns_to_read_it(exported: Path, tmp_path: Path) -> None:
    written = grow_model(exported, tmp_path / "fine", fine_channels=5, seed=2)
    meta = json.loads(written.read_text())
    assert meta["model_config"]["encoder_options"]["fine_channels"] == 5 and meta["fine_from"]["seed"] == 2
    grown = read_checkpoint(tmp_path / "fine").role_weights("denoiser")
    prefix = "context.observation_encoder."
    assert token_cell(read_checkpoint(exported).role_weights("denoiser"), prefix, (1, 16, 16)) == 4  # FAST: 4 x 1
    assert grown[prefix + "fine_patchify.weight"].shape == (32, 5, 4, 4)
    assert grown[prefix + "fine_patchify.weight"].abs().sum() == 0 and grown[prefix + "fine.0.weight"].abs().sum() > 0
    for before, after in zip(_outputs(exported), _outputs(tmp_path / "fine")):
        assert torch.allclose(before, after, atol=1e-6)
    trained = _trained_from(tmp_path / "fine", tmp_path / "run", encoder_options={"fine_channels": 5})
    assert trained[prefix + "fine_patchify.weight"].abs().sum() > 0  # the fine stem is now read
    with pytest.raises(InputError, match="has a fine stem already"):
        grow_model(tmp_path / "fine", tmp_path / "twice", fine_channels=5)
    assert main([str(exported), str(tmp_path / "zero"), "--fine-channels", "0"]) == 2
    assert not (tmp_path / "twice").exists() and not (tmp_path / "zero").exists()


@pytest.fixture(scope="module")
def exported_ar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run_ar")
    result = run_training(make_domain(), fast_config(steps=10, model="ar"), run, registry=blocks_registry(),
                          log_stream=io.StringIO())
    return export_model(result.checkpoint, run / "model").parent  # type: ignore[arg-type]


def _forward(model_dir: Path, kind: str) -> list[torch.Tensor]:
    """Every output of every model in ``model_dir`` on one fixed batch."""
    bundle = load_bundle(model_dir, make_domain(), blocks_registry(), "cpu")
    batch = fixed_batch(make_domain(), kind)
    with torch.no_grad():
        if kind == "ar":
            return [bundle.ar(batch)]  # type: ignore[misc]
        return [*bundle.denoiser(batch), bundle.value(batch)]  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["diffusion", "ar"])
def test_deepened_model_computes_the_same_and_records_its_depth(kind: str, exported: Path, exported_ar: Path,
                                                                 tmp_path: Path) -> None:
    source = exported if kind == "diffusion" else exported_ar
    written = grow_model(source, tmp_path / "deep", add_layers=2, add_decoder_layers=1, seed=1)
    meta = json.loads(written.read_text())
    assert (meta["model_config"]["n_layers"], meta["model_config"]["n_decoder_layers"]) == (3, 2)
    assert meta["deepened_from"] == {"path": str(source / "model.json"), "seed": 1, "n_layers": 1,
                                     "n_decoder_layers": 1}
    deep = read_checkpoint(tmp_path / "deep")
    roles = ["denoiser", "value"] if kind == "diffusion" else ["ar"]
    assert set(block_prefixes(deep.weights, "context.blocks.").values()) == {3}
    assert len(block_prefixes(deep.weights, "context.blocks.")) == len(roles)
    for before, after in zip(_forward(source, kind), _forward(tmp_path / "deep", kind), strict=True):
        assert torch.allclose(before, after, atol=1e-5)
    qkv = deep.role_weights(roles[0])["context.blocks.2.attn.qkv.weight"]
    assert qkv.abs().sum() > 0 and deep.role_weights(roles[0])["context.blocks.2.mlp.proj.weight"].abs().sum() == 0


def test_a_deepened_run_warm_starts_and_its_new_blocks_learn(exported: Path, tmp_path: Path) -> None:
    grow_model(exported, tmp_path / "deep", add_layers=1)
    trained = _trained_from(tmp_path / "deep", tmp_path / "run", n_layers=2)
    assert trained["context.blocks.1.mlp.proj.weight"].abs().sum() > 0  # the zero output projection moved


def test_growing_nothing_or_too_little_is_refused(exported: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="nothing to grow in model .*expected --stem-channels N, --fine-channels N"):
        grow_model(exported, tmp_path / "none")
    assert main([str(exported), str(tmp_path / "neg"), "--add-layers", "-1"]) == 2
    err = capsys.readouterr().err
    assert "cannot deepen model" in err and "at least 1, got -1" in err
    assert not (tmp_path / "none").exists() and not (tmp_path / "neg").exists()
