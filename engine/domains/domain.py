"""What a domain plugin provides: executor, goal check, observation I/O, encoder choice and defaults."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    import torch


class Executor(Protocol):
    """Runs a batch of programs and returns their observations.

    ``execute(trees)`` returns a float32 tensor of shape ``[len(trees), *Domain.observation_shape]`` on
    ``executor.device``. It must handle any well-typed tree of the domain's grammar (including
    degenerate ones: empty results, off-range geometry) without raising.
    """

    device: torch.device

    def execute(self, trees: Sequence[Node]) -> torch.Tensor: ...


class GoalCheck(Protocol):
    """``goal(observations [B, *S], target [*S]) -> bool tensor [B]``: which programs count as solved."""

    def __call__(self, observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


class Distance(Protocol):
    """``distance(observations [B, *S], target [*S]) -> float tensor [B]``; 0 is a perfect match.

    Used to rank candidates when no model is available and reported as the ``score`` of a solve.
    """

    def __call__(self, observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Domain:
    """Everything the engine needs to synthesise programs in one language.

    Plugins build one of these and hand it to the ``register`` callback of
    :func:`treediff.engine.domains.hookspecs.treediff_register_domains`. All callables must be deterministic given their
    inputs (and the generator they are passed).
    """

    name: str
    grammar: Grammar
    make_executor: Callable[[str], Executor]  # device string ("cpu", "cuda", "cuda:1") -> executor
    goal: GoalCheck
    distance: Distance
    observation_shape: tuple[int, ...]
    load_observation: Callable[[Path, dict[str, Any]], torch.Tensor]  # (file, options) -> [*S] on CPU
    save_observation: Callable[[torch.Tensor, Path], None]  # writes atomically
    observation_encoder: str = "grid"  # name of a registered observation encoder
    min_primitives: int = 2  # default size bounds of sampled targets
    max_primitives: int = 8
    sketch: Callable[[Sequence[Node], Any], torch.Tensor] | None = None  # (trees, torch.Generator) -> [B, *S]
    test_targets: Callable[[int, int], list[Node]] | None = None  # (n, seed) -> complexity-filtered targets
    checkpoint: Path | None = None  # the shipped model, if any
    save_sheet: Callable[[torch.Tensor, Path], None] | None = None  # [B, *S] -> one overview file
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
