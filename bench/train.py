"""Training throughput: data-pipeline samples/s per worker and training samples/s per model preset.

Rows, all on one domain (default csg2d) with a fixed seed:
  data/example generation   sample -> noise -> reverse path -> tokens, one process (per-worker figure)
  data/DataLoader W workers the same through torch DataLoader worker processes (wall clock)
  execute                   the domain executor on targets + currents (2 programs per sample)
  train/<preset>/<kind>     forward + backward + AdamW step on executed batches
  .../compiled              the same through torch.compile (with --compile; compilation not timed)
  trainer/<preset>          the whole loop of treediff.engine.training.train (data, execution, step) for a few steps
Per-core figures use this process's CPU time, so they hold on a shared machine; wall figures do not.
"16 workers" extrapolates the per-worker rate linearly, to compare with what a GPU step consumes.

    python bench/train.py [--domain csg2d] [--device cpu] [--threads 1] [--presets tiny default]
                          [--seconds 3] [--compile] [--out bench/results/train.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from treediff.engine.domains.domain import Domain
from treediff.engine.domains.registry import Registry, load_registry
from treediff.engine.files import write_json
from treediff.engine.training.bundle import build_models
from treediff.engine.training.data import EditStream, Materializer, make_batch, make_loader
from treediff.engine.training.recipe import data_spec, make_optimizer, model_config
from treediff.engine.training.train import TrainModule, run_training
from treediff.engine.training.traincfg import TrainConfig
from treediff.engine.trees.tokens import Vocab

ROOT = Path(__file__).resolve().parent.parent


def timed(step: Callable[[int], int], seconds: float, warmup: int = 1) -> dict[str, float]:
    """Run ``step(i)`` (returns samples done) until ``seconds`` of wall time; samples per wall and CPU second."""
    for i in range(warmup):
        step(10**6 + i)
    samples, calls = 0, 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while True:
        samples += step(calls)
        calls += 1
        wall = time.perf_counter() - wall0
        if wall >= seconds and calls >= 2:
            cpu = time.process_time() - cpu0
            return {"samples_per_s": samples / wall, "samples_per_cpu_s": samples / max(cpu, 1e-9),
                    "calls": calls, "seconds": wall}


def bench_data(domain: Domain, cfg: TrainConfig, batch: int, seconds: float) -> list[dict[str, Any]]:
    """Example generation in-process (per worker) and through DataLoader workers."""
    spec = data_spec(domain, cfg, model_config(cfg))
    vocab = Vocab(domain.grammar)
    rows = [{"row": "data/example generation (1 process)", "batch": batch,
             **timed(lambda i: len(make_batch(domain.grammar, vocab, spec, batch, 0, 0, i)), seconds)}]
    rows[0]["note"] = f"16 workers ~ {16 * rows[0]['samples_per_cpu_s']:.0f} samples/s"
    for workers in (1, 2):
        loader = iter(make_loader(EditStream(domain.grammar, spec, batch, 0), workers))
        rows.append({"row": f"data/DataLoader {workers} worker(s)", "batch": batch,
                     **timed(lambda i, it=loader: len(next(it)), seconds, warmup=2 * workers)})
        rows[-1].pop("samples_per_cpu_s")  # the work happens in other processes
        del loader
    return rows


def bench_execute(domain: Domain, cfg: TrainConfig, batch: int, device: torch.device,
                  seconds: float) -> dict[str, Any]:
    """The executor on one batch's targets and currents (what each training step renders)."""
    vocab = Vocab(domain.grammar)
    spec = data_spec(domain, cfg, model_config(cfg))
    mat = Materializer(domain, vocab, device)
    pool = [make_batch(domain.grammar, vocab, spec, batch, 0, 0, i) for i in range(8)]
    return {"row": f"execute (targets + currents) on {device}", "batch": batch,
            **timed(lambda i: len(mat(pool[i % len(pool)])), seconds)}


