"""Function-preserving growth of a trained model: a wider grid-encoder stem or a deeper context encoder.

A warm start (``treediff train --init``) needs the same architecture, so a model that has trained for hours
could not grow without starting over. This module writes a grown copy of an exported model (or checkpoint)
that computes exactly what the original did; training then grows the new parts.

**Wider stem** (:func:`widen_stem`), in the manner of Net2WiderNet: every ``grid`` encoder gets
``stem_channels`` channels instead of its old ``c``. The old filters are kept, the new stem filters are
drawn at random with the old filters' scale, and every weight that *reads* a new channel from an old
output path starts at zero::

    stem.0   [c, C_in, 3, 3] -> [n, C_in, 3, 3]   rows c.. new, random
    stem.2   [c, c, 3, 3]    -> [n, n, 3, 3]      [:c, c:] zero (old outputs ignore new inputs), rows c.. random
    patchify [d, c, p, p]    -> [d, n, p, p]      columns c.. zero

**Fine stem** (:func:`add_fine_stem`): every ``grid`` encoder gets a second stem at full resolution
(``fine_channels``; see ``GridEncoder``). Its convolutions are drawn at random with the first stem's scale and
its patchify convolution, the only path from it into the tokens, starts at zero::

    fine.0          [f, C_in, 3, 3]   random     fine.2 [f, f, 3, 3]   random
    fine_patchify   [d, f, s, s]      zero       (s: cells per token side, read off the row embeddings)

**Deeper** (:func:`deepen`): every context encoder (``*.context.blocks.*``) or decoder (``*.decoder.blocks.*``)
gets ``k`` more pre-norm blocks after its last one. A new block's input projections are drawn like a fresh
block's (normal, std 0.02) and its output projections (``attn.proj``, ``cross.proj``, ``mlp.proj``) start at
zero, so the block adds nothing to the residual stream until training moves them (they get gradients from
the first step).

Then train with the matching ``model_overrides`` (``{encoder_options: {stem_channels: n}}``,
``{encoder_options: {fine_channels: f}}``,
``{n_layers: L}``, ``{n_decoder_layers: L}``) and ``--init`` the grown copy::

    python -m treediff.engine.training.growth plugins/tinysvg/model runs/deep/init --add-layers 2
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from treediff.engine.errors import InputError, TreediffError
from treediff.engine.files import write_json
from treediff.engine.training.checkpoint import read_checkpoint, write_tensors

STEM_IN, STEM_OUT, PATCHIFY = "stem.0.", "stem.2.", "patchify."
FINE_IN, FINE_OUT, FINE_PATCHIFY = "fine.0.", "fine.2.", "fine_patchify."
BLOCK_LISTS = {"n_layers": "context.blocks.", "n_decoder_layers": "decoder.blocks."}  # config field -> weights
ZERO_OUTPUTS = ("attn.proj.", "cross.proj.", "mlp.proj.")  # what a block adds to the residual stream


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


def token_cell(weights: dict[str, torch.Tensor], prefix: str, observation_shape: tuple[int, ...]) -> int:
    """Cells per token side of the grid encoder under ``prefix`` (stem stride x patch size): the smallest stride
    whose token grid matches the encoder's row and column embeddings. ValueError when none does."""
    patch = int(weights[prefix + PATCHIFY + "weight"].shape[-1])
    rows, cols = int(weights[prefix + "row"].shape[0]), int(weights[prefix + "col"].shape[1])
    height, width = observation_shape[-2:]
    for stride in range(1, max(height, width) + 1):
        grid = (math.ceil(math.ceil(height / stride) / patch), math.ceil(math.ceil(width / stride) / patch))
        if grid == (rows, cols):
            return stride * patch
    raise ValueError(f"its {rows}x{cols} tokens fit no stem stride for {height}x{width} cells and patch {patch}")


