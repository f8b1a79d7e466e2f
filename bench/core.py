"""Per-core throughput of the engine core on CSG2D-sized programs (2-8 primitives).

Measures, in one process with a fixed seed: random samples, samples + tokenizations, tokenizations,
mutations, forward process + reverse path, and tree edit distances. Prints a table comparing against the
research code's per-core figures (goal: 10x) and writes JSON (default bench/results/core.json).

    python bench/core.py [--seconds 2] [--seed 0] [--out bench/results/core.json]
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

from treediff.engine.files import write_json
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import forward, mutate, reverse_path
from treediff.engine.trees.ted import tree_edit_distance

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "tests" / "grammars" / "csg.yaml"
LO, HI = 2, 8
# Per-core figures of the research implementation this method comes from.
BASELINE = {"samples+tokenizations/s": 2100.0, "mutations/s": 633.0, "forward+reverse path/s": 217.0}
GOAL_FACTOR = 10.0


def rate(step: Callable[[int], object], seconds: float) -> tuple[float, float, int]:
    """Calls of ``step(i)`` per CPU second of this process and per wall second, run for >= ``seconds`` CPU.

    CPU time is the per-core figure: it does not drop when other processes share the machine.
    """
    step(0)  # warm caches (grammar tables, vocab plans)
    done, batch = 0, 256
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while True:
        for i in range(done, done + batch):
            step(i)
        done += batch
        cpu = time.process_time() - cpu0
        if cpu >= seconds:
            return done / cpu, done / (time.perf_counter() - wall0), done


def measure(seconds: float, seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every benchmark row; returns the rows and notes about rows that were skipped."""
    grammar = Grammar.load(GRAMMAR)
    rng = random.Random(seed)
    pool = [sample_tree(grammar, rng, LO, HI) for _ in range(4096)]
    noised = [forward(t, grammar, rng) for t in pool]
    notes: list[str] = []
    steps: dict[str, Callable[[int], object]] = {
        "samples/s": lambda i: sample_tree(grammar, rng, LO, HI),
    }
    try:
        from treediff.engine.trees.tokens import Vocab
    except ImportError:
        notes.append("treediff.engine.trees.tokens.Vocab is not available: tokenization rows skipped")
    else:
        vocab = Vocab(grammar)
        encode = vocab.encode
        encoded = [encode(t) for t in pool]
        steps["samples+tokenizations/s"] = lambda i: encode(sample_tree(grammar, rng, LO, HI))
        steps["tokenizations/s"] = lambda i: encode(pool[i & 4095])
        steps["detokenizations/s"] = lambda i: vocab.decode(encoded[i & 4095])
        steps.update(_decoder_rows(vocab, seed))
    steps["mutations/s"] = lambda i: mutate(pool[i & 4095], grammar, rng)

    def forward_and_reverse(i: int) -> list[Any]:
        target = pool[i & 4095]
        return reverse_path(forward(target, grammar, rng), target, grammar)

    steps["forward+reverse path/s"] = forward_and_reverse
    steps["reverse paths/s"] = lambda i: reverse_path(noised[i & 4095], pool[i & 4095], grammar)
    steps["tree edit distances/s"] = lambda i: tree_edit_distance(noised[i & 4095], pool[i & 4095])
    rows = []
    for name, step in steps.items():
        per_s, per_wall_s, calls = rate(step, seconds)
        base = BASELINE.get(name)
        rows.append({"name": name, "per_second": round(per_s, 1), "per_wall_second": round(per_wall_s, 1),
                     "calls": calls, "baseline": base,
                     "goal": base * GOAL_FACTOR if base else None,
                     "speedup": round(per_s / base, 2) if base else None})
    return rows, notes


def _decoder_rows(vocab: Any, seed: int) -> dict[str, Callable[[int], object]]:
    """Grammar-constrained decoding (engine/models/constraint.py): one tree, and one step at batch 256."""
    import torch

    from treediff.engine.models.constraint import GrammarConstraint, TensorMaskTable

    table = TensorMaskTable.of(vocab, "cpu")
    start = table.symbol_ids[vocab.grammar.start]
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {}

    def new(n: int) -> GrammarConstraint:
        return GrammarConstraint(table, torch.full((n,), start), torch.full((n,), HI), torch.full((n,), 64))

    def pick(c: GrammarConstraint) -> torch.Tensor:
        mask = c.mask()
        return (torch.rand(mask.shape, generator=gen) * mask).argmax(1)

    def constrained_tree(i: int) -> object:
        c = new(1)
        ids = []
        while not bool(c.complete.all()):
            tok = pick(c)
            ids.append(int(tok[0]))
            c.step(tok)
        return vocab.decode(ids)

    def batch_step(i: int) -> object:
        c = state.get("c")
        if c is None or bool(c.finished.all()):
            c = state["c"] = new(256)
        c.step(pick(c))
        return None

    return {"constrained decodes/s": constrained_tree, "batch-256 decode steps/s": batch_step}


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'benchmark':<26}{'per CPU s':>12}{'per wall s':>12}{'research':>10}{'goal':>9}{'speedup':>9}"]
    for r in rows:
        base = f"{r['baseline']:.0f}" if r["baseline"] else "-"
        goal = f"{r['goal']:.0f}" if r["goal"] else "-"
        speed = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        lines.append(f"{r['name']:<26}{r['per_second']:>12,.0f}{r['per_wall_second']:>12,.0f}{base:>10}{goal:>9}"
                     f"{speed:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum CPU time per benchmark row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "core.json")
    args = parser.parse_args(argv)
    rows, notes = measure(args.seconds, args.seed)
    print(f"treediff core, one process, CSG2D-sized programs ({LO}-{HI} primitives), seed {args.seed}")
    print(table(rows))
    for note in notes:
        print("note:", note)
    write_json(args.out, {
        "benchmark": "core", "grammar": str(GRAMMAR.relative_to(ROOT)), "primitives": [LO, HI], "seed": args.seed,
        "cpu_seconds_per_row": args.seconds, "per_second": "calls per CPU second of this one process",
        "python": sys.version.split()[0], "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None, "rows": rows, "notes": notes})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
