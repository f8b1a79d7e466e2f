"""Test helpers for the model tests: a tiny config and AR model, a fake executor and edit batches on toy grammars."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from random import Random

import torch

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.autoregressive import ARModel
from treediff.engine.models.batch import EditBatch, make_edit_batch
from treediff.engine.models.config import PRESETS, ModelConfig
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import forward, reverse_path
from treediff.engine.trees.tokens import Vocab
from treediff.engine.trees.tree import Edit, Node

SHAPE = (1, 8, 8)
CFG: ModelConfig = PRESETS["tiny"].model_copy(
    update={"encoder_options": {"patch_size": 2, "stem_channels": 8, "stem_stride": 1}})


def observe(trees: Sequence[Node]) -> torch.Tensor:
    """A fake executor: a deterministic pseudo-random ``[1, 8, 8]`` grid per program (hash of its text)."""
    out = []
    for tree in trees:
        seed = int.from_bytes(hashlib.sha256(str(tree).encode()).digest()[:8], "little") >> 1
        out.append(torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed)))
    return torch.stack(out) if out else torch.zeros(0, *SHAPE)


def tiny_ar(grammar: Grammar) -> tuple[ARModel, Vocab]:
    """An untrained AR model of the tiny config on ``grammar`` (weights seeded with 0, eval mode) and its vocab."""
    torch.manual_seed(0)
    vocab = Vocab(grammar)
    return ARModel(CFG, vocab, SHAPE, grid_encoder).eval(), vocab


def programs(grammar: Grammar, n: int, seed: int, max_primitives: int = 5) -> list[Node]:
    """``n`` small random programs (shallow, so every toy grammar stays short)."""
    rng = Random(seed)
    return [sample_tree(grammar, rng, 1, max_primitives, max_depth=6) for _ in range(n)]


def edit_batch(grammar: Grammar, n: int, seed: int) -> EditBatch:
    """``n`` denoising examples: target -> noised current -> first reverse edit, observed by :func:`observe`."""
    rng = Random(seed)
    targets: list[Node] = []
    currents: list[Node] = []
    edits: list[Edit] = []
    lengths: list[float] = []
    while len(targets) < n:
        target = sample_tree(grammar, rng, 1, 4, max_depth=6)
        current = forward(target, grammar, rng, k_max=3, p_fresh=0.2, sigma_small=2, max_primitives=4, max_depth=6)
        path = reverse_path(current, target, grammar, 2)
        if not path:
            continue
        targets.append(target)
        currents.append(current)
        edits.append(path[0])
        lengths.append(float(len(path)))
    return make_edit_batch(Vocab(grammar), observe(targets), observe(currents), currents, edits, lengths)


def overfit(model: torch.nn.Module, batch: EditBatch, steps: int) -> tuple[float, dict[str, torch.Tensor]]:
    """Train ``model`` on one batch with AdamW; returns the first loss and the last step's loss dict."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model.loss(batch)["loss"].item()  # type: ignore[operator]
    for _ in range(steps):
        out = model.loss(batch)  # type: ignore[operator]
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return first, out
