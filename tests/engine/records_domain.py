"""A non-image test domain: arithmetic over x, observed as records (x, f(x)) for x = 0..7; the 'records' encoder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from tests.toys import GRAMMAR_DIR
from treediff import Domain, Grammar, InputError, Node, ObservationStorage, Preview

XS = list(range(8))
VARS = {"y": 1, "z": 2}


def value(node: Node, x: int) -> float:
    if node.name == "num":
        return float(node["value"])  # type: ignore[arg-type]
    if node.name == "ref":
        return float(x if node["name"] == "x" else VARS[str(node["name"])])
    if node.name == "neg":
        return -value(node["a"], x)  # type: ignore[arg-type]
    a, b = value(node["a"], x), value(node["b"], x)  # type: ignore[arg-type]
    return max(-1e4, min(1e4, a + b if node.name == "add" else a * b))


class Executor:
    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        rows = [[[float(x), value(t, x)] for x in XS] for t in trees]
        return torch.tensor(rows, dtype=torch.float32, device=self.device).reshape(len(trees), len(XS), 2)


def goal(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (observations == target).flatten(1).all(dim=1)


def distance(observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (observations - target).abs().flatten(1).mean(dim=1)


def load(path: Path, options: object) -> torch.Tensor:
    try:
        pairs = json.loads(Path(path).read_text(encoding="utf-8"))
        return torch.tensor(pairs, dtype=torch.float32).reshape(len(XS), 2)
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        raise InputError(f"{str(path)!r} is not a JSON list of 8 [x, y] pairs ({exc})") from None


def save(observation: torch.Tensor, path: Path) -> None:
    Path(path).write_text(json.dumps(observation.tolist()), encoding="utf-8")


def preview(observation: torch.Tensor) -> Preview:
    return Preview("text/plain", " ".join(f"f({int(x)})={y:g}" for x, y in observation.tolist()))


def make_domain(name: str = "poly") -> Domain:
    return Domain(name=name, grammar=Grammar.load(GRAMMAR_DIR / "arith.yaml"), make_executor=Executor, goal=goal,
                  distance=distance, observation_shape=(len(XS), 2),
                  storage=ObservationStorage(".json", load, save, preview=preview, description="a JSON list of pairs"),
                  observation_encoder="records", encoder_options={"scale": 8.0}, min_primitives=1, max_primitives=4)
