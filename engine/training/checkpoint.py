"""Checkpoint files: safetensors weights + JSON metadata (validated against :class:`CheckpointMeta`).

A checkpoint of step N in ``RUN_DIR/checkpoints`` is three files, each written atomically:
``step-0000N.safetensors`` (model weights, keys prefixed ``denoiser.`` / ``value.`` / ``ar.``),
``step-0000N.state.safetensors`` (optimizer tensors and RNG states) and ``step-0000N.json`` (metadata:
config, model kind, domain, grammar fingerprint, step, package versions, plus the plain-valued
training state). The JSON is written last, so a checkpoint exists exactly when its JSON does.
A shipped model is a ``model.safetensors`` + ``model.json`` pair without the training state.
Run-directory layout: :mod:`treediff.engine.training.rundir`; training state: :mod:`.trainstate`; the
model factory and bundles: :mod:`.bundle`; export: :mod:`.export`.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from treediff.engine.errors import CheckpointError
from treediff.engine.files import write_atomic, write_json
from treediff.engine.training.rundir import checkpoint_dir, prune, resolve, state_path, step_stem
from treediff.engine.training.trainstate import optimizer_state, scheduler_state

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain

FORMAT = "treediff-checkpoint"
FORMAT_VERSION = 1
MODEL_ROLES = {"diffusion": ("denoiser", "value"), "ar": ("ar",)}


class GrammarStamp(BaseModel):
    """Which grammar a checkpoint was trained on."""

    model_config = ConfigDict(extra="allow")

    name: str
    fingerprint: str


class CheckpointMeta(BaseModel):
    """The checkpoint JSON (``step-*.json`` or ``model.json``): the fields the engine reads are checked,
    the rest (versions, train_config, validation, ...) is kept as written."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    format: Literal["treediff-checkpoint"]
    format_version: int = Field(ge=1, le=FORMAT_VERSION)
    kind: Literal["diffusion", "ar"]
    domain: str
    grammar: GrammarStamp
    model: dict[str, Any] = Field(alias="model_config")
    step: int = Field(ge=0)
    encoder: str | None = None
    train_config: dict[str, Any] | None = None
    train_state: dict[str, Any] | None = None


def validate_meta(meta: Any, source: Path) -> dict[str, Any]:
    """``meta`` checked against :class:`CheckpointMeta`; CheckpointError naming the file, the first bad
    field and what was expected."""
    if isinstance(meta, dict) and meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(source)!r} is not a treediff checkpoint (its format is {meta.get('format')!r}); "
                              f"expected format {FORMAT!r}, as written by `treediff train`")
    try:
        CheckpointMeta.model_validate(meta)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(the whole file)"
        got = err.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        more = f" ({exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise CheckpointError(f"checkpoint metadata {str(source)!r} is invalid at field {where!r}: "
                              f"{err['msg'][0].lower()}{err['msg'][1:]} (found {shown}){more}; expected the JSON "
                              "written by `treediff train` or `treediff train --export`. hint: re-export or "
                              "retrain the model rather than editing its JSON") from None
    return dict(meta)


def write_tensors(target: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """Write ``tensors`` (moved to CPU, contiguous, unshared) as safetensors to ``target`` atomically."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    write_atomic(target, lambda tmp: save_file(flat, str(tmp)))


def versions() -> dict[str, str]:
    """Versions of the packages a checkpoint depends on."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for dist in ("treediff", "safetensors", "pydantic"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def save_checkpoint(run_dir: Path, step: int, models: Mapping[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer | None, scheduler: Any, rng_state: tuple[dict[str, Any],
                    dict[str, Any]] | None, meta: Mapping[str, Any], keep_last: int = 3,
                    extra_state: Mapping[str, Any] | None = None) -> Path:
    """Write checkpoint ``step`` of ``run_dir`` atomically and prune all but the newest ``keep_last``.

    ``models`` maps roles ("denoiser", "value", "ar") to modules (unwrapped, not DDP); ``rng_state``
    is :func:`capture_rng`'s pair; ``meta`` must hold at least kind, domain, grammar (name and
    fingerprint) and model_config. ``extra_state`` (plain values) lands in the JSON's ``train_state``.
    Returns the JSON path.
    """
    checkpoint_dir(run_dir).mkdir(parents=True, exist_ok=True)
    stem = step_stem(run_dir, step)
    weights = {f"{role}.{k}": v for role, module in models.items() for k, v in module.state_dict().items()}
    write_tensors(stem.with_suffix(".safetensors"), weights)
    state_tensors: dict[str, torch.Tensor] = {}
    train_state: dict[str, Any] = dict(extra_state or {})
    if optimizer is not None:
        opt_tensors, train_state["optimizer"] = optimizer_state(optimizer)
        state_tensors.update(opt_tensors)
    train_state["scheduler"] = scheduler_state(scheduler)
    if rng_state is not None:
        state_tensors.update(rng_state[0])
        train_state["rng"] = rng_state[1]
    json_path: Path = stem.with_suffix(".json")
    write_tensors(state_path(json_path), state_tensors)
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "step": step,
              "roles": list(models), "versions": versions(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "train_state": train_state}
    write_json(json_path, record, indent=1, sort_keys=True)
    prune(run_dir, keep_last)
    return json_path


@dataclass
class Checkpoint:
    """One checkpoint read from disk: metadata, model weights and (when present) training-state tensors."""

    path: Path  # the JSON file
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor]

    def role_weights(self, role: str) -> dict[str, torch.Tensor]:
        """The weights of one model role, prefix removed."""
        prefix = role + "."
        return {k[len(prefix):]: v for k, v in self.weights.items() if k.startswith(prefix)}


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu", with_state: bool = False) -> Checkpoint:
    """Read the checkpoint ``path`` names (see :func:`treediff.engine.training.rundir.resolve`); CheckpointError
    if it is unreadable or its metadata is not what :class:`CheckpointMeta` expects."""
    json_path = resolve(path)
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint metadata {str(json_path)!r} is unreadable: {exc}; expected the JSON "
                              "written next to the weights by `treediff train`") from None
    meta = validate_meta(raw, json_path)
    weights = _load(json_path.with_suffix(".safetensors"), device)
    state = _load(state_path(json_path), "cpu") if with_state and state_path(json_path).exists() else {}
    return Checkpoint(json_path, meta, weights, state)


def _load(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except (OSError, SafetensorError, ValueError) as exc:
        raise CheckpointError(f"checkpoint weights {str(path)!r} are unreadable: {exc}; expected a safetensors "
                              "file written by `treediff train`") from None


def check_compatible(meta: Mapping[str, Any], domain: Domain, source: str) -> None:
    """CheckpointError naming both sides when a checkpoint was trained for another domain or grammar."""
    grammar = meta.get("grammar", {})
    if meta.get("domain") != domain.name:
        raise CheckpointError(f"checkpoint {source!r} was trained for domain {meta.get('domain')!r}, not for "
                              f"domain {domain.name!r}; hint: pass a checkpoint trained on {domain.name!r}")
    if grammar.get("fingerprint") != domain.grammar.fingerprint:
        raise CheckpointError(
            f"checkpoint {source!r} was trained on grammar {grammar.get('name')!r} (fingerprint "
            f"{grammar.get('fingerprint')}), but domain {domain.name!r} now uses grammar {domain.grammar.name!r} "
            f"(fingerprint {domain.grammar.fingerprint}); the token vocabularies differ. hint: retrain with "
            f"`treediff train {domain.name}`")
