"""The domain contract suite, installed with treediff: what every domain plugin must honour.

Run it with ``treediff check-plugin NAME`` (or :func:`check_domain` from a test). Each check says what
failed in the plugin author's terms (the Domain field or callable at fault, and what was expected)::

    from treediff import load_registry
    from treediff.engine.domains.contract import check_domain

    results = check_domain(load_registry().domain("mydomain"))
    assert all(r.ok for r in results), [str(r) for r in results if not r.ok]

The checks need only the CPU and take seconds for small domains.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treediff.engine.domains.domain import Domain, Preview
from treediff.engine.trees.tree import Node


class ContractFailure(Exception):
    """One broken promise of a domain, in the plugin author's terms."""


class Skip(Exception):
    """The check does not apply to this domain (e.g. it declares no sketch model)."""


@dataclass
class CheckResult:
    """The outcome of one check: ``status`` is ``pass``, ``fail`` or ``skip``."""

    name: str
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def __str__(self) -> str:
        return f"{self.status.upper():<4} {self.name}" + (f": {self.message}" if self.message else "")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractFailure(message)


def programs(domain: Domain, n: int, seed: int = 0) -> list[Node]:
    """``n`` random programs of the domain in its size bounds."""
    from treediff.engine.trees.derivation import sample_tree

    rng = random.Random(seed)
    return [sample_tree(domain.grammar, rng, domain.min_primitives, domain.max_primitives) for _ in range(n)]


def _execute(domain: Domain, trees: list[Node]) -> Any:
    import torch

    with torch.no_grad():
        return domain.make_executor("cpu").execute(trees)


def check_grammar(domain: Domain, registry: Any) -> None:
    """The grammar has primitive productions, and every printed program parses back to the same tree."""
    from treediff.engine.grammar.validation import round_trip_problems

    prims = [p.name for p in domain.grammar.productions if p.primitive]
    _require(bool(prims), "the grammar marks no production `primitive: true`; expected at least one (primitives "
                          "are what min_primitives/max_primitives and the edit size sigma_small count)")
    problems = round_trip_problems(domain.grammar)
    _require(not problems, f"printed programs do not parse back: {problems[:3]}; expected every production's "
                           "`form` to print text that parses to the same tree")


def check_executor(domain: Domain, registry: Any) -> None:
    """make_executor("cpu").execute(trees) is batched, float32, finite, deterministic and shaped."""
    import torch

    trees = programs(domain, 12)
    executor = domain.make_executor("cpu")
    batch = executor.execute(trees)  # the shape is checked by the engine's wrapper (DomainError)
    _require(batch.dtype == torch.float32, f"execute() returned dtype {batch.dtype}; expected torch.float32")
    _require(bool(torch.isfinite(batch).all()), "execute() returned NaN or infinite values; expected finite floats")
    _require(torch.equal(batch, executor.execute(trees)), "execute() gave different observations for the same "
                                                          "programs; expected a deterministic executor")
    single = torch.cat([executor.execute([t]) for t in trees[:3]])
    _require(torch.allclose(single, batch[:3], atol=1e-5), "executing programs one at a time differs from "
                                                           "executing them in a batch; expected the same result")


def check_goal_and_distance(domain: Domain, registry: Any) -> None:
    """goal(obs, obs[i]) holds and distance is 0 for identical observations; different ones are no goal."""
    import torch

    obs = _execute(domain, programs(domain, 8, seed=1))
    for i in range(len(obs)):
        solved = domain.goal(obs[i:i + 1], obs[i])
        _require(isinstance(solved, torch.Tensor) and tuple(solved.shape) == (1,),
                 f"goal(observations [1, *S], target [*S]) returned {solved!r}; expected a bool tensor [1]")
        _require(bool(solved[0]), "goal(x, x) is False for an observation and itself; expected True")
        dist = domain.distance(obs[i:i + 1], obs[i])
        _require(isinstance(dist, torch.Tensor) and tuple(dist.shape) == (1,),
                 f"distance(observations [1, *S], target [*S]) returned {dist!r}; expected a float tensor [1]")
        _require(abs(float(dist[0])) <= 1e-6, f"distance(x, x) is {float(dist[0])}; expected 0")
    distances = domain.distance(obs, obs[0])
    _require(bool((distances >= 0).all()), "distance returned negative values; expected >= 0")
    different = [i for i in range(1, len(obs)) if not torch.equal(obs[i], obs[0])]
    if different:
        _require(not bool(domain.goal(obs[different], obs[0]).any()) or
                 bool((domain.distance(obs[different], obs[0]) > 0).all()),
                 "goal holds for observations that differ from the target and are at distance 0; expected goal "
                 "and distance to agree")


