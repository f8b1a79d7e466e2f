"""A domain's AR model opened beside the domain's generated targets: what the bench probes of a model share.

The probes under ``bench/`` (``field_reading``, ``skeleton_reach``, ``reading_gap``) read an AR model on
targets it did not see and count what it gets right. They take the same arguments (the domain, ``--ar``, the
number of targets and their seed) and load the same things (the registry, the domain, the model, a CPU
executor); both live here so that a new probe is its measurement only.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.errors import InputError

if TYPE_CHECKING:
    from treediff.engine.evaluation.harness import Target
    from treediff.engine.training.bundle import ModelBundle


@dataclass(frozen=True)
class ModelProbe:
    """A loaded model (``bundle``, in eval mode on the CPU), its ``domain`` and a CPU ``executor``."""

    domain: Domain
    bundle: ModelBundle
    executor: Executor
    model_dir: Path

    def targets(self, n: int, seed: int) -> list[Target]:
        """The domain's ``n`` generated test-like targets of ``seed``, each with its program (as ``treediff eval
        -n N --seed S`` generates them)."""
        from treediff.engine.evaluation.harness import generated_targets

        return generated_targets(self.domain, n, seed, self.executor)


def open_probe(domain_name: str, model_dir: Path | None = None) -> ModelProbe:
    """Load the AR model in ``model_dir`` (default: the domain's shipped AR model) for ``domain_name``.

    InputError when the domain is unknown or ships no AR model and none is given; CheckpointError when the
    folder does not hold a model of this domain.
    """
    from treediff.engine.domains.registry import load_registry
    from treediff.engine.training.bundle import load_bundle

    registry = load_registry()
    domain = registry.domain(domain_name)
    if model_dir is None:
        if domain.ar_checkpoint is None:
            raise InputError(f"domain {domain.name!r} ships no AR model; expected --ar MODEL_DIR (a folder written "
                             "by `treediff train ... --export`)")
        model_dir = Path(domain.ar_checkpoint)
    bundle = load_bundle(model_dir, domain, registry)
    return ModelProbe(domain, bundle, domain.make_executor("cpu"), model_dir)


def add_probe_arguments(parser: argparse.ArgumentParser, n: int, seed: int) -> None:
    """Add the arguments every probe takes: ``domain``, ``--ar DIR``, ``-n`` targets (default ``n``) and their
    ``--seed`` (default ``seed``; keep it off the eval's seed 0 when the probe informs choices)."""
    parser.add_argument("domain")
    parser.add_argument("--ar", type=Path, default=None, help="AR model folder (default: the domain's shipped one)")
    parser.add_argument("-n", type=int, default=n, help=f"generated targets (default {n})")
    parser.add_argument("--seed", type=int, default=seed,
                        help=f"seed of the generated targets (default {seed}; the eval's is 0)")
