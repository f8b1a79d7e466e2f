"""Registers the CSG2D domain with treediff (entry point ``csg2d`` in the ``treediff`` group)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import Field

from treediff.engine.domains.domain import Domain, ObservationOptions, ObservationStorage, Preview
from treediff.engine.domains.hookspecs import hookimpl
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import Node
from treediff.plugins.csg2d.goal import distance, goal
from treediff.plugins.csg2d.render import SIZE, Renderer
from treediff.plugins.csg2d.sketch import sketch
from treediff.plugins.imaging import complexity_filter, contact_sheet, load_png, png_bytes, save_png

HERE = Path(__file__).resolve().parent
GRAMMAR_PATH = HERE / "grammar.yaml"
CHECKPOINT_PATH = HERE / "model" / "model.safetensors"
AR_CHECKPOINT_PATH = HERE / "model_ar" / "model.safetensors"  # the autoregressive baseline
MIN_PRIMITIVES, MAX_PRIMITIVES = 2, 8


class CSG2DOptions(ObservationOptions):
    """How ``solve``/``eval`` read a CSG2D target image."""

    invert: bool = Field(default=False, description="the image shows light shapes on a dark background")
    resize: bool = Field(default=True, description="accept other image sizes (resized, with a warning)")


def load_observation(path: Path, options: CSG2DOptions) -> torch.Tensor:
    """A PNG as a coverage target [1, 128, 128]: grayscale, dark = shape (``invert`` flips it).

    ``resize`` (default True) allows other sizes with a warning instead of an error.
    """
    return load_png(path, size=(SIZE, SIZE), channels=1, invert=not options.invert, resize=options.resize)


def save_observation(observation: torch.Tensor, path: Path) -> None:
    """Write coverage [1, 128, 128] as a PNG with shapes black on white (atomically)."""
    save_png(observation, path, invert=True)


def preview(observation: torch.Tensor) -> Preview:
    """Reports show the coverage as a PNG, black shapes on white."""
    return Preview("image/png", png_bytes(observation, invert=True))


def save_sheet(observations: torch.Tensor, path: Path) -> None:
    """Write a batch [B, 1, 128, 128] as one contact sheet (black shapes on white)."""
    contact_sheet([1.0 - o for o in observations.detach().cpu()], path)


def test_targets_for(grammar: Grammar, make_executor: Callable[[str], Renderer]) -> Callable[[int, int], list[Node]]:
    """``test_targets(n, seed)``: n distinct 2-8 primitive programs, the more complex half of 2n samples."""
    def test_targets(n: int, seed: int) -> list[Node]:
        rng = random.Random(seed)
        pool: dict[Node, None] = {}
        while len(pool) < 2 * n:
            pool.setdefault(sample_tree(grammar, rng, MIN_PRIMITIVES, MAX_PRIMITIVES))
        executor = make_executor("cpu")
        return complexity_filter(list(pool), executor.execute, keep=0.5)

    return test_targets


def make_domain() -> Domain:
    """The CSG2D Domain."""
    grammar = Grammar.load(GRAMMAR_PATH)
    return Domain(
        name="csg2d",
        grammar=grammar,
        make_executor=Renderer,
        goal=goal,
        distance=distance,
        observation_shape=(1, SIZE, SIZE),
        storage=ObservationStorage(".png", load_observation, save_observation, CSG2DOptions, preview,
                                   "a PNG image (dark shapes on a light background)"),
        observation_encoder="grid",
        min_primitives=MIN_PRIMITIVES,
        max_primitives=MAX_PRIMITIVES,
        sketch=sketch,
        test_targets=test_targets_for(grammar, Renderer),
        targets_dir=HERE / "targets",
        checkpoint=CHECKPOINT_PATH if CHECKPOINT_PATH.exists() else None,
        ar_checkpoint=AR_CHECKPOINT_PATH if AR_CHECKPOINT_PATH.exists() else None,
        save_sheet=save_sheet,
        description="binary 128x128 images: circles and rotated rectangles with union and difference",
    )


@hookimpl
def treediff_register_domains(register: Callable[[Domain], None]) -> None:
    """Register the csg2d domain."""
    register(make_domain())
