"""``treediff eval``: every method on a set of targets; JSONL records, a solved-vs-calls plot and a summary.

Under ``torchrun --nproc_per_node K treediff eval ...`` rank ``r`` takes targets ``r::K``; all ranks append to
one ``results.jsonl`` and rank 0 writes the plot and the summary once every rank is done.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from treediff.engine.commands.searchargs import (
    add_model_args,
    add_search_args,
    apply_threads,
    load_models,
    models_needed,
    parse_methods,
    search_config,
)
from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import InputError
from treediff.engine.evaluation.resumecheck import model_hashes
from treediff.engine.search.solve import METHODS, NEEDS

DEFAULT_BUDGET = 5000


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``eval`` subcommand."""
    p = sub.add_parser("eval", help="compare search methods on many targets (JSONL, plot, Markdown summary)")
    p.add_argument("domain")
    add_model_args(p)
    add_search_args(p)
    p.add_argument("-n", "--n", dest="n", type=int, default=256, help="number of generated targets (default 256)")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help=f"renderer calls per target and method (default {DEFAULT_BUDGET})")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated, from {','.join(METHODS)} (default: every method whose model is available)")
    p.add_argument("--targets", type=Path, default=None, metavar="DIR",
                   help="a directory of target observation files (the domain's suffix, e.g. .png) and/or .txt "
                        "programs instead of generated ones; the domain's observation options (e.g. csg2d's "
                        "--invert) follow as --NAME, --no-NAME or --NAME=VALUE")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output directory (default runs/eval-DOMAIN)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted evaluation in --out")
    p.set_defaults(run=run, domain_options=True)


def run(args: argparse.Namespace) -> int:
    """Evaluate this rank's shard; rank 0 writes the plot and the summary at the end."""
    from treediff.engine.evaluation.evalreport import write_outputs
    from treediff.engine.evaluation.harness import directory_targets, generated_targets, run_evaluation
    from treediff.engine.training.distributed import setup, teardown

    if args.budget < 1:
        raise InputError(f"--budget {args.budget}; expected a positive number of renderer calls")
    apply_threads(args.threads)
    registry = load_registry()
    domain = registry.domain(args.domain)
    options = getattr(args, "options", {})
    domain.observation_options(options)  # unknown options are an error even without --targets
    if options and args.targets is None:
        raise InputError(f"observation options {sorted(options)} apply to target files; expected --targets DIR")
    out = args.out or Path("runs") / f"eval-{domain.name}"
    ctx = setup(args.device)
    try:
        device = str(ctx.device)
        methods = parse_methods(args.methods) if args.methods else _available_methods(domain, args)
        config = search_config(args, domain)
        needs = models_needed(methods, config)
        bundle, ar_bundle = load_models(domain, registry, needs, args.checkpoint, args.ar_checkpoint, device)
        executor = domain.make_executor(device)
        if args.targets is not None:
            targets = directory_targets(domain, args.targets, executor, options)
        else:
            targets = generated_targets(domain, args.n, args.seed, executor)
        settings = _settings(args, domain.name, methods, len(targets))
        settings["search"] = config.model_dump(mode="json")
        if options:
            settings["observation_options"] = options
        settings.update(model_hashes(domain, needs, args.checkpoint, args.ar_checkpoint))
        records = run_evaluation(domain, targets, methods, out, settings, ctx, resume=args.resume,
                                 budget=args.budget, seed=args.seed, time_limit=args.time_limit, bundle=bundle,
                                 ar_bundle=ar_bundle, device=device, config=config,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True))
        if records is not None:
            plot, summary = write_outputs(out, records, methods, args.budget,
                                          title=f"{domain.name}: {len(targets)} targets, budget {args.budget}")
            print(summary.read_text(encoding="utf-8"), end="")
            print(f"results: {out / 'results.jsonl'}\nplot: {plot}\nsummary: {summary}")
    finally:
        teardown(ctx)
    return 0


def _available_methods(domain: Any, args: argparse.Namespace) -> list[str]:
    """Every method whose model can be found (mutation always); says which ones are skipped and why."""
    primary = args.checkpoint or domain.checkpoint
    kind = _kind(primary) if primary is not None else None
    has_ar = kind == "ar" or (args.ar_checkpoint or domain.ar_checkpoint) is not None
    have = {None: True, "diffusion": kind == "diffusion", "ar": has_ar}
    methods = [m for m in METHODS if have[NEEDS[m]]]
    skipped = [m for m in METHODS if m not in methods]
    if skipped:
        print(f"treediff eval: note: skipping {', '.join(skipped)} (no matching checkpoint; pass --checkpoint / "
              "--ar-checkpoint to include them)", file=sys.stderr)
    return methods


def _kind(path: Path) -> str | None:
    """The model kind recorded in a checkpoint's metadata (CheckpointError if it is unreadable)."""
    from treediff.engine.training.rundir import resolve

    try:
        meta = json.loads(resolve(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # reported properly when the checkpoint is loaded
    return meta.get("kind") if isinstance(meta, dict) else None


def _settings(args: argparse.Namespace, domain: str, methods: list[str], n_targets: int) -> dict[str, Any]:
    return {"domain": domain, "methods": methods, "budget": args.budget, "seed": args.seed,
            "targets": str(args.targets) if args.targets else f"generated:{args.n}", "n_targets": n_targets,
            "time_limit": args.time_limit, "checkpoint": str(args.checkpoint) if args.checkpoint else None,
            "ar_checkpoint": str(args.ar_checkpoint) if args.ar_checkpoint else None}
