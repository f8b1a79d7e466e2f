"""Rendering throughput: the batched torch executors against skia-python drawing the same scenes one at a time.

For each domain (CSG2D always; TinySVG when its plugin and reference are installed) it samples scenes with
exactly ``--primitives`` primitives (seeded), then measures images/s of the domain's executor for batches of
1, 64 and 1024 (``--batch`` adds sizes, e.g. 4096 on a GPU) and of the skia reference, interleaving the two
for ``--rounds`` rounds and keeping each one's best round. Rates are given per wall second and per CPU second
of this process (the latter does not drop when other processes share the machine; torch's figure counts all
its threads). Compilation of trees is included: CSG2D runs with its compile cache disabled.

    python bench/render.py [--device cpu|cuda] [--batch 4096] [--seconds 1] [--out bench/results/render.json]
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.references

from treediff.engine.domains.registry import load_registry  # noqa: E402
from treediff.engine.files import write_json  # noqa: E402
from treediff.engine.trees.derivation import sample_tree  # noqa: E402
from treediff.engine.trees.tree import Node  # noqa: E402
from treediff.plugins.csg2d.render import Renderer  # noqa: E402

REFERENCES = {"csg2d": "tests.references.csg2d_skia", "tinysvg": "tests.references.tinysvg_skia"}


def timed(run: Callable[[], object], images: int, seconds: float, sync: Callable[[], None]) -> dict[str, float]:
    """Repeat ``run`` (``images`` images per call) for at least ``seconds`` wall time and 2 calls."""
    run()
    sync()
    calls, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while calls < 2 or time.perf_counter() - wall0 < seconds:
        run()
        calls += 1
    sync()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_per_s": calls * images / wall, "cpu_per_s": calls * images / max(cpu, 1e-9)}


def best(samples: list[dict[str, float]]) -> dict[str, float]:
    """The best wall and CPU rates over rounds (interference only ever slows a round down)."""
    return {key: max(s[key] for s in samples) for key in samples[0]}


def reference_renderer(domain: str) -> Callable[[Node], Any] | None:
    """The skia reference's one-scene drawing function for ``domain``, or None when it is not installed."""
    try:
        module = importlib.import_module(REFERENCES[domain])
    except ImportError:
        return None
    if hasattr(module, "SkiaRenderer"):
        return module.SkiaRenderer().render_uint8  # type: ignore[no-any-return]
    return module.render_reference  # type: ignore[no-any-return]


def executor_for(name: str, registry: Any, device: str) -> Any:
    if name == "csg2d":
        return Renderer(device, cache_size=0)  # measure compilation too
    return registry.domain(name).make_executor(device)


def measure_domain(name: str, registry: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows (one per batch size) for one domain."""
    grammar = registry.domain(name).grammar
    rng = random.Random(args.seed)
    sizes = sorted(set(args.batches + args.batch))
    pool = [sample_tree(grammar, rng, args.primitives, args.primitives) for _ in range(max(sizes))]
    executor = executor_for(name, registry, args.device)
    sync = torch.cuda.synchronize if executor.device.type == "cuda" else (lambda: None)
    draw = reference_renderer(name) if args.skia else None
    skia_pool = pool[:256]
    rows = []
    for size in sizes:
        batch = pool[:size]
        ours, theirs = [], []
        def run(batch: list[Node] = batch) -> object:
            return executor.execute(batch)

        for _ in range(args.rounds):
            ours.append(timed(run, size, args.seconds, sync))
            if draw is not None:
                theirs.append(timed(lambda: [draw(t) for t in skia_pool], len(skia_pool), args.seconds, sync))
        row: dict[str, Any] = {"domain": name, "batch": size, "device": str(executor.device), **best(ours)}
        if theirs:
            ref = best(theirs)
            row.update(skia_wall_per_s=ref["wall_per_s"], skia_cpu_per_s=ref["cpu_per_s"],
                       ratio_wall=row["wall_per_s"] / ref["wall_per_s"], ratio_cpu=row["cpu_per_s"] / ref["cpu_per_s"])
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


HEADER = (f"{'domain':8} {'batch':>6} {'device':>6} {'torch img/s':>12} {'/cpu-s':>9} {'skia img/s':>11} "
          f"{'/cpu-s':>9} {'ratio':>6} {'/cpu':>6}")


def format_row(row: dict[str, Any]) -> str:
    def num(key: str, width: int, fmt: str = ",.0f") -> str:
        return f"{row[key]:>{width}{fmt}}" if key in row else f"{'-':>{width}}"
    return (f"{row['domain']:8} {row['batch']:>6} {row['device']:>6} {num('wall_per_s', 12)} {num('cpu_per_s', 9)} "
            f"{num('skia_wall_per_s', 11)} {num('skia_cpu_per_s', 9)} {num('ratio_wall', 6, '.2f')} "
            f"{num('ratio_cpu', 6, '.2f')}")


def machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor(),
                            "cpus": os.cpu_count(), "torch": torch.__version__,
                            "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--batch", type=int, action="append", default=[], help="an extra batch size (repeatable)")
    parser.add_argument("--primitives", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum wall time per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--domains", nargs="+", default=["csg2d", "tinysvg"])
    parser.add_argument("--no-skia", dest="skia", action="store_false")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "render.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = load_registry()
    before = os.getloadavg()
    print(HEADER)
    rows, notes = [], []
    for name in args.domains:
        if name not in registry.domains:
            notes.append(f"{name}: domain not installed, skipped")
            continue
        if args.skia and reference_renderer(name) is None:
            notes.append(f"{name}: no skia reference installed; torch figures only")
        rows.extend(measure_domain(name, registry, args))
    for note in notes:
        print(note)
    info = machine(args.device)
    info["load_average_before"] = before
    write_json(args.out, {"machine": info, "settings": {k: (str(v) if isinstance(v, Path) else v)
                                                        for k, v in vars(args).items()},
                          "rows": rows, "notes": notes})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
