"""Repeats: how many of a search's renderer calls draw an image it had already drawn, and how many a key saves.

Runs the shipped search (the ``search.yaml`` beside the domain's shipped model, or ``--search-config``) on the
domain's generated targets with ``repeats: tree`` (every distinct program executed, as before observation keys)
and records every observation executed. A call is a *repeat image* when its observation equals, bit for bit, one
drawn earlier in the same solve; it is *keyed* when the domain's ``observation_key`` of its program equals that of
a program executed earlier, i.e. when ``repeats: key`` would not have executed it. Prints one row per target and
the totals, and writes JSON. Solve rates with and without keys are ``bench/search_levers.py``'s job
(``--options '{"repeats": "tree"}'``).

    python bench/repeats.py [--domain tinysvg] [--targets 8] [--seed 2] [--budget 5000] [--search-config F]
                            [--out F]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import torch

from treediff.engine.commands.searchargs import model_search_file
from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.domains.registry import load_registry
from treediff.engine.evaluation.harness import generated_targets, pair_seed
from treediff.engine.files import write_json
from treediff.engine.search.config import SearchConfig, load_search_config
from treediff.engine.search.solve import solve
from treediff.engine.training.bundle import load_bundle
from treediff.engine.trees.tree import Node

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """Wraps an executor; counts, per solve, executed programs whose image or observation key came before."""

    def __init__(self, inner: Executor, key: Any) -> None:
        self.inner, self.key = inner, key
        self.device = getattr(inner, "device", torch.device("cpu"))
        self.reset()

    def reset(self) -> None:
        self.calls, self.repeat_images, self.keyed = 0, 0, 0
        self.images: set[str] = set()
        self.keys: set[Hashable] = set()
        self.trees: set[Node] = set()

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        out = self.inner.execute(trees)
        for tree, obs in zip(trees, out):
            if tree in self.trees:  # re-executed for its observation (evicted from the cache): not a call
                continue
            self.trees.add(tree)
            digest = hashlib.sha1(obs.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
            key = self.key(tree) if self.key is not None else tree
            self.calls += 1
            self.repeat_images += digest in self.images
            self.keyed += key in self.keys
            self.images.add(digest)
            self.keys.add(key)
        return out


def measure(domain: Domain, registry: Any, n: int, seed: int, budget: int, config: SearchConfig) -> list[dict]:
    """One row per target: calls, repeat images, and the calls a key would have saved."""
    bundle = load_bundle(domain.checkpoint, domain, registry, "cpu")
    ar_bundle = load_bundle(domain.ar_checkpoint, domain, registry, "cpu") if domain.ar_checkpoint else None
    recorder = Recorder(domain.make_executor("cpu"), domain.observation_key)
    rows = []
    for target in generated_targets(domain, n, seed, recorder.inner):
        recorder.reset()
        result = solve(domain, target.observation, "beam", budget=budget, seed=pair_seed(seed, target.name, "beam"),
                       bundle=bundle, ar_bundle=ar_bundle, executor=recorder,  # type: ignore[arg-type]
                       config=config.with_overrides("", repeats="tree"))
        rows.append({"target": target.name, "solved": result.solved, "calls": recorder.calls,
                     "repeat_images": recorder.repeat_images, "keyed": recorder.keyed})
        print(f"{target.name:<8} {'yes' if result.solved else 'no':>6} {recorder.calls:>6} "
              f"{recorder.repeat_images:>14} {recorder.keyed:>7}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", default="tinysvg")
    p.add_argument("--targets", type=int, default=8, help="generated test-like targets")
    p.add_argument("--seed", type=int, default=2, help="their seed (default 2, a development set; the eval's is 0)")
    p.add_argument("--budget", type=int, default=5000)
    p.add_argument("--search-config", type=Path, default=None, help="default: the search.yaml beside the model")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    registry = load_registry()
    domain = registry.domain(args.domain)
    source = args.search_config or model_search_file(domain, None)
    config = load_search_config(source) if source is not None else SearchConfig()
    print(f"{'target':<8} {'solved':>6} {'calls':>6} {'repeat images':>14} {'keyed':>7}")
    rows = measure(domain, registry, args.targets, args.seed, args.budget, config)
    calls, images, keyed = (sum(r[k] for r in rows) for k in ("calls", "repeat_images", "keyed"))
    print(f"{'all':<8} {sum(r['solved'] for r in rows):>6} {calls:>6} {images:>14} {keyed:>7}")
    print(f"repeat images: {images / max(calls, 1):.1%} of calls; a key saves {keyed / max(calls, 1):.1%} of calls "
          f"({keyed / max(images, 1):.1%} of the repeats)")
    out = args.out or ROOT / "bench" / "results" / f"repeats-{args.domain}.json"
    write_json(out, {"domain": args.domain, "targets": args.targets, "seed": args.seed, "budget": args.budget,
                     "search_config": str(source) if source else None, "calls": calls, "repeat_images": images,
                     "keyed": keyed, "rows": rows,
                     "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                 "torch_threads": 1}})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
