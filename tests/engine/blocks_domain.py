"""A tiny grid domain for search tests: boxes on a 4x4 lattice rendered into a 1x16x16 grid.

Small enough that model-free mutation search solves targets a couple of edits away in a few hundred
renderer calls, and shaped [C, H, W] so the engine's "grid" encoder can condition a tiny model on it.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from treediff.engine.domains.domain import Domain, ObservationOptions, ObservationStorage, Preview
from treediff.engine.errors import InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import mutate
from treediff.engine.trees.tree import Node

GRAMMAR = """
name: blocks
start: scene
terminals:
  pos: {type: int, min: 0, max: 3}
  size: {type: int, min: 1, max: 2}
rules:
  scene:
    - name: box
      form: "(box {x:pos} {y:pos} {s:size})"
      primitive: true
    - name: union
      form: "(+ {a:scene} {b:scene})"
    - name: cut
      form: "(- {a:scene} {b:scene})"
"""
SIDE = 16
UNIT = 4


def paint(tree: Node) -> torch.Tensor:
    """Coverage [SIDE, SIDE] of one scene."""
    if tree.name == "box":
        grid = torch.zeros(SIDE, SIDE)
        x, y, s = int(tree["x"]), int(tree["y"]), int(tree["s"])  # type: ignore[arg-type]
        grid[UNIT * y:UNIT * (y + s), UNIT * x:UNIT * (x + s)] = 1.0
        return grid
    a, b = paint(tree["a"]), paint(tree["b"])  # type: ignore[arg-type]
    return torch.maximum(a, b) if tree.name == "union" else a * (1.0 - b)


class BlocksExecutor:
    """Renders scenes on the CPU; records every program it executes (to check budget accounting)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.executed: list[Node] = []

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        self.executed.extend(trees)
        if not trees:
            return torch.zeros(0, 1, SIDE, SIDE)
        return torch.stack([paint(t)[None] for t in trees]).to(self.device)


def distance(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (observations - target).abs().flatten(1).mean(1)


def goal(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return distance(observations, target) < 1e-6


def save(observation: torch.Tensor, path: Path) -> None:
    pixels = np.rint((1.0 - observation[0].clamp(0, 1).numpy()) * 255).astype(np.uint8)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    tmp.replace(path)


class BlocksOptions(ObservationOptions):
    invert: bool = False


def load(path: Path, options: BlocksOptions) -> torch.Tensor:
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise InputError(f"target {str(path)!r} is a {img.format} file; expected a PNG image")
            gray = np.asarray(img.convert("L").resize((SIDE, SIDE)), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise InputError(f"target {str(path)!r} is unreadable ({exc}); expected a PNG image") from None
    value = gray if options.invert else 1.0 - gray
    return torch.from_numpy(np.ascontiguousarray(value))[None]


def preview(observation: torch.Tensor) -> Preview:
    import io

    pixels = np.rint((1.0 - observation[0].clamp(0, 1).numpy()) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return Preview("image/png", buffer.getvalue())


def make_domain(checkpoint: Path | None = None) -> Domain:
    """The blocks domain (a fresh grammar object each call)."""
    grammar = Grammar.from_text(GRAMMAR, "blocks.yaml")

    def test_targets(n: int, seed: int) -> list[Node]:
        rng = random.Random(seed)
        return [sample_tree(grammar, rng, 2, 3) for _ in range(n)]

    return Domain(name="blocks", grammar=grammar, make_executor=BlocksExecutor, goal=goal, distance=distance,
                  observation_shape=(1, SIDE, SIDE),
                  storage=ObservationStorage(".png", load, save, BlocksOptions, preview, "a PNG image"),
                  min_primitives=1, max_primitives=3, test_targets=test_targets, checkpoint=checkpoint,
                  sketch=lambda trees, generator: BlocksExecutor("cpu").execute(trees),
                  description="boxes on a 4x4 lattice (tests only)")


def render(domain: Domain, tree: Node) -> torch.Tensor:
    """The observation [1, SIDE, SIDE] of one program."""
    return domain.make_executor("cpu").execute([tree])[0]


_RUNS: dict[str, Path] = {}  # test-session cache: each kind of model is trained once per session
TRAIN_STEPS = {"diffusion": 400, "ar": 150}


def trained_run(kind: str, root: Path) -> Path:
    """A run directory with a small ``kind`` model ("diffusion" or "ar") trained on the blocks domain.

    Trained once per test session (about 20 s on two CPU cores) under ``root`` on first use; a run already
    under ``root`` is reused.
    """
    if kind not in _RUNS:
        from treediff.engine.domains.registry import load_registry
        from treediff.engine.training.train import run_training
        from treediff.engine.training.traincfg import TrainConfig

        cfg = TrainConfig(model=kind, steps=TRAIN_STEPS[kind], batch_size=32, lr=3e-3, warmup_steps=10, device="cpu",
                          threads=1, val_every=10_000, val_size=8, checkpoint_every=10_000, log_every=10_000,
                          tensorboard="off", seed=0,
                          model_overrides={"d_model": 48, "n_heads": 2, "n_layers": 1, "n_decoder_layers": 1})
        run_dir = Path(root) / f"blocks-{kind}"
        if not list(run_dir.glob("checkpoints/*.json")):
            run_training(make_domain(), cfg, run_dir, registry=load_registry(entry_points=[]), log_stream=io.StringIO())
        _RUNS[kind] = run_dir
    return _RUNS[kind]


def load_trained(kind: str, root: Path, domain: Domain | None = None) -> Any:
    """The :class:`treediff.engine.training.bundle.ModelBundle` of :func:`trained_run` for ``domain``
    (a fresh blocks one)."""
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.training.bundle import load_bundle

    return load_bundle(trained_run(kind, root), domain or make_domain(), load_registry(entry_points=[]))


def near(domain: Domain, target: Node, edits: int, seed: int) -> Node:
    """A program ``edits`` mutations away from ``target`` (never ``target`` itself)."""
    rng = random.Random(seed)
    tree = target
    while tree == target:
        tree = target
        for _ in range(edits):
            tree, _ = mutate(tree, domain.grammar, rng)
    return tree
