"""Model cards: how an exported model was made (every training run it grew through) and what it reaches."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from treediff.engine.files import write_text


def hardware(device: torch.device | str) -> str:
    """A one-line description of the machine a run trains on: the GPU's name, or the CPU and its cores."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(device)}"
    return f"CPU {_cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_record(meta: Mapping[str, Any]) -> dict[str, Any]:
    """One training run as the card lists it, from a checkpoint's (or exported model's) metadata."""
    cfg = meta.get("train_config", {}) if isinstance(meta.get("train_config"), dict) else {}
    return {"steps": meta.get("step"), "batch_size": cfg.get("batch_size"), "hours": _hours(meta),
            "hardware": meta.get("hardware", "unknown (not recorded)"), "init_from": meta.get("init_from"),
            "command": meta.get("command"), "saved_at": meta.get("saved_at"),
            "multi_label": cfg.get("multi_label", False), "p_goal": cfg.get("p_goal", 0.0),
            "p_leaf": cfg.get("p_leaf", 0.0), "p_hoist": cfg.get("p_hoist", 0.0),
            "targets": cfg.get("targets", "random"), "p_states": cfg.get("p_states", 0.0),
            "states": cfg.get("states"),
            "sigma_small": cfg.get("sigma_small"), "kind": meta.get("kind", "diffusion"),
            "widened": _widened(meta), "fine": _fine(meta), "deepened": _deepened(meta)}


def _widened(meta: Mapping[str, Any]) -> str | None:
    """``"8->16"`` when the model's grid stem was widened after this run (:mod:`~treediff.engine.training.growth`)."""
    source = meta.get("widened_from")
    if not isinstance(source, dict):
        return None
    now = (meta.get("model_config") or {}).get("encoder_options", {}).get("stem_channels")
    return f"{source.get('stem_channels')}->{now}"


def _fine(meta: Mapping[str, Any]) -> int | None:
    """The fine stem's channels when one was added after this run (:mod:`~treediff.engine.training.growth`)."""
    if not isinstance(meta.get("fine_from"), dict):
        return None
    channels = (meta.get("model_config") or {}).get("encoder_options", {}).get("fine_channels")
    return int(channels) if isinstance(channels, int) else None


def _deepened(meta: Mapping[str, Any]) -> str | None:
    """``"context 2->4, decoder 2->3 blocks"`` when blocks were added after this run
    (:mod:`~treediff.engine.training.growth`)."""
    source = meta.get("deepened_from")
    if not isinstance(source, dict):
        return None
    now = meta.get("model_config") or {}
    parts = [f"{name} {source[field]}->{now.get(field)}" for field, name in
             (("n_layers", "context"), ("n_decoder_layers", "decoder")) if field in source]
    return ", ".join(parts) + " blocks" if parts else None


def _labels(run: Mapping[str, Any]) -> str:
    """How a run labelled the denoiser's pointer (an autoregressive model has no pointer: its target is the
    whole program)."""
    grown = ((f"; then grid stem widened {run['widened']} channels" if run.get("widened") else "")
             + (f"; then a full-resolution stem of {run['fine']} channels added" if run.get("fine") else "")
             + (f"; then deepened: {run['deepened']}" if run.get("deepened") else ""))
    if run.get("kind") == "ar":
        return "whole program" + (", test-like targets" if run.get("targets") == "test" else "") + grown
    labels = "multi-label" if run["multi_label"] else "first edit"
    return (labels + (f", goals {run['p_goal']}" if run["p_goal"] else "")
            + (f", leaf steps {run['p_leaf']}" if run.get("p_leaf") else "")
            + (f", hoists {run['p_hoist']}" if run.get("p_hoist") else "")
            + (", test-like targets" if run.get("targets") == "test" else "")
            + (f", search states {run['p_states']} ({run['states']})" if run.get("p_states") else "")
            + (f", edits of up to {run['sigma_small']} primitives" if run.get("sigma_small") else "") + grown)


def _hours(meta: Mapping[str, Any]) -> float | None:
    seconds = meta.get("train_seconds")
    return round(float(seconds) / 3600, 3) if isinstance(seconds, (int, float)) else None


def lineage_of(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs behind a model: its own recorded lineage followed by the run that produced it."""
    earlier = meta.get("lineage", [])
    return [*(earlier if isinstance(earlier, list) else []), run_record(meta)]


def render_card(meta: Mapping[str, Any], quality: Mapping[str, Any] | None = None,
                eval_summary: str | None = None) -> str:
    """The Markdown card of an exported model (``model.json`` metadata), with optional measurements."""
    runs = lineage_of(meta)
    total_steps = sum(int(r["steps"] or 0) for r in runs)
    hours = [r["hours"] for r in runs]
    total_hours = f"{sum(h for h in hours if h is not None):.2f}" + ("+" if None in hours else "")
    lines = [f"# {meta.get('domain')} {meta.get('kind')} model", "",
             f"{total_steps} optimizer steps over {len(runs)} run(s), {total_hours} hours of training.", "",
             "## How it was made", "", "| run | steps | batch | hours | hardware | labels | command |",
             "|---:|---:|---:|---:|---|---|---|"]
    for i, r in enumerate(runs, 1):
        labels = _labels(r)
        command = f"`{r['command']}`" if r["command"] else "(not recorded)"
        lines.append(f"| {i} | {r['steps']} | {r['batch_size']} | {r['hours'] if r['hours'] is not None else '?'} | "
                     f"{r['hardware']} | {labels} | {command} |")
    lines += ["", "Model config:", "", "```json", json.dumps(meta.get("model_config", {}), indent=1, sort_keys=True),
              "```", "", "Training config of the last run:", "", "```json",
              json.dumps(meta.get("train_config", {}), indent=1, sort_keys=True), "```"]
    validation = meta.get("validation")
    if isinstance(validation, dict) and validation:
        lines += ["", "## Validation (last run's fixed set)", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in sorted(validation.items()) if isinstance(v, (int, float))]
    if quality:
        lines += ["", "## What search needs (bench/edit_quality.py)", "", "```", str(quality.get("table", "")).rstrip(),
                  "```"]
    if eval_summary:
        lines += ["", "## Solve rates (treediff eval)", "", eval_summary.strip()]
    return "\n".join(lines) + "\n"


def write_card(model_dir: str | Path, quality: Mapping[str, Any] | None = None,
               eval_summary: str | None = None) -> Path:
    """Write ``model_dir/CARD.md`` from ``model_dir/model.json`` (atomically); returns its path."""
    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    out = model_dir / "CARD.md"
    write_text(out, render_card(meta, quality, eval_summary))
    return out
