"""Checkpoints: atomic safetensors + JSON, pruning, training state without pickle, bundles, mismatches."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engine.blocks_domain import GRAMMAR, make_domain
from tests.engine.trainkit import blocks_registry, fast_config, fixed_batch
from treediff.engine.domains.domain import Domain
from treediff.engine.errors import CheckpointError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.training.bundle import build_models, load_bundle
from treediff.engine.training.checkpoint import read_checkpoint, save_checkpoint
from treediff.engine.training.export import export_model
from treediff.engine.training.recipe import model_config
from treediff.engine.training.rundir import list_checkpoints, resolve
from treediff.engine.training.trainstate import capture_rng, optimizer_state, restore_optimizer, restore_rng
from treediff.engine.trees.tokens import Vocab


def _meta(domain: Domain, kind: str, mcfg: object) -> dict[str, object]:
    g = domain.grammar
    return {"kind": kind, "domain": domain.name, "grammar": {"name": g.name, "fingerprint": g.fingerprint},
            "model_config": mcfg.model_dump(mode="json"), "encoder": "grid"}  # type: ignore[attr-defined]


def _saved(tmp_path: Path, kind: str = "diffusion") -> tuple[Domain, dict[str, torch.nn.Module], Path]:
    torch.manual_seed(0)
    domain = make_domain()
    mcfg = model_config(fast_config())
    models = build_models(kind, mcfg, Vocab(domain.grammar), domain.observation_shape,
                          blocks_registry().encoder("grid"))
    for m in models.values():
        m.eval()
    save_checkpoint(tmp_path / "run", 7, models, None, None, None, _meta(domain, kind, mcfg))
    return domain, models, tmp_path / "run"


def test_save_then_load_gives_the_same_outputs(tmp_path: Path) -> None:
    domain, models, run = _saved(tmp_path)
    bundle = load_bundle(run, domain, blocks_registry())
    assert bundle.kind == "diffusion" and bundle.ar is None and bundle.meta["step"] == 7
    assert bundle.vocab.size == Vocab(domain.grammar).size
    batch = fixed_batch(domain)
    with torch.no_grad():
        for a, b in zip(models["denoiser"](batch), bundle.denoiser(batch), strict=True):  # type: ignore[misc]
            assert torch.equal(a, b)
        assert torch.equal(models["value"](batch), bundle.value(batch))  # type: ignore[misc]


def test_ar_bundle_and_export(tmp_path: Path) -> None:
    domain, models, run = _saved(tmp_path, "ar")
    out = export_model(run, tmp_path / "shipped")
    assert {p.name for p in out.parent.iterdir()} == {"model.json", "model.safetensors"}
    meta = json.loads(out.read_text())
    assert "train_state" not in meta and meta["exported_from"]["step"] == 7
    bundle = load_bundle(tmp_path / "shipped", domain, blocks_registry())
    assert bundle.kind == "ar" and bundle.denoiser is None and bundle.value is None
    batch = fixed_batch(domain, "ar")
    with torch.no_grad():
        assert torch.equal(models["ar"](batch), bundle.ar(batch))  # type: ignore[misc]
    assert bundle.need_ar() is bundle.ar
    with pytest.raises(CheckpointError, match=r"the loaded 'ar' model \(.*step-0000007.json\) has no denoiser; "
                                              r"expected a 'diffusion' model here; hint: .*--model diffusion"):
        bundle.need_denoiser()
    with pytest.raises(CheckpointError, match="has no value network"):
        bundle.need_value()


def test_only_the_newest_checkpoints_are_kept_and_files_are_complete(tmp_path: Path) -> None:
    domain = make_domain()
    layer = torch.nn.Linear(3, 2)
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"value": layer}, None, None, None, {"domain": domain.name}, keep_last=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4, 5]
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-0000004.json", "step-0000004.safetensors", "step-0000004.state.safetensors",
                     "step-0000005.json", "step-0000005.safetensors", "step-0000005.state.safetensors"]
    assert resolve(tmp_path) == tmp_path / "checkpoints" / "step-0000005.json"
    assert resolve(tmp_path / "checkpoints" / "step-0000004.safetensors").name == "step-0000004.json"


def test_mismatched_grammar_or_domain_is_a_clear_error(tmp_path: Path) -> None:
    domain, _, run = _saved(tmp_path)
    other = replace(domain, grammar=Grammar.from_text(GRAMMAR.replace("max: 3", "max: 4"), "blocks2.yaml"))
    with pytest.raises(CheckpointError) as err:
        load_bundle(run, other, blocks_registry())
    text = str(err.value)
    assert domain.grammar.fingerprint in text and other.grammar.fingerprint in text and "retrain" in text
    with pytest.raises(CheckpointError, match="trained for domain 'blocks', not for domain 'shapes'"):
        load_bundle(run, replace(domain, name="shapes"), blocks_registry())


def test_unreadable_checkpoints_are_checkpoint_errors(tmp_path: Path) -> None:
    domain, _, run = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_bundle(tmp_path / "missing.json", domain, blocks_registry())
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        load_bundle(tmp_path, domain, blocks_registry())
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a treediff checkpoint"):
        read_checkpoint(tmp_path / "x.json")
    weights = run / "checkpoints" / "step-0000007.safetensors"
    weights.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_bundle(run, domain, blocks_registry())


def test_optimizer_state_round_trips_through_tensors_and_plain_values() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    for _ in range(3):
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
    tensors, plain = optimizer_state(opt)
    plain = json.loads(json.dumps(plain))  # what the JSON file gives back
    fresh = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters(), lr=0.5)
    restore_optimizer(fresh, tensors, plain)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid in a["state"]:
        for key, value in a["state"][pid].items():
            assert torch.equal(value, b["state"][pid][key])


def test_rng_state_round_trips() -> None:
    tensors, plain = capture_rng()
    plain = json.loads(json.dumps(plain))
    first = (torch.rand(3), random.random(), np.random.rand())
    restore_rng(tensors, plain)
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(first[0], again[0]) and first[1:] == again[1:]