def check_observation_files(domain: Domain, registry: Any) -> None:
    """storage.save then storage.load (default options) gives back an observation that meets the goal."""
    obs = _execute(domain, programs(domain, 4, seed=2))
    with tempfile.TemporaryDirectory(prefix="treediff-contract-") as tmp:
        folder = Path(tmp)
        names = [domain.observation_file(f"obs{i}") for i in range(len(obs))]
        for name, o in zip(names, obs):
            domain.save_observation(o, folder / name)
            _require((folder / name).is_file(), f"storage.save did not write {name}; expected a file at the path "
                                                "it is given")
            back = domain.load_observation(folder / name)
            _require(bool(domain.goal(back[None], o)[0]), f"an observation saved as {name} and loaded back fails "
                                                          "the goal; expected storage.load to invert storage.save")
        left = sorted(p.name for p in folder.iterdir())
        _require(left == sorted(names), f"storage.save left {sorted(set(left) - set(names))} behind; expected only "
                                        "the files it was asked to write (write atomically, then rename)")


def check_preview(domain: Domain, registry: Any) -> None:
    """preview(observation) returns a Preview (image/*, text/plain or text/html) for reports."""
    obs = _execute(domain, programs(domain, 1, seed=3))
    preview = domain.preview(obs[0])
    _require(isinstance(preview, Preview), f"storage.preview returned {type(preview).__name__}; expected a "
                                           "treediff.Preview")
    _require(preview.mime.startswith("image/") or preview.mime in ("text/plain", "text/html"),
             f"preview mime {preview.mime!r}; expected image/*, text/plain or text/html")
    _require(bool(preview.html()), "the preview renders to empty HTML; expected something to show")


def check_encoder(domain: Domain, registry: Any) -> None:
    """The domain's observation encoder is registered and turns its (three stacked) views into tokens."""
    import torch

    from treediff.engine.models.backbone import ContextEncoder
    from treediff.engine.models.config import ModelConfig

    factory = registry.encoder(domain.observation_encoder)
    cfg = domain.model_config(ModelConfig(d_model=32, n_heads=2, n_layers=1, n_decoder_layers=1))
    try:
        encoder = ContextEncoder(cfg, 8, domain.observation_shape, factory, n_views=3, with_program=False)
        obs = _execute(domain, programs(domain, 2, seed=4))
        tokens = encoder.encode_views([obs, obs, obs - obs])
    except Exception as exc:  # noqa: BLE001 - reported in the author's terms
        raise ContractFailure(f"encoder {domain.observation_encoder!r} with encoder_options {domain.encoder_options} "
                              f"failed on input [B, 3 * {domain.observation_shape[0]}, "
                              f"{', '.join(map(str, domain.observation_shape[1:]))}] ({type(exc).__name__}: {exc}); "
                              "expected [B, T, d_model] tokens (the three views are stacked on axis 0)") from None
    _require(isinstance(tokens, torch.Tensor) and tokens.ndim == 3 and tokens.shape[0] == 2
             and tokens.shape[2] == 32, f"encoder {domain.observation_encoder!r} returned shape "
             f"{list(getattr(tokens, 'shape', []))}; expected [B, T, d_model]")


def check_test_targets(domain: Domain, registry: Any) -> None:
    """test_targets(n, seed) is deterministic, gives n valid programs within min/max_primitives."""
    from treediff.engine.trees.tree import validate

    if domain.test_targets is None:
        raise Skip("no test_targets declared (the engine samples random programs in the size bounds)")
    a, b = domain.test_targets(6, 3), domain.test_targets(6, 3)
    _require(a == b, "test_targets(6, 3) differs between two calls; expected the same programs for the same seed")
    _require(len(a) == 6, f"test_targets(6, 3) returned {len(a)} programs; expected 6")
    for tree in a:
        validate(tree, domain.grammar)
        _require(domain.min_primitives <= tree.sigma <= domain.max_primitives,
                 f"test target {tree} has {tree.sigma} primitives; expected {domain.min_primitives} to "
                 f"{domain.max_primitives} (min_primitives, max_primitives)")


