"""Export: a checkpoint's weights and metadata, without the training state, as a shippable model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treediff.engine.files import write_json
from treediff.engine.training.checkpoint import read_checkpoint, write_tensors
from treediff.engine.training.trainlog import read_metrics


def export_model(path: str | Path, out_dir: str | Path) -> Path:
    """Copy a checkpoint's weights and metadata (no training state) to ``out_dir/model.{safetensors,json}``."""
    ckpt = read_checkpoint(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "model.safetensors", ckpt.weights)
    meta = {k: v for k, v in ckpt.meta.items() if k != "train_state"}
    meta["exported_from"] = {"path": str(ckpt.path), "step": ckpt.meta.get("step")}
    validation = _validation_at(ckpt.path.parent.parent, ckpt.meta.get("step"))
    if validation:
        meta["validation"] = validation
    write_json(out / "model.json", meta, indent=1, sort_keys=True)
    return out / "model.json"


def _validation_at(run_dir: Path, step: Any) -> dict[str, float]:
    """The ``val_*`` metrics a run logged at ``step`` (empty when there are none)."""
    for record in read_metrics(run_dir):
        if record.get("step") == step and any(k.startswith("val_") for k in record):
            return {k: v for k, v in record.items() if k.startswith("val_")}
    return {}
