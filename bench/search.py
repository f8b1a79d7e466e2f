"""Search throughput: renderer calls/s and edits proposed/s, and where the time goes (model, rendering, Python).

Runs every method on a few of the domain's test targets with the goal check off (so each solve spends its
whole budget), timing model calls and executor batches with perf_counter hooks inside the search
(treediff.engine.search.budget.Profile). Without --checkpoint the models are freshly initialised from a preset: their
proposals are random but their compute cost is the preset's. Prints a table and writes JSON.

    python bench/search.py [--domain csg2d] [--device cpu|cuda] [--preset tiny] [--budget 300] [--targets 3]
                           [--methods beam,rollout,mutation,ar] [--checkpoint C] [--ar-checkpoint C] [--out F]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from treediff.engine.domains.registry import load_registry
from treediff.engine.files import write_json
from treediff.engine.models.config import PRESETS
from treediff.engine.search.solve import METHODS, NEEDS, solve
from treediff.engine.training.bundle import ModelBundle, build_models, load_bundle
from treediff.engine.trees.tokens import Vocab

ROOT = Path(__file__).resolve().parent.parent


def fresh_bundle(domain: Any, kind: str, preset: str, device: str, registry: Any, seed: int) -> ModelBundle:
    """Randomly initialised models of ``kind`` from ``preset`` (compute cost only; proposals are random)."""
    torch.manual_seed(seed)
    config = PRESETS[preset]
    vocab = Vocab(domain.grammar)
    encoder = registry.encoder(domain.observation_encoder)
    models = build_models(kind, config, vocab, tuple(domain.observation_shape), encoder)
    for module in models.values():
        module.to(device).eval()
    return ModelBundle(kind, models.get("denoiser"), models.get("value"), models.get("ar"), vocab, config,
                       {"preset": preset, "fresh": True}, torch.device(device))


def bench_method(domain: Any, method: str, targets: list[torch.Tensor], budget: int, device: str, bundle: Any,
                 ar_bundle: Any, seed: int) -> dict[str, Any]:
    """Run ``method`` on every target; sum calls, edits and section times."""
    executor = domain.make_executor(device)
    solve(domain, targets[0], method, budget=min(budget, 20), seed=seed, bundle=bundle, ar_bundle=ar_bundle,
          device=device, executor=executor, use_goal=False)  # warm-up: kernels, caches
    totals: dict[str, float] = {"calls": 0, "seconds": 0.0, "model": 0.0, "render": 0.0, "python": 0.0,
                                "edits_proposed": 0, "programs_sampled": 0, "cpu_seconds": 0.0}
    for i, target in enumerate(targets):
        cpu0 = time.process_time()
        result = solve(domain, target, method, budget=budget, seed=seed + i, bundle=bundle, ar_bundle=ar_bundle,
                       device=device, executor=executor, use_goal=False)
        totals["cpu_seconds"] += time.process_time() - cpu0
        totals["calls"] += result.renderer_calls
        totals["seconds"] += result.seconds
        for key in ("model", "render", "python"):
            totals[key] += result.profile.get(key, 0.0)
        totals["edits_proposed"] += result.counts.get("edits_proposed", 0)
        totals["programs_sampled"] += result.counts.get("programs_sampled", 0)
    wall = max(totals["seconds"], 1e-9)
    sampled = round(totals["programs_sampled"] / wall, 1) if totals["programs_sampled"] else None
    return {"method": method, "device": device, "targets": len(targets), "budget": budget,
            "renderer_calls": int(totals["calls"]), "seconds": round(wall, 4),
            "calls_per_s": round(totals["calls"] / wall, 1),
            "edits_per_s": round(totals["edits_proposed"] / wall, 1) if totals["edits_proposed"] else None,
            "programs_sampled_per_s": sampled,
            "share_model": round(totals["model"] / wall, 3), "share_render": round(totals["render"] / wall, 3),
            "share_python": round(totals["python"] / wall, 3), "cpu_seconds": round(totals["cpu_seconds"], 3)}


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'method':<10} {'device':<7} {'calls':>6} {'seconds':>8} {'calls/s':>9} {'edits/s':>9} "
            f"{'model':>6} {'render':>7} {'python':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        edits = r["edits_per_s"] if r["edits_per_s"] is not None else r["programs_sampled_per_s"]
        lines.append(f"{r['method']:<10} {r['device']:<7} {r['renderer_calls']:>6} {r['seconds']:>8.2f} "
                     f"{r['calls_per_s']:>9.1f} {edits if edits is not None else '-':>9} "
                     f"{100 * r['share_model']:>5.0f}% {100 * r['share_render']:>6.0f}% "
                     f"{100 * r['share_python']:>6.0f}%")
    return "\n".join(lines)


def machine(device: str, threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cpu_count": os.cpu_count(), "torch_threads": threads,
                            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--ar-checkpoint", type=Path, default=None)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--targets", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default bench/results/search-<domain>-<device type>.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = load_registry()
    domain = registry.domain(args.domain)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bundle = load_bundle(args.checkpoint, domain, registry, args.device) if args.checkpoint else None
    if bundle is None and any(NEEDS[m] == "diffusion" for m in methods):
        bundle = fresh_bundle(domain, "diffusion", args.preset, args.device, registry, args.seed)
    ar_bundle = load_bundle(args.ar_checkpoint, domain, registry, args.device) if args.ar_checkpoint else None
    if ar_bundle is None and "ar" in methods:
        ar_bundle = fresh_bundle(domain, "ar", args.preset, args.device, registry, args.seed)
    executor = domain.make_executor(args.device)
    trees = domain.test_targets(args.targets, args.seed) if domain.test_targets else []
    with torch.no_grad():
        observations = executor.execute(trees)
    targets = [observations[i] for i in range(len(trees))]
    rows = [bench_method(domain, m, targets, args.budget, args.device, bundle, ar_bundle, args.seed) for m in methods]
    print(f"{domain.name}, {len(targets)} targets x {args.budget} renderer calls, models: "
          f"{'checkpoint' if args.checkpoint else 'fresh ' + args.preset}, threads {torch.get_num_threads()}")
    print(table(rows))
    out = args.out or ROOT / "bench" / "results" / f"search-{domain.name}-{torch.device(args.device).type}.json"
    payload = {"domain": domain.name, "preset": None if args.checkpoint else args.preset,
               "checkpoint": str(args.checkpoint) if args.checkpoint else None,
               "machine": machine(args.device, torch.get_num_threads()), "rows": rows,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(out, payload, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