def bench_step(domain: Domain, registry: Registry, preset: str, kind: str, batch: int, device: torch.device,
               seconds: float, compiled: bool = False) -> dict[str, Any]:
    """Forward + backward + AdamW on pre-executed batches; with ``compiled`` through ``torch.compile`` (dynamic
    shapes, every batch shape compiled during the untimed warm-up)."""
    cfg = TrainConfig(preset=preset, model=kind, batch_size=batch)
    mcfg = model_config(cfg)
    vocab = Vocab(domain.grammar)
    torch.manual_seed(0)
    encoder = registry.encoder(domain.observation_encoder)
    models = build_models(kind, mcfg, vocab, tuple(domain.observation_shape), encoder)
    module = TrainModule(models, kind).to(device)
    opt = make_optimizer(module, cfg)
    mat = Materializer(domain, vocab, device, kind)
    spec = data_spec(domain, cfg, mcfg)
    batches = [mat(make_batch(domain.grammar, vocab, spec, batch, 0, 0, i)) for i in range(4)]
    amp = device.type == "cuda"
    forward = torch.compile(module, dynamic=True) if compiled else module

    def step(i: int) -> int:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            out = forward(batches[i % len(batches)])
        out["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return batch

    params = sum(p.numel() for p in module.parameters())
    row = f"train/{preset}/{kind}" + ("/compiled" if compiled else "")
    warmup = 2 * len(batches) if compiled else 2
    return {"row": row, "batch": batch, "params": params, **timed(step, seconds, warmup=warmup)}


def bench_trainer(domain: Domain, registry: Registry, preset: str, batch: int, device: str,
                  threads: int, steps: int) -> dict[str, Any]:
    """The real loop (data in-process, execution, step) via treediff.engine.training.train, reading its samples/s."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(preset=preset, batch_size=batch, steps=steps, log_every=steps, val_every=10**9,
                          checkpoint_every=10**9, val_size=1, device=device, threads=threads)
        with open(os.devnull, "w") as quiet:
            result = run_training(domain, cfg, Path(tmp), registry=registry, log_stream=quiet)
    return {"row": f"trainer/{preset} (whole loop, workers 0)", "batch": batch,
            "samples_per_s": result.last["samples_per_s"], "steps": steps}


def table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table."""
    lines = [f"{'benchmark':44s} {'batch':>5s} {'samples/s':>10s} {'per CPU s':>10s}  note"]
    for r in rows:
        cpu = f"{r['samples_per_cpu_s']:10.1f}" if "samples_per_cpu_s" in r else f"{'':10s}"
        note = r.get("note", "") or (f"{r['params'] / 1e6:.2f}M params" if "params" in r else "")
        lines.append(f"{r['row']:44s} {r['batch']:5d} {r['samples_per_s']:10.1f} {cpu}  {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", default="csg2d")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--presets", nargs="+", default=["tiny", "default"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--compile", action="store_true", help="also time each model step through torch.compile")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = load_registry()
    if args.domain == "blocks" and "blocks" not in registry.domains:  # the 16x16 test domain, for a quick run
        sys.path.insert(0, str(ROOT))
        from tests.engine.blocks_domain import make_domain

        registry.domains["blocks"] = make_domain()
    domain = registry.domain(args.domain)
    device = torch.device(args.device)
    cfg = TrainConfig()
    rows = bench_data(domain, cfg, args.batch, args.seconds)
    rows.append(bench_execute(domain, cfg, args.batch, device, args.seconds))
    for preset in args.presets:
        batch = args.batch if preset == "tiny" or device.type == "cuda" else 8
        rows.append(bench_step(domain, registry, preset, "diffusion", batch, device, args.seconds))
        rows.append(bench_step(domain, registry, preset, "ar", batch, device, args.seconds))
        if args.compile:
            rows += [bench_step(domain, registry, preset, kind, batch, device, args.seconds, compiled=True)
                     for kind in ("diffusion", "ar")]
    rows.append(bench_trainer(domain, registry, "tiny", args.batch, args.device, args.threads, 20))
    print(table(rows))
    report = {"domain": args.domain, "device": str(device), "threads": torch.get_num_threads(),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                          "torch": torch.__version__,
                          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
              "rows": rows}
    write_json(args.out, report, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