def add_fine_stem(weights: dict[str, torch.Tensor], prefix: str, channels: int, observation_shape: tuple[int, ...],
                  generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The weights of the grid encoder under ``prefix`` with a full-resolution stem of ``channels`` channels
    added (see the module docstring); ValueError if it has one already or ``channels`` < 1."""
    if channels < 1:
        raise ValueError(f"the fine stem needs at least 1 channel, got {channels}")
    if prefix + FINE_IN + "weight" in weights:
        raise ValueError(f"the grid encoder {prefix!r} has a fine stem already")
    w0, w2 = weights[prefix + STEM_IN + "weight"], weights[prefix + STEM_OUT + "weight"]  # [c, Cin, k, k], [c, c, k, k]
    d, cell = int(weights[prefix + PATCHIFY + "weight"].shape[0]), token_cell(weights, prefix, observation_shape)
    out = dict(weights)
    out.update({prefix + FINE_IN + "weight": _like((channels, *w0.shape[1:]), w0, generator),
                prefix + FINE_IN + "bias": w0.new_zeros(channels),
                prefix + FINE_OUT + "weight": _like((channels, channels, *w2.shape[2:]), w2, generator),
                prefix + FINE_OUT + "bias": w2.new_zeros(channels),
                prefix + FINE_PATCHIFY + "weight": w0.new_zeros((d, channels, cell, cell)),
                prefix + FINE_PATCHIFY + "bias": w0.new_zeros(d)})
    return out


def block_prefixes(weights: dict[str, torch.Tensor], blocks: str) -> dict[str, int]:
    """Each block list's prefix (``"denoiser.context.blocks."`` for ``blocks="context.blocks."``) and its
    number of blocks."""
    found: dict[str, int] = {}
    for key in weights:
        head, sep, rest = key.partition(blocks)
        index = rest.split(".", 1)[0]
        if sep and index.isdigit() and (not head or head.endswith(".")):
            found[head + blocks] = max(found.get(head + blocks, 0), int(index) + 1)
    return dict(sorted(found.items()))


def _new_block(template: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A block that adds nothing to the residual stream, shaped like ``template`` (one block's weights by
    suffix): layer norms at 1 and 0, output projections at zero, other weights normal(0, 0.02), biases 0."""
    block: dict[str, torch.Tensor] = {}
    for name, ref in template.items():
        if name.startswith("ln_") and name.endswith(".weight"):
            block[name] = torch.ones_like(ref)
        elif name.startswith(ZERO_OUTPUTS) or name.endswith(".bias"):
            block[name] = torch.zeros_like(ref)
        else:
            block[name] = (torch.randn(ref.shape, generator=generator) * 0.02).to(ref.dtype)
    return block


def deepen(weights: dict[str, torch.Tensor], blocks: str, add_layers: int,
           generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The weights with ``add_layers`` identity blocks appended to every block list named ``blocks`` (a value
    of ``BLOCK_LISTS``; see the module docstring); ValueError if there is none or ``add_layers`` < 1."""
    if add_layers < 1:
        raise ValueError(f"the number of blocks to add must be at least 1, got {add_layers}")
    prefixes = block_prefixes(weights, blocks)
    if not prefixes:
        raise ValueError(f"it has no '{blocks}N.*' weights to add blocks after")
    out = dict(weights)
    for prefix, n in prefixes.items():
        last = f"{prefix}{n - 1}."
        template = {k[len(last):]: v for k, v in weights.items() if k.startswith(last)}
        for i in range(n, n + add_layers):
            out.update({f"{prefix}{i}.{name}": v for name, v in _new_block(template, generator).items()})
    return out


def grow_model(path: str | Path, out_dir: str | Path, stem_channels: int | None = None, add_layers: int = 0,
               add_decoder_layers: int = 0, seed: int = 0, fine_channels: int | None = None) -> Path:
    """Write ``out_dir/model.{safetensors,json}``: the model at ``path`` with every grid encoder widened to
    ``stem_channels`` stem channels (if given) and given a fine stem of ``fine_channels`` (if given),
    ``add_layers`` blocks added to every context encoder and ``add_decoder_layers`` to every decoder, its config
    updated to match and the growth recorded (``widened_from``, ``fine_from``, ``deepened_from``). Returns the
    JSON path. InputError if the model lacks the part to grow or would not grow."""
    ckpt = read_checkpoint(path)
    added = {"n_layers": add_layers, "n_decoder_layers": add_decoder_layers}
    if stem_channels is None and fine_channels is None and not any(added.values()):
        raise InputError(f"nothing to grow in model {str(ckpt.path)!r}; expected --stem-channels N, "
                         "--fine-channels N, --add-layers K or --add-decoder-layers K")
    generator = torch.Generator().manual_seed(seed)
    weights = dict(ckpt.weights)
    meta: dict[str, Any] = {k: copy.deepcopy(v) for k, v in ckpt.meta.items() if k != "train_state"}
    config = dict(meta["model_config"])
    if stem_channels is not None:
        weights = _each_encoder(weights, ckpt.path, meta.get("encoder"),
                                lambda w, prefix: widen_encoder(w, prefix, stem_channels, generator),
                                "cannot widen model {model}: {reason}; hint: pass a larger --stem-channels")
        old = int(ckpt.weights[encoder_prefixes(weights)[0] + STEM_IN + "weight"].shape[0])
        config["encoder_options"] = {**config.get("encoder_options", {}), "stem_channels": stem_channels}
        meta["widened_from"] = {"path": str(ckpt.path), "stem_channels": old, "seed": seed}
    if fine_channels is not None:
        shape = tuple(meta["observation_shape"])
        weights = _each_encoder(weights, ckpt.path, meta.get("encoder"),
                                lambda w, prefix: add_fine_stem(w, prefix, fine_channels, shape, generator),
                                "cannot add a fine stem to model {model}: {reason}")
        config["encoder_options"] = {**config.get("encoder_options", {}), "fine_channels": fine_channels}
        meta["fine_from"] = {"path": str(ckpt.path), "seed": seed}
    for field, k in added.items():
        if not k:
            continue
        try:
            weights = deepen(weights, BLOCK_LISTS[field], k, generator)
        except ValueError as exc:
            raise InputError(f"cannot deepen model {str(ckpt.path)!r}: {exc}") from None
        meta.setdefault("deepened_from", {"path": str(ckpt.path), "seed": seed})[field] = config[field]
        config[field] = int(config[field]) + k
    meta["model_config"] = config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "model.safetensors", weights)
    write_json(out / "model.json", meta, indent=1, sort_keys=True)
    return out / "model.json"


def _each_encoder(weights: dict[str, torch.Tensor], path: Path, encoder: Any,
                  grow: Callable[[dict[str, torch.Tensor], str], dict[str, torch.Tensor]],
                  refused: str) -> dict[str, torch.Tensor]:
    """``grow(weights, prefix)`` applied to every grid encoder of ``weights``; InputError naming the model when
    it has none, or ``refused`` (formatted with ``model`` and ``reason``) when ``grow`` raises ValueError."""
    prefixes = encoder_prefixes(weights)
    if not prefixes:
        raise InputError(f"model {str(path)!r} has no grid observation encoder (encoder "
                         f"{encoder!r}); expected a model of an image or grid domain")
    try:
        for prefix in prefixes:
            weights = grow(weights, prefix)
    except ValueError as exc:
        raise InputError(refused.format(model=repr(str(path)), reason=exc)) from None
    return weights


def widen_stem(path: str | Path, out_dir: str | Path, channels: int, seed: int = 0) -> Path:
    """:func:`grow_model` with a wider stem only."""
    return grow_model(path, out_dir, stem_channels=channels, seed=seed)


def main(argv: list[str] | None = None) -> int:
    """``python -m treediff.engine.training.growth MODEL OUT_DIR [--stem-channels N] [--fine-channels N]
    [--add-layers K] [--add-decoder-layers K] [--seed S]``."""
    p = argparse.ArgumentParser(prog="python -m treediff.engine.training.growth",
                                description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("model", help="an exported model folder, model.json or checkpoint")
    p.add_argument("out_dir", help="folder for the grown model.safetensors and model.json")
    p.add_argument("--stem-channels", type=int, help="widen every grid encoder stem to N channels")
    p.add_argument("--fine-channels", type=int, help="give every grid encoder a full-resolution stem of N channels")
    p.add_argument("--add-layers", type=int, default=0, help="append K blocks to every context encoder")
    p.add_argument("--add-decoder-layers", type=int, default=0, help="append K blocks to every decoder")
    p.add_argument("--seed", type=int, default=0, help="seeds the new weights")
    args = p.parse_args(argv)
    try:
        written = grow_model(args.model, args.out_dir, args.stem_channels, args.add_layers,
                             args.add_decoder_layers, args.seed, args.fine_channels)
    except TreediffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
