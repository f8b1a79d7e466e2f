"""Search levers: solve rate of beam-search variants (ranking mix, leaf-neighbour edits, kept parents) and
mutation search on fixed generated targets, side by side, at one renderer-call budget.

Each variant is a set of beam options (see ``treediff.engine.search.beam.beam_search``) run with the same
model on the same targets and seeds; the table reports solved targets, the mean renderer calls the solved ones
spent (``renderer_calls``: the whole run, including the rest of the batch that held the goal match, as in the
earlier rounds' tables), the median call number at which they were solved (``calls_at_solve``, what the eval's
solved-against-calls curve counts) and the mean final distance. Prints a table and writes JSON.

    python bench/search_levers.py [--domain csg2d] [--targets 8] [--budget 2000] [--checkpoint C]
                                  [--variants NAME,...] [--bundled] [--out F]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from treediff.engine.commands.demo import bundled_targets_dir
from treediff.engine.domains.registry import load_registry
from treediff.engine.evaluation.harness import Target, directory_targets, generated_targets, pair_seed
from treediff.engine.files import write_json
from treediff.engine.search.config import SearchConfig
from treediff.engine.search.solve import solve
from treediff.engine.training.bundle import load_bundle
from treediff.engine.trees.derivation import sample_tree

ROOT = Path(__file__).resolve().parent.parent

#: name -> (method, options). "paper" is the value-ranked beam of the paper (the engine's old default).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("beam", {"mix": 0.0, "local": 0, "keep_parents": False, "patience": 10**9, "beam_width": 8,
                       "expansions": 8}),
    "value+local": ("beam", {"mix": 0.0, "local": 1, "beam_width": 8, "expansions": 4}),
    "mix0.5+local": ("beam", {"mix": 0.5, "local": 1, "beam_width": 8, "expansions": 4}),
    "distance+local": ("beam", {"mix": 1.0, "local": 1, "beam_width": 8, "expansions": 4}),
    "distance+local-b4": ("beam", {"mix": 1.0, "local": 2, "expansions": 8, "beam_width": 4}),
    "mix0.25+local-b4": ("beam", {"mix": 0.25, "local": 2, "expansions": 8, "beam_width": 4}),
    "mix0.5+local-b4": ("beam", {"mix": 0.5, "local": 2, "expansions": 8, "beam_width": 4}),
    "distance+local4-b4": ("beam", {"mix": 1.0, "local": 4, "expansions": 8, "beam_width": 4}),
    "distance+local-b2": ("beam", {"mix": 1.0, "local": 2, "expansions": 16, "beam_width": 2}),
    "default": ("beam", {}),
    "restart-start": ("beam", {"restart": "start"}),
    "restart-start-p15": ("beam", {"restart": "start", "patience": 15}),
    "b8-restart-start": ("beam", {"restart": "start", "beam_width": 8}),
    "b8e4-local4-restart-start": ("beam", {"restart": "start", "beam_width": 8, "expansions": 4, "local": 4}),
    "local4-restart-start": ("beam", {"restart": "start", "local": 4}),
    "ar-start": ("beam", {"start": "ar", "ar_samples": 8}),
    "ar64-start": ("beam", {"start": "ar", "ar_samples": 64}),
    "ar256-start": ("beam", {"start": "ar", "ar_samples": 256}),
    "ar64-next": ("beam", {"start": "ar", "ar_samples": 64, "restart": "next"}),
    "ar256-next": ("beam", {"start": "ar", "ar_samples": 256, "restart": "next"}),
    "ar64-next-p8": ("beam", {"start": "ar", "ar_samples": 64, "restart": "next", "patience": 8}),
    "ar64-next-p12": ("beam", {"start": "ar", "ar_samples": 64, "restart": "next", "patience": 12}),
    "ar64-start-p10": ("beam", {"start": "ar", "ar_samples": 64, "patience": 10}),
    "ar64-l1-ls128": ("beam", {"start": "ar", "ar_samples": 64, "local": 1, "local_samples": 128}),
    "ar64-l4": ("beam", {"start": "ar", "ar_samples": 64, "local": 4}),
    "ar64-pairs": ("beam", {"start": "ar", "ar_samples": 64, "local_pairs": True}),
    "ar64-vs1": ("beam", {"start": "ar", "ar_samples": 64, "value_slots": 1}),
    "ar64-mix0.5": ("beam", {"start": "ar", "ar_samples": 64, "mix": 0.5}),
    "ar64-t0.7": ("beam", {"start": "ar", "ar_samples": 64, "ar_temperature": 0.7}),
    "ar64-t0.85": ("beam", {"start": "ar", "ar_samples": 64, "ar_temperature": 0.85}),
    "ar64-w8": ("beam", {"start": "ar", "ar_samples": 64, "beam_width": 8}),
    "ar64-w8-e4": ("beam", {"start": "ar", "ar_samples": 64, "beam_width": 8, "expansions": 4}),
    "ar64-w2-e16": ("beam", {"start": "ar", "ar_samples": 64, "beam_width": 2, "expansions": 16}),
    "ls32": ("beam", {"local_samples": 32}),
    "p10": ("beam", {"patience": 10}),
    "p5": ("beam", {"patience": 5}),
    "p10-ls32": ("beam", {"patience": 10, "local_samples": 32}),
    "e16-ls32": ("beam", {"expansions": 16, "local_samples": 32}),
    "step2-restart-start": ("beam", {"restart": "start", "local_step": 2}),
    "step3-s128-restart-start": ("beam", {"restart": "start", "local_step": 3, "local_samples": 128}),
    "mix0.5": ("beam", {"mix": 0.5}),
    "mix0": ("beam", {"mix": 0.0}),
    "pairs": ("beam", {"local_pairs": True}),
    "swaps": ("beam", {"local_swaps": True}),
    "diverse1": ("beam", {"diverse": 1}),
    "diverse2": ("beam", {"diverse": 2}),
    "kick1": ("beam", {"restart": "kick", "kick": 1}),
    "kick2": ("beam", {"restart": "kick", "kick": 2}),
    "kick3": ("beam", {"restart": "kick", "kick": 3}),
    "kick2-p10": ("beam", {"restart": "kick", "kick": 2, "patience": 10}),
    "diverse1-kick2": ("beam", {"diverse": 1, "restart": "kick", "kick": 2}),
    "diverse3": ("beam", {"diverse": 3}),
    "diverse2-kick1": ("beam", {"diverse": 2, "restart": "kick", "kick": 1}),
    "diverse2-local4": ("beam", {"diverse": 2, "local": 4}),
    "diverse2-b8e4": ("beam", {"diverse": 2, "beam_width": 8, "expansions": 4}),
    "diverse2-b8e4-local4": ("beam", {"diverse": 2, "beam_width": 8, "expansions": 4, "local": 4}),
    "diverse1-local4": ("beam", {"diverse": 1, "local": 4}),
    "bf1": ("beam", {"expand_limit": 1}),
    "bf3": ("beam", {"expand_limit": 3}),
    "bf3-p60": ("beam", {"expand_limit": 3, "patience": 60}),
    "bf3-diverse2": ("beam", {"expand_limit": 3, "diverse": 2}),
    "bf1-diverse2": ("beam", {"expand_limit": 1, "diverse": 2}),
    "pp2": ("beam", {"per_position": 2}),
    "pp4": ("beam", {"per_position": 4}),
    "vs1": ("beam", {"value_slots": 1}),
    "vs2": ("beam", {"value_slots": 2}),
    "ar64-infill8": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 8}),
    "ar64-infill16": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16}),
    "ar64-infill32": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 32}),
    "ar64-e12": ("beam", {"start": "ar", "ar_samples": 64, "expansions": 12}),
    "ar64-infill16-e4": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16, "expansions": 4}),
    "ar64-infill32-e1": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 32, "expansions": 1}),
    "ar64-infill24-e2": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 24, "expansions": 2}),
    "infill16-e4": ("beam", {"ar_edits": 16, "expansions": 4}),
    "ar64-suffix16-e4": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16, "expansions": 4,
                                  "ar_rewrite": "suffix"}),
    "ar64-infill16-e4-t0.5": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16, "expansions": 4,
                                       "ar_edit_temperature": 0.5}),
    "ar64-infill16-e4-t1": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16, "expansions": 4,
                                     "ar_edit_temperature": 1.0}),
    "ar64-infill16-e4-dsites": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 16, "expansions": 4,
                                         "ar_sites": "denoiser"}),
    "ar64-both8-e4": ("beam", {"start": "ar", "ar_samples": 64, "ar_edits": 8, "expansions": 4,
                               "ar_rewrite": "both"}),
    "mutation": ("mutation", {}),
}


def multiscale(name: str, scales: tuple[int, ...] = (1, 2, 4, 8, 16)) -> Any:
    """A smoother ranking distance for an image domain: the mean over average-pooled scales of RMSE (TinySVG)
    or of 1 - soft IoU of the binarized foreground (CSG2D), so a part near its place ranks above a missing one.
    The goal check is unchanged; only the search's ranking (and reported score) use it."""
    def pooled(x: torch.Tensor, k: int) -> torch.Tensor:
        return F.avg_pool2d(x, k) if k > 1 else x

    def rmse(obs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W], [3, H, W] -> [B]
        t = target.reshape(obs.shape[1:]).to(obs.device, torch.float32)[None]
        return sum((pooled(obs.float(), k) - pooled(t, k)).square().flatten(1).mean(1).sqrt()
                   for k in scales) / len(scales)

    def soft_iou(obs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # [B, *S], [*S] -> [B]
        planes = (obs.shape[0], -1, *obs.shape[-2:])  # [B, C, H, W]
        o = (obs > 0.5).float().reshape(planes)
        t = (target.to(obs.device) > 0.5).float().reshape(1, *planes[1:])
        out = torch.zeros(obs.shape[0])
        for k in scales:
            a, b = pooled(o, k), pooled(t, k)
            inter, union = torch.minimum(a, b).flatten(1).sum(1), torch.maximum(a, b).flatten(1).sum(1)
            out = out + torch.where(union > 0, 1 - inter / union.clamp(min=1e-6), torch.zeros_like(union))
        return out / len(scales)

    return rmse if name == "tinysvg" else soft_iou


def config_of(method: str, options: dict[str, Any]) -> SearchConfig:
    """The SearchConfig of a variant: ``options`` applied to the method's section (the top-level settings such as
    ``start``, ``ar_samples`` and ``ar_order`` at the top)."""
    sections = {"beam", "rollout", "mutation"}
    top = {k: options[k] for k in options if k in SearchConfig.model_fields and k not in sections}
    config = SearchConfig().with_overrides("", **top)
    return config.with_overrides(method, **{k: v for k, v in options.items() if k not in top})


def run_variant(domain: Any, bundle: Any, targets: list[Any], executor: Any, method: str,
                options: dict[str, Any], budget: int, seed: int, ar_bundle: Any = None) -> dict[str, Any]:
    """Solve every target with one variant; per-target results and the summary."""
    rows = []
    start = time.perf_counter()
    for target in targets:
        result = solve(domain, target.observation, method, budget=budget, seed=pair_seed(seed, target.name, method),
                       bundle=bundle, ar_bundle=ar_bundle, executor=executor, config=config_of(method, options))
        rows.append({"target": target.name, "solved": result.solved, "calls": result.renderer_calls,
                     "calls_at_solve": result.calls_at_solve, "score": result.score,
                     "program": str(result.program)})
    solved = [r for r in rows if r["solved"]]
    return {"method": method, "options": options, "solved": len(solved), "targets": len(rows),
            "mean_calls_solved": sum(r["calls"] for r in solved) / len(solved) if solved else None,
            "median_calls_at_solve": statistics.median(r["calls_at_solve"] for r in solved) if solved else None,
            "mean_score": sum(r["score"] for r in rows) / max(len(rows), 1),
            "seconds": time.perf_counter() - start, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--targets", type=int, default=8, help="generated test targets (fixed seed)")
    p.add_argument("--bundled", action="store_true", help="use the domain's bundled demo targets instead")
    p.add_argument("--primitives", default=None, metavar="LO-HI",
                   help="random targets with LO..HI primitives (seeded) instead of the domain's test targets")
    p.add_argument("--budget", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="diffusion model (default: the domain's shipped model)")
    p.add_argument("--ar-checkpoint", default=None, help="AR model for start=ar variants (default: the shipped one)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")
    p.add_argument("--options", default=None, help='extra variant "custom" as JSON beam options')
    p.add_argument("--rank-distance", choices=["domain", "multiscale"], default="domain",
                   help="rank by the domain's distance or by a multi-scale one (see multiscale)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    registry = load_registry()
    domain = registry.domain(args.domain)
    if args.rank_distance == "multiscale":
        domain = dataclasses.replace(domain, distance=multiscale(args.domain))
    executor = domain.make_executor("cpu")
    checkpoint = args.checkpoint or domain.checkpoint
    bundle = load_bundle(checkpoint, domain, registry, "cpu")
    ar_path = args.ar_checkpoint or domain.ar_checkpoint
    ar_bundle = load_bundle(ar_path, domain, registry, "cpu") if ar_path else None
    if args.bundled:
        targets = directory_targets(domain, bundled_targets_dir(domain, registry), executor)
    elif args.primitives:
        lo, _, hi = args.primitives.partition("-")
        rng = random.Random(args.seed)
        drawn = (sample_tree(domain.grammar, rng, int(lo), int(hi or lo)) for _ in range(args.targets))
        trees = list(dict.fromkeys(drawn))
        targets = [Target(f"p{i:04d}", executor.execute([t])[0], t) for i, t in enumerate(trees)]
    else:
        targets = generated_targets(domain, args.targets, args.seed, executor)
    variants = {name: VARIANTS[name] for name in args.variants.split(",") if name}
    if args.options:
        variants["custom"] = ("beam", json.loads(args.options))
    results = {}
    print(f"{args.domain}: {len(targets)} targets, budget {args.budget}, model {checkpoint}")
    print(f"{'variant':<22} {'solved':>7} {'calls(solved)':>14} {'median solve call':>18} {'mean dist':>10} {'s':>6}")
    for name, (method, options) in variants.items():
        out = run_variant(domain, bundle, targets, executor, method, options, args.budget, args.seed, ar_bundle)
        results[name] = out
        calls = f"{out['mean_calls_solved']:.0f}" if out["mean_calls_solved"] is not None else "-"
        at = f"{out['median_calls_at_solve']:.0f}" if out["median_calls_at_solve"] is not None else "-"
        print(f"{name:<22} {out['solved']:>3}/{out['targets']:<3} {calls:>14} {at:>18} {out['mean_score']:>10.4f} "
              f"{out['seconds']:>6.0f}", flush=True)
    suffix = "bundled" if args.bundled else f"{args.targets}" + (f"-p{args.primitives}" if args.primitives else "")
    out_path = args.out or ROOT / "bench" / "results" / f"search-levers-{args.domain}-{suffix}.json"
    write_json(out_path, {"domain": args.domain, "budget": args.budget, "seed": args.seed,
                          "checkpoint": str(checkpoint), "ar_checkpoint": str(ar_path) if ar_path else None,
                          "bundled": args.bundled, "targets": len(targets),
                          "rank_distance": args.rank_distance,
                          "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                      "torch_threads": 1, "note": "2-core dev machine shared with training"},
                          "variants": results})
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
