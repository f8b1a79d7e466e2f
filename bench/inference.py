"""Sampling throughput of the neural models: edits from the denoiser, programs from the AR model, and the
grammar-constraint step (the tensor stack machine of engine/models/constraint.py).

Models have random weights (speed does not depend on training) and read CSG2D-sized observations
``[1, 128, 128]``; programs are random CSG trees with 2-8 primitives. For each preset: one
``propose_edits`` call on ``--batch`` programs x ``--samples`` edits and one ``sample_programs`` call on
``--batch`` / 8 targets x 8 samples, repeated ``--rounds`` times (best round kept). Figures are per wall
second and per CPU second of this process (the latter does not drop when other processes share the
machine; with several torch threads it counts all of them). Tokens = sampled replacement/program tokens
including EOS. Prints a table and writes JSON (default bench/results/inference.json).

    python bench/inference.py [--device cpu|cuda] [--threads 1] [--batch 64] [--samples 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from treediff.engine.files import write_json
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.models.autoregressive import ARModel
from treediff.engine.models.backbone import count_parameters
from treediff.engine.models.config import PRESETS
from treediff.engine.models.constraint import GrammarConstraint, TensorMaskTable
from treediff.engine.models.denoiser import Denoiser
from treediff.engine.models.encoders import grid_encoder
from treediff.engine.models.inference import propose_edits, sample_programs
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tokens import Vocab

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "tests" / "grammars" / "csg.yaml"
SHAPE = (1, 128, 128)


def best_of(rounds: int, fn: Callable[[], int]) -> tuple[float, float, int]:
    """Run ``fn`` (returns a work count) ``rounds`` times after a warm-up; best (wall s, cpu s, count)."""
    fn()
    best = (float("inf"), float("inf"), 0)
    for _ in range(rounds):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        count = fn()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if wall < best[0]:
            best = (wall, cpu, count)
    return best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_rows(preset: str, device: torch.device, batch: int, samples: int, rounds: int,
               seed: int) -> list[dict[str, Any]]:
    """Edit and program sampling rates of one preset."""
    grammar = Grammar.load(GRAMMAR)
    vocab = Vocab(grammar)
    rng = random.Random(seed)
    trees = [sample_tree(grammar, rng, 2, 8) for _ in range(batch)]
    torch.manual_seed(seed)
    cfg = PRESETS[preset]
    den = Denoiser(cfg, vocab, SHAPE, grid_encoder).to(device).eval()
    ar = ARModel(cfg, vocab, SHAPE, grid_encoder).to(device).eval()
    target = torch.rand(batch, *SHAPE, device=device)
    current = torch.rand(batch, *SHAPE, device=device)
    gen = torch.Generator(device=device)

    def edits() -> int:
        gen.manual_seed(seed)
        out = propose_edits(den, vocab, target, current, trees, samples, gen, unique=False)
        sync(device)
        return sum(len(vocab.encode(p.edit.replacement)) + 1 for row in out for p in row)

    n_targets = max(1, batch // 8)

    def programs() -> int:
        gen.manual_seed(seed)
        out = sample_programs(ar, vocab, target[:n_targets], 8, gen)
        sync(device)
        return sum(len(vocab.encode(t)) + 1 for row in out for t, _ in row)

    rows = []
    for what, fn, n_seq, model in (("edits", edits, batch * samples, den), ("programs", programs, n_targets * 8, ar)):
        wall, cpu, tokens = best_of(rounds, fn)
        rows.append({"preset": preset, "what": what, "params": count_parameters(model), "sequences": n_seq,
                     "seconds": wall, "tokens": tokens, "tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu,
                     "sequences_per_s": n_seq / wall})
    return rows


def constraint_rows(n: int, rounds: int, seed: int) -> list[dict[str, Any]]:
    """Cost of one mask+step of the grammar constraint over ``n`` rows."""
    grammar = Grammar.load(GRAMMAR)
    vocab = Vocab(grammar)
    table = TensorMaskTable.of(vocab, "cpu")
    budget = 38
    start = table.symbol_ids[grammar.start]
    rng = np.random.default_rng(seed)
    rand = rng.random((budget + 1, n))

    def walk(mask: np.ndarray, i: int) -> np.ndarray:
        cum = mask.cumsum(1)
        pick = (rand[i] * cum[:, -1]).astype(np.int64)  # a uniform allowed token per row
        return (cum > pick[:, None]).argmax(1)

    def tensor() -> int:
        c = GrammarConstraint(table, torch.full((n,), start), torch.full((n,), 2), torch.full((n,), budget))
        steps = 0
        while not bool(c.finished.all()):
            tok = walk(c.mask().numpy(), steps)
            c.step(torch.from_numpy(tok))
            steps += 1
        return steps

    rows = []
    for name, fn in (("torch GrammarConstraint", tensor),):
        wall, cpu, steps = best_of(rounds, fn)
        rows.append({"implementation": name, "rows": n, "steps": steps, "ms_per_step": 1000 * wall / steps})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: leave torch's default)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=["tiny", "default"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "inference.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = [r for p in args.presets for r in model_rows(p, device, args.batch, args.samples, args.rounds, args.seed)]
    constraint = constraint_rows(args.batch * args.samples, args.rounds, args.seed)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch} x {args.samples} samples")
    print(f"{'preset':8} {'what':9} {'params':>10} {'seqs':>6} {'seconds':>8} {'tokens/s':>10} {'tok/cpu-s':>10}")
    for r in models:
        print(f"{r['preset']:8} {r['what']:9} {r['params']:>10,} {r['sequences']:>6} {r['seconds']:>8.3f} "
              f"{r['tokens_per_s']:>10,.0f} {r['tokens_per_cpu_s']:>10,.0f}")
    print(f"\ngrammar constraint, {constraint[0]['rows']} rows (random allowed walks, csg, <= 2 primitives):")
    for r in constraint:
        print(f"  {r['implementation']:24} {r['ms_per_step']:8.3f} ms per mask+step")
    report = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "batch": args.batch, "samples": args.samples,
              "models": models, "constraint": constraint}
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
