"""Training state without pickle: optimizer, lr scheduler and RNG states split into tensors (for
safetensors) and plain values (for the checkpoint JSON), and restored from them for an exact resume."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


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
