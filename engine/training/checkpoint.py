"""Checkpoints: safetensors weights + JSON metadata, training state without pickle, and model bundles.

A checkpoint of step N in ``RUN_DIR/checkpoints`` is three files, each written atomically:
``step-0000N.safetensors`` (model weights, keys prefixed ``denoiser.`` / ``value.`` / ``ar.``),
``step-0000N.state.safetensors`` (optimizer tensors and RNG states) and ``step-0000N.json`` (metadata:
config, model kind, domain, grammar fingerprint, step, package versions, plus the plain-valued
training state). The JSON is written last, so a checkpoint exists exactly when its JSON does.
A shipped model is a ``model.safetensors`` + ``model.json`` pair without the training state.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from treediff.engine.errors import CheckpointError

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain
    from treediff.engine.domains.registry import Registry
    from treediff.engine.trees.tokens import Vocab

FORMAT = "treediff-checkpoint"
FORMAT_VERSION = 1
_STEP_FILE = re.compile(r"^step-(\d+)\.json$")
MODEL_ROLES = {"diffusion": ("denoiser", "value"), "ar": ("ar",)}


# -- atomic files -------------------------------------------------------------------------------


def _atomic(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; checkpoints are shared artefacts
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``target`` atomically."""
    text = json.dumps(data, indent=1, sort_keys=True, default=_json_default) + "\n"
    _atomic(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_tensors(target: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """Write ``tensors`` (moved to CPU, contiguous, unshared) as safetensors to ``target`` atomically."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    _atomic(target, lambda tmp: save_file(flat, tmp))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata")


# -- optimizer, scheduler and RNG state as tensors + plain values --------------------------------


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``optim.<param>.<key>``) and plain values."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                plain_state.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain_state}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                      plain: Mapping[str, Any]) -> None:
    """Inverse of :func:`optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in plain["plain_state"].items():
        state.setdefault(int(pid), {}).update(entry)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in plain["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def scheduler_state(scheduler: Any) -> dict[str, Any]:
    """The JSON-storable part of an lr scheduler's state (lambdas are rebuilt by the trainer)."""
    if scheduler is None:
        return {}
    return {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}


def capture_rng(devices: tuple[torch.device, ...] = ()) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The process-wide RNG states (torch CPU and CUDA as tensors; Python and NumPy as plain values).

    The engine draws from explicit generators; these global states matter for dropout and for any
    library that uses them, and are saved so a resumed run replays exactly.
    """
    tensors = {"rng.torch": torch.get_rng_state()}
    for dev in devices:
        if dev.type == "cuda":
            tensors[f"rng.cuda.{dev.index or 0}"] = torch.cuda.get_rng_state(dev)
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    plain = {"python": [version, list(internal), gauss],
             "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]}
    return tensors, plain


def restore_rng(tensors: Mapping[str, torch.Tensor], plain: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["rng.torch"])
    for name, value in tensors.items():
        if name.startswith("rng.cuda.") and torch.cuda.is_available():
            torch.cuda.set_rng_state(value, torch.device("cuda", int(name.rsplit(".", 1)[1])))
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


# -- run directories ------------------------------------------------------------------------------


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


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run keeps its checkpoints."""
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, json path) of every complete checkpoint of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _STEP_FILE.match(path.name)
        if m and path.with_suffix(".safetensors").exists():
            found.append((int(m.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The JSON of a run's newest complete checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


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
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"step-{step:07d}"
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
    write_tensors(Path(f"{stem}.state.safetensors"), state_tensors)
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "step": step,
              "roles": list(models), "versions": versions(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "train_state": train_state}
    write_json(stem.with_suffix(".json"), record)
    prune(run_dir, keep_last)
    return stem.with_suffix(".json")


def prune(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints (JSON first, so none is left half-valid)."""
    for _, path in list_checkpoints(run_dir)[:-keep_last]:
        for target in (path, path.with_suffix(".safetensors"), Path(str(path.with_suffix("")) + ".state.safetensors")):
            target.unlink(missing_ok=True)


# -- reading --------------------------------------------------------------------------------------


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


def resolve(path: str | Path) -> Path:
    """The checkpoint JSON that ``path`` names: a run directory (its latest checkpoint), a directory with
    ``model.json``, a ``.json`` file, or a weights ``.safetensors`` file next to its JSON."""
    p = Path(path)
    if p.is_dir():
        if (p / "model.json").exists():
            return p / "model.json"
        latest = latest_checkpoint(p)
        if latest is None:
            raise CheckpointError(f"checkpoint directory {str(p)!r} holds no checkpoint; expected a run "
                                  "directory with checkpoints/step-*.json or a folder with model.json. hint: train "
                                  "one with `treediff train DOMAIN --out RUN_DIR`")
        return latest
    if p.suffix == ".safetensors":
        p = Path(str(p).removesuffix(".state.safetensors").removesuffix(".safetensors") + ".json")
    if not p.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; expected a run directory, a checkpoint "
                              ".json or its .safetensors file")
    return p


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu", with_state: bool = False) -> Checkpoint:
    """Read the checkpoint ``path`` names (see :func:`resolve`); CheckpointError if it is unreadable."""
    json_path = resolve(path)
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint metadata {str(json_path)!r} is unreadable: {exc}; expected the JSON "
                              "written next to the weights by `treediff train`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{str(json_path)!r} is not a treediff checkpoint (its format is {found!r}); expected "
                              f"format {FORMAT!r}, as written by `treediff train`")
    weights = _load(json_path.with_suffix(".safetensors"), device)
    state_path = Path(str(json_path.with_suffix("")) + ".state.safetensors")
    state = _load(state_path, "cpu") if with_state and state_path.exists() else {}
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


def export_model(path: str | Path, out_dir: str | Path) -> Path:
    """Copy a checkpoint's weights and metadata (no training state) to ``out_dir/model.{safetensors,json}``."""
    ckpt = read_checkpoint(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "model.safetensors", ckpt.weights)
    meta = {k: v for k, v in ckpt.meta.items() if k != "train_state"}
    meta["exported_from"] = {"path": str(ckpt.path), "step": ckpt.meta.get("step")}
    validation = _validation_at(ckpt.path.parent.parent / "metrics.jsonl", ckpt.meta.get("step"))
    if validation:
        meta["validation"] = validation
    write_json(out / "model.json", meta)
    return out / "model.json"


def _validation_at(metrics: Path, step: Any) -> dict[str, float]:
    """The ``val_*`` metrics a run logged at ``step`` (empty when there are none)."""
    if not metrics.exists():
        return {}
    for line in metrics.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("step") == step and any(k.startswith("val_") for k in record):
            return {k: v for k, v in record.items() if k.startswith("val_")}
    return {}


# -- bundles ----------------------------------------------------------------------------------------


@dataclass
class ModelBundle:
    """Trained models ready for search: ``kind`` "diffusion" (denoiser + value) or "ar" (ar)."""

    kind: str
    denoiser: torch.nn.Module | None
    value: torch.nn.Module | None
    ar: torch.nn.Module | None
    vocab: Vocab
    config: Any  # treediff.engine.models.config.ModelConfig
    meta: dict[str, Any]
    device: torch.device


def build_models(kind: str, config: Any, vocab: Vocab, observation_shape: tuple[int, ...],
                 encoder_factory: Any) -> dict[str, torch.nn.Module]:
    """Fresh models of ``kind`` by role (the set a checkpoint of that kind stores)."""
    if kind == "diffusion":
        from treediff.engine.models.denoiser import Denoiser
        from treediff.engine.models.value import ValueNet

        return {"denoiser": Denoiser(config, vocab, observation_shape, encoder_factory),
                "value": ValueNet(config, vocab, observation_shape, encoder_factory)}
    if kind == "ar":
        from treediff.engine.models.autoregressive import ARModel

        return {"ar": ARModel(config, vocab, observation_shape, encoder_factory)}
    raise CheckpointError(f"unknown model kind {kind!r}; expected one of: {', '.join(MODEL_ROLES)}")


def load_models(ckpt: Checkpoint, models: Mapping[str, torch.nn.Module]) -> None:
    """Load a checkpoint's weights into ``models`` (strict); CheckpointError on a shape or key mismatch."""
    for role, module in models.items():
        try:
            module.load_state_dict(ckpt.role_weights(role), strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0:3]
            raise CheckpointError(f"checkpoint {str(ckpt.path)!r} does not fit the {role} model: {' '.join(first)}; "
                                  "expected weights saved by the same treediff model code") from None


def load_bundle(path: str | Path, domain: Domain, device: str | torch.device = "cpu",
                registry: Registry | None = None) -> ModelBundle:
    """Load the models a checkpoint holds for ``domain``, in eval mode on ``device``.

    ``path`` is a run directory (its latest checkpoint), a folder with ``model.json``, or a checkpoint
    file. CheckpointError when it is unreadable or was trained for another domain or grammar.
    """
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.models.config import ModelConfig
    from treediff.engine.trees.tokens import Vocab

    ckpt = read_checkpoint(path, device="cpu")
    check_compatible(ckpt.meta, domain, str(ckpt.path))
    kind = ckpt.meta.get("kind")
    if kind not in MODEL_ROLES:
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} has model kind {kind!r}; expected one of: "
                              f"{', '.join(MODEL_ROLES)}")
    try:
        config = ModelConfig.model_validate(ckpt.meta["model_config"])
    except Exception as exc:  # noqa: BLE001 - any validation failure is a checkpoint problem
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} has an invalid model_config: {exc}") from None
    registry = registry or load_registry()
    encoder = registry.encoder(ckpt.meta.get("encoder", domain.observation_encoder))
    vocab = Vocab(domain.grammar)
    models = build_models(kind, config, vocab, tuple(domain.observation_shape), encoder)
    load_models(ckpt, models)
    dev = torch.device(device)
    for module in models.values():
        module.to(dev).eval()
    return ModelBundle(kind, models.get("denoiser"), models.get("value"), models.get("ar"), vocab, config,
                       ckpt.meta, dev)


def describe(meta: Mapping[str, Any]) -> str:
    """One line about a checkpoint for logs: kind, domain, step and when it was saved."""
    return (f"{meta.get('kind')} model for {meta.get('domain')} (grammar {meta.get('grammar', {}).get('name')}), "
            f"step {meta.get('step')}, saved {meta.get('saved_at')} with torch {meta.get('versions', {}).get('torch')}")
