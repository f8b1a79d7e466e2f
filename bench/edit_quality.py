"""Edit quality of a diffusion model: useful-edit rates by true remaining path length, and value quality.

Draws a fixed validation set from ``--seed`` (``--n`` target/noised pairs made by exactly k = 1..5 mutations,
plus n/5 goal pairs), then measures with evaluation.edit_quality: the share of greedy (top-1) edits that shorten
the tree edit distance to the target, the share of pairs where one of 8 edits sampled at temperature 1 does,
the same for the reverse path's own first edits (oracle), and the value network's Spearman correlation with
the true path length and its mean prediction at the goal. Loads the domain's shipped model unless
``--checkpoint`` is given. Exact k mutations mostly leave paths of 1-3 edits (mutations overlap);
``--by-length`` draws pairs with true path length exactly 1..5 instead (n/5 each, up to 20 mutations).
``--states FILE`` measures on-policy search states instead (pairs of a JSON-lines file written by
``python -m treediff.engine.training.states``; use one no model trained on). Prints a table and writes JSON.

    python bench/edit_quality.py --domain csg2d [--checkpoint DIR] [--n 64] [--seed 0] [--by-length] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from treediff.engine.domains.registry import load_registry
from treediff.engine.evaluation.edit_quality import edit_quality, goal_pairs, measure, state_pairs, table
from treediff.engine.files import write_json
from treediff.engine.training.bundle import load_bundle
from treediff.engine.training.states import read_states

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", default="csg2d")
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the domain's shipped model")
    p.add_argument("--n", type=int, default=64, help="noised pairs (k = 1..5 mutations in turn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--by-length", action="store_true", help="pairs of true path length 1..5 in turn")
    p.add_argument("--p-leaf", type=float, default=0.0,
                   help="each noise step is a leaf step with this probability (near misses), else a mutation")
    p.add_argument("--states", type=Path, default=None,
                   help="measure on n pairs of this search-states file instead of noised pairs")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--out", type=Path, default=None, help="default bench/results/edit-quality-<domain>.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = load_registry()
    domain = registry.domain(args.domain)
    checkpoint = args.checkpoint or domain.checkpoint
    if checkpoint is None:
        print(f"domain {domain.name!r} ships no model; pass --checkpoint", file=sys.stderr)
        return 2
    bundle = load_bundle(checkpoint, domain, registry, args.device)
    if bundle.kind != "diffusion":
        print(f"{checkpoint} holds a {bundle.kind!r} model; expected a diffusion model", file=sys.stderr)
        return 2
    executor = domain.make_executor(args.device)
    if args.states is not None:
        cfg = bundle.config
        states = read_states(args.states, domain.grammar)
        pairs = state_pairs(domain.grammar, states, args.n, args.seed, sigma_small=int(cfg.sigma_small),
                            vocab=bundle.vocab, max_tokens=int(cfg.max_program_tokens))
        result = measure(bundle, domain.grammar, executor, pairs, goal_pairs(pairs, max(1, args.n // 5)),
                         samples=args.samples, temperature=args.temperature, seed=args.seed)
    else:
        result = edit_quality(bundle, domain, executor, args.n, args.seed, samples=args.samples,
                              temperature=args.temperature, by_length=args.by_length, p_leaf=args.p_leaf)
    kind = f" of search states {args.states}" if args.states else " by path length" if args.by_length else \
        " by k mutations"
    print(f"{domain.name}, model {checkpoint} (step {bundle.meta.get('step')}), {args.n} pairs{kind}, "
          f"p_leaf {args.p_leaf}, seed {args.seed}")
    print(table(result))
    suffix = ("-by-length" if args.by_length else "") + (f"-leaf{args.p_leaf:g}" if args.p_leaf else "") + \
        ("-states" if args.states is not None else "")
    out = args.out or ROOT / "bench" / "results" / f"edit-quality-{domain.name}{suffix}.json"
    payload = {"domain": domain.name, "checkpoint": str(checkpoint), "step": bundle.meta.get("step"),
               "n": args.n, "seed": args.seed, "by_length": args.by_length, "p_leaf": args.p_leaf,
               "states": str(args.states) if args.states is not None else None,
               "device": args.device,
               "threads": torch.get_num_threads(),
               "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "result": result.to_json(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(out, payload, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
