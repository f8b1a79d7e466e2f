"""The pylists domain: programming by example over list pipelines written in a small subset of Python.

A program maps an input list ``xs`` to an output list. Its observation is what it does on the domain's
fixed example inputs :data:`INPUTS`: one record ``(side, position, value, present)`` per element slot of
every example's input (side 0) and output (side 1), read by the engine's built-in ``records`` encoder.
Target files (``.json``) hold the examples as ``{"examples": [{"input": [...], "output": [...]}, ...]}``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from treediff import (
    Domain,
    Grammar,
    InputError,
    Node,
    ObservationOptions,
    ObservationStorage,
    Preview,
    hookimpl,
    sample_tree,
)
from treediff_pylists.frontend import read_python_file
from treediff_pylists.interpreter import run

HERE = Path(__file__).resolve().parent
GRAMMAR = Grammar.load(HERE / "grammar.yaml")
INPUTS: list[list[int]] = [[3, 1, 4, 1, 5, 9, 2, 6], [0, 7, 2, 8], [5, 5, 3, 10], [9, 8, 7, 6, 5, 4, 3, 2]]
LENGTH = 8  # longest list: operations never lengthen a list
CLAMP = 10_000  # values beyond are recorded as +-CLAMP (the interpreter itself is exact)
FIELDS = 4  # side, position, value, present
SHAPE = (len(INPUTS) * 2 * LENGTH, FIELDS)
MIN_PRIMITIVES, MAX_PRIMITIVES = 2, 5


def records(pairs: Sequence[tuple[list[int], list[int]]]) -> torch.Tensor:
    """Examples (input, output) as the observation [E * 2 * LENGTH, 4]."""
    rows = []
    for example in pairs:
        for side, values in enumerate(example):
            for position in range(LENGTH):
                present = position < len(values)
                value = max(-CLAMP, min(CLAMP, values[position])) if present else 0
                rows.append([float(side), float(position), float(value), float(present)])
    return torch.tensor(rows, dtype=torch.float32).reshape(SHAPE)


def examples(observation: torch.Tensor) -> list[tuple[list[int], list[int]]]:
    """The observation back as (input, output) lists."""
    rows = observation.reshape(len(INPUTS), 2, LENGTH, FIELDS).tolist()
    return [tuple([int(r[2]) for r in side if r[3] > 0.5] for side in example) for example in rows]  # type: ignore[misc]


class Executor:
    """Runs programs on the example inputs with the tree interpreter; [B] trees -> [B, 64, 4]."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        batch = [records([(xs, run(tree, xs)) for xs in INPUTS]) for tree in trees]
        return torch.stack(batch).to(self.device) if batch else torch.zeros(0, *SHAPE, device=self.device)


def goal(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Solved when every example's output matches exactly."""
    return (observations == target).flatten(1).all(dim=1)


def distance(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per example slot: |value difference| (capped at 10) where both have an element, 10 where only one has."""
    obs, tgt = observations[..., 2:], target[..., 2:]
    both = obs[..., 1] * tgt[..., 1]
    value = (obs[..., 0] - tgt[..., 0]).abs().clamp(max=10.0) * both
    presence = (obs[..., 1] - tgt[..., 1]).abs() * 10.0
    return (value + presence).flatten(1).mean(dim=1)


def load(path: Path, options: ObservationOptions) -> torch.Tensor:
    """Read ``{"examples": [{"input": [...], "output": [...]}, ...]}``; the inputs must be :data:`INPUTS`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        pairs = [(list(map(int, e["input"])), list(map(int, e["output"]))) for e in data["examples"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"target {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); expected JSON "
                         '{"examples": [{"input": [...], "output": [...]}, ...]}') from None
    if [p[0] for p in pairs] != INPUTS:
        raise InputError(f"target {str(path)!r} has inputs {[p[0] for p in pairs]}; expected the domain's example "
                         f"inputs {INPUTS} in this order")
    for _, ys in pairs:
        if len(ys) > LENGTH:
            raise InputError(f"target {str(path)!r}: output {ys} is longer than {LENGTH}; no pipeline lengthens a list")
    return records(pairs)


def save(observation: torch.Tensor, path: Path) -> None:
    """Write the examples as JSON (atomically)."""
    data = {"examples": [{"input": xs, "output": ys} for xs, ys in examples(observation)]}
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def preview(observation: torch.Tensor) -> Preview:
    """Reports show one line per example: input -> output."""
    return Preview("text/plain", "\n".join(f"{xs} -> {ys}" for xs, ys in examples(observation)))


def test_targets(n: int, seed: int) -> list[Node]:
    """``n`` distinct programs with distinct behaviour on the examples (a fixed test set for a seed)."""
    rng = random.Random(seed)
    executor = Executor()
    seen: set[bytes] = set()
    out: list[Node] = []
    tries = 0
    while len(out) < n and tries < 200 * n:
        tries += 1
        tree = sample_tree(GRAMMAR, rng, MIN_PRIMITIVES, MAX_PRIMITIVES)
        key = executor.execute([tree]).numpy().tobytes()
        if key not in seen:
            seen.add(key)
            out.append(tree)
    return out


def make_domain() -> Domain:
    """The pylists Domain."""
    return Domain(
        name="pylists", grammar=GRAMMAR, make_executor=Executor, goal=goal, distance=distance,
        observation_shape=SHAPE,
        storage=ObservationStorage(".json", load, save, ObservationOptions, preview,
                                   'a JSON file {"examples": [{"input": [...], "output": [...]}, ...]}'),
        observation_encoder="records", encoder_options={"scale": 10.0},
        min_primitives=MIN_PRIMITIVES, max_primitives=MAX_PRIMITIVES, test_targets=test_targets,
        targets_dir=HERE / "targets",
        read_program=lambda path: read_python_file(path, GRAMMAR),
        description="list pipelines in a subset of Python, by example (inputs -> outputs)")


@hookimpl
def treediff_register_domains(register: Callable[[Domain], None]) -> None:
    """Register the pylists domain."""
    register(make_domain())
