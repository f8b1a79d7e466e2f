"""Model cards: the lineage of warm-started runs, hours and hardware, and the card written at export."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.engine.blocks_domain import make_domain
from tests.engine.trainkit import blocks_registry, fast_config
from treediff.engine.training.checkpoint import read_checkpoint
from treediff.engine.training.export import export_model
from treediff.engine.training.modelcard import lineage_of, render_card, write_card
from treediff.engine.training.train import run_training


def _run(out: Path, steps: int, init: Path | None = None, command: str | None = None) -> Path:
    result = run_training(make_domain(), fast_config(steps=steps), out, registry=blocks_registry(),
                          log_stream=io.StringIO(), init=init, command=command)
    assert result.checkpoint is not None
    return export_model(result.checkpoint, out / "model").parent


def test_a_warm_started_model_lists_every_run_it_grew_through(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", 10, command="treediff train blocks --steps 10")
    second = _run(tmp_path / "b", 5, init=first, command="treediff train blocks --init a/model --steps 5")
    meta = read_checkpoint(second).meta
    runs = lineage_of(meta)
    assert [r["steps"] for r in runs] == [10, 5]
    assert runs[0]["command"] == "treediff train blocks --steps 10" and runs[1]["init_from"] == str(first)
    assert all(r["hours"] is not None and r["hours"] >= 0 and "CPU" in r["hardware"] for r in runs)
    card = render_card(meta)
    assert "15 optimizer steps over 2 run(s)" in card
    assert "`treediff train blocks --init a/model --steps 5`" in card and "multi-label" in card


def test_card_embeds_measurements_and_is_written_next_to_the_weights(tmp_path: Path) -> None:
    model = _run(tmp_path / "a", 10)
    path = write_card(model, {"table": "length pairs greedy\n    1    3  33.3%"}, "| method | solved % |")
    text = path.read_text()
    assert path == model / "CARD.md"
    assert "33.3%" in text and "| method | solved % |" in text and "(not recorded)" in text
    assert json.loads((model / "model.json").read_text())["step"] == 10


def test_old_models_without_records_still_get_a_card() -> None:
    card = render_card({"domain": "csg2d", "kind": "diffusion", "step": 100, "train_config": {"batch_size": 32}})
    assert "100 optimizer steps over 1 run(s)" in card and "unknown (not recorded)" in card and "0.00+ hours" in card


def test_an_ar_card_names_its_target_and_the_thread_count_the_run_used() -> None:
    meta = {"domain": "csg2d", "kind": "ar", "step": 7, "hardware": "CPU x, 2 cores, 1 torch threads",
            "train_config": {"batch_size": 32, "multi_label": True, "p_goal": 0.05, "threads": 1}}
    card = render_card(meta)
    assert "| whole program |" in card and "multi-label" not in card
    meta["train_config"]["targets"] = "test"
    assert "| whole program, test-like targets |" in render_card(meta)


def test_the_recorded_hardware_names_the_configured_thread_count(tmp_path: Path) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        meta = read_checkpoint(_run(tmp_path / "a", 2)).meta
    finally:
        torch.set_num_threads(before)
    assert meta["hardware"].endswith(f"{meta['train_config']['threads']} torch threads")


def test_a_run_with_leaf_step_noise_says_so_in_its_labels() -> None:
    def card(cfg: dict) -> str:
        return render_card({"domain": "csg2d", "kind": "diffusion", "step": 7, "train_config": cfg})

    base = {"batch_size": 32, "multi_label": True, "p_goal": 0.05}
    assert "| multi-label, goals 0.05, leaf steps 0.3 |" in card({**base, "p_leaf": 0.3})
    assert "leaf steps" not in card(base) and "leaf steps" not in card({**base, "p_leaf": 0.0})


def test_a_run_on_test_like_targets_says_so_in_its_labels() -> None:
    def card(cfg: dict) -> str:
        return render_card({"domain": "csg2d", "kind": "diffusion", "step": 7, "train_config": cfg})

    base = {"batch_size": 32, "multi_label": True, "p_goal": 0.05, "p_leaf": 0.3}
    assert "| multi-label, goals 0.05, leaf steps 0.3, test-like targets |" in card({**base, "targets": "test"})
    assert "test-like" not in card(base) and "test-like" not in card({**base, "targets": "random"})


def test_a_run_on_search_states_names_their_share_and_file_in_its_labels() -> None:
    def card(cfg: dict) -> str:
        return render_card({"domain": "tinysvg", "kind": "diffusion", "step": 7, "train_config": cfg})

    base = {"batch_size": 32, "multi_label": True, "p_goal": 0.05}
    assert "| multi-label, goals 0.05, search states 0.5 (runs/s.jsonl) |" in card(
        {**base, "p_states": 0.5, "states": "runs/s.jsonl"})
    assert "search states" not in card(base)


def test_wider_edits_and_a_widened_stem_show_in_the_labels() -> None:
    base = {"batch_size": 32, "multi_label": True, "p_goal": 0.05}
    wide = render_card({"domain": "tinysvg", "kind": "diffusion", "step": 7, "train_config": base,
                        "widened_from": {"stem_channels": 8},
                        "model_config": {"encoder_options": {"stem_channels": 16}}})
    assert "| multi-label, goals 0.05; then grid stem widened 8->16 channels |" in wide
    edits = render_card({"domain": "tinysvg", "kind": "diffusion", "step": 7,
                         "train_config": {**base, "sigma_small": 3}})
    assert "| multi-label, goals 0.05, edits of up to 3 primitives |" in edits
    plain = render_card({"domain": "tinysvg", "kind": "diffusion", "step": 7, "train_config": base})
    assert "widened" not in plain and "edits of up to" not in plain and "deepened" not in plain
    deep = render_card({"domain": "tinysvg", "kind": "diffusion", "step": 7, "train_config": base,
                        "deepened_from": {"n_layers": 2, "n_decoder_layers": 2},
                        "model_config": {"n_layers": 4, "n_decoder_layers": 3}})
    assert "| multi-label, goals 0.05; then deepened: context 2->4, decoder 2->3 blocks |" in deep
    ar = render_card({"domain": "tinysvg", "kind": "ar", "step": 7, "train_config": {**base, "targets": "test"},
                      "deepened_from": {"n_decoder_layers": 2}, "model_config": {"n_decoder_layers": 4}})
    assert "| whole program, test-like targets; then deepened: decoder 2->4 blocks |" in ar
    fine = render_card({"domain": "tinysvg", "kind": "ar", "step": 7, "train_config": {**base, "targets": "test"},
                        "fine_from": {"seed": 1}, "model_config": {"encoder_options": {"fine_channels": 8}}})
    assert "| whole program, test-like targets; then a full-resolution stem of 8 channels added |" in fine
    assert "full-resolution" not in plain


def test_a_run_with_hoists_says_so_in_its_labels() -> None:
    cfg = {"batch_size": 32, "multi_label": True, "p_goal": 0.05, "p_leaf": 0.3, "p_hoist": 0.2}
    card = render_card({"domain": "csg2d", "kind": "diffusion", "step": 7, "train_config": cfg})
    assert "| multi-label, goals 0.05, leaf steps 0.3, hoists 0.2 |" in card
