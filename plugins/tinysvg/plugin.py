"""The TinySVG domain plugin: registers grammar, batched renderer, RMSE goal, PNG I/O and test targets."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import Field

from treediff.engine.domains.domain import Domain, ObservationOptions, ObservationStorage, Preview
from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import Node
from treediff.plugins import imaging
from treediff.plugins.tinysvg.drawing import drawing_key
from treediff.plugins.tinysvg.goal import goal, rmse
from treediff.plugins.tinysvg.layout import CANVAS
from treediff.plugins.tinysvg.render import TinySVGExecutor

HERE = Path(__file__).parent
GRAMMAR_PATH = HERE / "grammar.yaml"
CHECKPOINT_PATH = HERE / "model" / "model.safetensors"
AR_CHECKPOINT_PATH = HERE / "model_ar" / "model.safetensors"  # the autoregressive baseline
MIN_PRIMITIVES, MAX_PRIMITIVES = 2, 8  # the paper's test-set sizes
OBSERVATION_SHAPE = (3, CANVAS, CANVAS)


class TinySVGOptions(ObservationOptions):
    """How ``solve``/``eval`` read a TinySVG target image."""

    invert: bool = Field(default=False, description="read 1 - value (a negative of the rendering)")
    resize: bool = Field(default=True, description="accept other image sizes (resized, with a warning)")


def load_observation(path: Path, options: TinySVGOptions) -> torch.Tensor:
    """Read a target PNG as RGB float [3, 128, 128] in [0, 1] (transparency over white; resized with a warning).

    ``invert`` reads ``1 - value``; ``resize`` (default true) allows other sizes.
    """
    return imaging.load_png(path, size=(CANVAS, CANVAS), channels=3, invert=options.invert, resize=options.resize)


def preview(observation: torch.Tensor) -> Preview:
    """Reports show the rendering as a PNG."""
    return Preview("image/png", imaging.png_bytes(observation))


def save_observation(observation: torch.Tensor, path: Path) -> None:
    """Write one rendering [3, 128, 128] as an RGB PNG (atomically)."""
    imaging.save_png(observation, path)


def save_sheet(observations: torch.Tensor, path: Path) -> None:
    """Write a batch of renderings [B, 3, 128, 128] as one contact-sheet PNG."""
    imaging.contact_sheet(list(observations.detach().cpu()), path)


def test_targets(n: int, seed: int, grammar: Grammar | None = None) -> list[Node]:
    """``n`` deterministic test targets with 2-8 primitives, the visually more complex half of 2n samples.

    Samples 2n programs with :func:`treediff.engine.trees.derivation.sample_tree` seeded by ``seed`` and keeps
    the half whose renderings compress worst (as the paper did), in sampling order.
    """
    from treediff.engine.trees.derivation import sample_tree

    grammar = grammar or Grammar.load(GRAMMAR_PATH)
    rng = random.Random(seed)
    trees = [sample_tree(grammar, rng, MIN_PRIMITIVES, MAX_PRIMITIVES) for _ in range(2 * n)]
    executor = TinySVGExecutor("cpu")
    kept = imaging.complexity_filter(trees, executor.execute, keep=0.5)
    return kept[:n]


def make_domain() -> Domain:
    """The TinySVG :class:`~treediff.Domain` (grammar parsed here; nothing rendered or loaded yet)."""
    grammar = Grammar.load(GRAMMAR_PATH)
    return Domain(
        name="tinysvg",
        grammar=grammar,
        make_executor=TinySVGExecutor,
        goal=goal,
        distance=rmse,
        observation_shape=OBSERVATION_SHAPE,
        storage=ObservationStorage(".png", load_observation, save_observation, TinySVGOptions, preview,
                                   "an RGB PNG image"),
        observation_encoder="grid",
        min_primitives=MIN_PRIMITIVES,
        max_primitives=MAX_PRIMITIVES,
        test_targets=lambda n, seed: test_targets(n, seed, grammar),
        targets_dir=HERE / "targets",
        checkpoint=CHECKPOINT_PATH if CHECKPOINT_PATH.exists() else None,
        ar_checkpoint=AR_CHECKPOINT_PATH if AR_CHECKPOINT_PATH.exists() else None,
        save_sheet=save_sheet,
        observation_key=drawing_key,
        description="coloured rectangles and ellipses arranged by bounding boxes on a 128x128 RGB canvas",
    )


@hookimpl
def treediff_register_domains(register: Callable[[Domain], None]) -> None:
    """Register the ``tinysvg`` domain."""
    register(make_domain())