def check_bundled_targets(domain: Domain, registry: Any) -> None:
    """Every bundled target file in targets_dir loads (observations) or parses (.txt programs)."""
    from treediff.engine.evaluation.harness import directory_targets

    if domain.targets_dir is None:
        raise Skip("no targets_dir declared")
    _require(Path(domain.targets_dir).is_dir(), f"targets_dir {str(domain.targets_dir)!r} is not a directory")
    targets = directory_targets(domain, Path(domain.targets_dir), domain.make_executor("cpu"))
    _require(bool(targets), "targets_dir holds no targets")


def check_sketch(domain: Domain, registry: Any) -> None:
    """sketch(trees, generator), when declared, is shaped and deterministic given the generator."""
    import torch

    if domain.sketch is None:
        raise Skip("no sketch model declared")
    trees = programs(domain, 3, seed=5)
    a = domain.sketch(trees, torch.Generator().manual_seed(0))
    b = domain.sketch(trees, torch.Generator().manual_seed(0))
    domain.check_shape(a, 3, "sketch(trees, generator)")
    _require(torch.equal(a, b), "sketch gave different observations for the same generator seed; expected "
                                "deterministic given the generator")


def check_observation_key(domain: Domain, registry: Any) -> None:
    """observation_key, when declared, is hashable and deterministic, and programs with equal keys (random programs
    and their one-leaf steps, hoists and production swaps) execute to the same observation."""
    import torch

    from treediff.engine.trees.neighbours import local_edits, swap_edits

    key = domain.observation_key
    if key is None:
        raise Skip("no observation_key declared (every distinct program is executed)")
    groups: dict[Any, list[Node]] = {}
    for tree in programs(domain, 8, seed=6):
        edits = local_edits(tree) + list(swap_edits(domain.grammar, tree))
        for child in dict.fromkeys([tree] + [edit.apply(tree) for edit in edits]):
            value = key(child)
            try:
                hash(value)
            except TypeError:
                raise ContractFailure(f"observation_key({child}) returned the unhashable {value!r}; expected a "
                                      "hashable key (tuples, strings, numbers)") from None
            _require(key(child) == value, f"observation_key({child}) differs between two calls; expected a "
                                          "deterministic key")
            groups.setdefault(value, []).append(child)
    for trees in (t for t in groups.values() if len(t) > 1):
        obs = _execute(domain, trees)
        for tree, o in zip(trees[1:], obs[1:]):
            _require(torch.allclose(o, obs[0], atol=1e-5), f"{trees[0]} and {tree} have the same observation_key "
                     "but execute to different observations; expected equal keys only for programs that execute "
                     "alike (a search runs one program per key and takes its result for the others)")


CHECKS: dict[str, Callable[[Domain, Any], None]] = {
    "grammar": check_grammar,
    "executor": check_executor,
    "goal and distance": check_goal_and_distance,
    "observation files": check_observation_files,
    "preview": check_preview,
    "encoder": check_encoder,
    "test targets": check_test_targets,
    "bundled targets": check_bundled_targets,
    "sketch": check_sketch,
    "observation key": check_observation_key,
}


def run_check(name: str, domain: Domain, registry: Any = None) -> CheckResult:
    """Run one check; any exception is a failure with its message."""
    from treediff.engine.domains.registry import load_registry

    registry = registry if registry is not None else load_registry()
    try:
        CHECKS[name](domain, registry)
    except Skip as exc:
        return CheckResult(name, "skip", str(exc))
    except ContractFailure as exc:
        return CheckResult(name, "fail", str(exc))
    except Exception as exc:  # noqa: BLE001 - a plugin's own error is a failure of the check
        return CheckResult(name, "fail", f"{type(exc).__name__}: {exc}")
    return CheckResult(name, "pass")


def check_domain(domain: Domain, registry: Any = None) -> list[CheckResult]:
    """Every check of the contract against ``domain``."""
    from treediff.engine.domains.registry import load_registry

    registry = registry if registry is not None else load_registry()
    return [run_check(name, domain, registry) for name in CHECKS]
