"""Function-preserving widening of a trained model's grid-encoder stem: more stem channels, the same outputs.

A warm start (``treediff train --init``) needs the same architecture, so a model that has trained for hours
could not grow its observation encoder without starting over. :func:`widen_stem` writes a copy of an exported
model (or checkpoint) whose ``grid`` encoders have ``stem_channels`` channels instead of their old ``c``, in
the manner of Net2WiderNet: the old filters are kept, the new stem filters are drawn at random with the old
filters' scale, and every weight that *reads* a new channel from an old output path starts at zero::

    stem.0   [c, C_in, 3, 3] -> [n, C_in, 3, 3]   rows c.. new, random
    stem.2   [c, c, 3, 3]    -> [n, n, 3, 3]      [:c, c:] zero (old outputs ignore new inputs), rows c.. random
    patchify [d, c, p, p]    -> [d, n, p, p]      columns c.. zero

so the widened model computes exactly what the original did, and training then grows the new channels
(their patchify columns get gradients from the first step). Then train with
``model_overrides: {encoder_options: {stem_channels: n}}`` and ``--init`` the widened copy::

    python -m treediff.engine.training.widen plugins/tinysvg/model runs/wide/init --stem-channels 16
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import torch

from treediff.engine.errors import InputError, TreediffError
from treediff.engine.files import write_json
from treediff.engine.training.checkpoint import read_checkpoint, write_tensors

STEM_IN, STEM_OUT, PATCHIFY = "stem.0.", "stem.2.", "patchify."


def encoder_prefixes(weights: dict[str, torch.Tensor]) -> list[str]:
    """Key prefixes (ending in ``.``) of every grid encoder in ``weights``: those holding a ``stem.0.weight``."""
    return sorted(k[:-len(STEM_IN + "weight")] for k in weights if k.endswith(STEM_IN + "weight"))


def _like(shape: tuple[int, ...], ref: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random values of ``shape`` with ``ref``'s standard deviation (normal, mean 0), in ``ref``'s dtype."""
    std = float(ref.float().std()) if ref.numel() > 1 else 0.02
    return (torch.randn(shape, generator=generator) * std).to(ref.dtype)


def widen_encoder(weights: dict[str, torch.Tensor], prefix: str, channels: int,
                  generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The weights of the grid encoder under ``prefix`` widened to ``channels`` stem channels (see the module
    docstring); the other entries of ``weights`` are returned unchanged. ValueError unless ``channels`` is more
    than the encoder has."""
    w0, b0 = weights[prefix + STEM_IN + "weight"], weights[prefix + STEM_IN + "bias"]  # [c, Cin, k, k], [c]
    w2, b2 = weights[prefix + STEM_OUT + "weight"], weights[prefix + STEM_OUT + "bias"]  # [c, c, k, k], [c]
    wp = weights[prefix + PATCHIFY + "weight"]  # [d, c, p, p]
    c, n = w0.shape[0], channels
    if n <= c:
        raise ValueError(f"the grid encoder {prefix!r} has {c} stem channels; widening needs more, got {n}")
    new_w0 = torch.cat([w0, _like((n - c, *w0.shape[1:]), w0, generator)])  # [n, Cin, k, k]
    new_w2 = torch.zeros((n, n, *w2.shape[2:]), dtype=w2.dtype)  # [n, n, k, k]
    new_w2[:c, :c] = w2
    new_w2[c:] = _like((n - c, n, *w2.shape[2:]), w2, generator)
    new_wp = torch.cat([wp, torch.zeros((wp.shape[0], n - c, *wp.shape[2:]), dtype=wp.dtype)], dim=1)  # [d, n, p, p]
    out = dict(weights)
    out.update({prefix + STEM_IN + "weight": new_w0, prefix + STEM_IN + "bias": torch.cat([b0, b0.new_zeros(n - c)]),
                prefix + STEM_OUT + "weight": new_w2, prefix + STEM_OUT + "bias": torch.cat([b2, b2.new_zeros(n - c)]),
                prefix + PATCHIFY + "weight": new_wp})
    return out


def widen_stem(path: str | Path, out_dir: str | Path, channels: int, seed: int = 0) -> Path:
    """Write ``out_dir/model.{safetensors,json}``: the model at ``path`` with every grid encoder widened to
    ``channels`` stem channels and ``encoder_options.stem_channels`` recorded in its config. Returns the JSON
    path. InputError if the model has no grid encoder or already has that many channels or more."""
    ckpt = read_checkpoint(path)
    prefixes = encoder_prefixes(ckpt.weights)
    if not prefixes:
        raise InputError(f"model {str(ckpt.path)!r} has no grid observation encoder (encoder "
                         f"{ckpt.meta.get('encoder')!r}); expected a model of an image or grid domain")
    generator = torch.Generator().manual_seed(seed)
    weights = dict(ckpt.weights)
    try:
        for prefix in prefixes:
            weights = widen_encoder(weights, prefix, channels, generator)
    except ValueError as exc:
        raise InputError(f"cannot widen model {str(ckpt.path)!r}: {exc}; hint: pass a larger --stem-channels") from None
    meta: dict[str, Any] = {k: copy.deepcopy(v) for k, v in ckpt.meta.items() if k != "train_state"}
    old = int(ckpt.weights[prefixes[0] + STEM_IN + "weight"].shape[0])
    meta["model_config"] = {**meta["model_config"],
                            "encoder_options": {**meta["model_config"].get("encoder_options", {}),
                                                "stem_channels": channels}}
    meta["widened_from"] = {"path": str(ckpt.path), "stem_channels": old, "seed": seed}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "model.safetensors", weights)
    write_json(out / "model.json", meta, indent=1, sort_keys=True)
    return out / "model.json"


def main(argv: list[str] | None = None) -> int:
    """``python -m treediff.engine.training.widen MODEL OUT_DIR --stem-channels N [--seed S]``."""
    p = argparse.ArgumentParser(prog="python -m treediff.engine.training.widen",
                                description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("model", help="an exported model folder, model.json or checkpoint")
    p.add_argument("out_dir", help="folder for the widened model.safetensors and model.json")
    p.add_argument("--stem-channels", type=int, required=True)
    p.add_argument("--seed", type=int, default=0, help="seeds the new filters")
    args = p.parse_args(argv)
    try:
        written = widen_stem(args.model, args.out_dir, args.stem_channels, args.seed)
    except TreediffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
