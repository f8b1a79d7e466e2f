"""``treediff demo``: solve every domain's bundled targets with its shipped model and write linked reports.

A domain's bundled targets are the observation files (its storage suffix) and ``.txt`` programs in
``Domain.targets_dir``. A domain without bundled targets gets a few generated ones,
saved under ``OUT/<domain>/targets/``. A domain without a shipped model is solved by mutation search.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from treediff.engine.commands.searchargs import (
    add_search_args,
    apply_threads,
    load_models,
    models_needed,
    resolve_device,
    search_config,
)
from treediff.engine.domains.registry import Registry, load_registry
from treediff.engine.errors import InputError, TreediffError
from treediff.engine.evaluation.solvereport import IndexRow, observation_previews, render_index
from treediff.engine.files import write_text

DEFAULT_BUDGET = 10000  # about 1-2 minutes for all 8 bundled targets on 2 CPU cores


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="solve the bundled targets of every domain and write an HTML index")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR", help="default runs/demo")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help=f"renderer calls per target (default {DEFAULT_BUDGET})")
    p.add_argument("--domains", default=None, help="comma-separated domains (default: all registered)")
    p.add_argument("-n", "--n", dest="n", type=int, default=4,
                   help="targets to generate for a domain with no bundled targets (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="per target (default: none)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = torch's default)")
    add_search_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Solve, report, summarise."""
    if args.budget < 1:
        raise InputError(f"--budget {args.budget}; expected a positive number of renderer calls")
    apply_threads(args.threads)
    device = resolve_device(args.device)
    registry = load_registry()
    names = [d.strip() for d in args.domains.split(",")] if args.domains else sorted(registry.domains)
    domains = [registry.domain(name) for name in names]
    if not domains:
        raise InputError("no domains are registered; expected at least one. hint: `treediff plugins`")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[IndexRow] = []
    for domain in domains:
        rows += _demo_domain(domain, registry, args, device)
    print(_table(rows))
    index = args.out / "index.html"
    write_text(index, render_index(rows, args.budget))
    print(f"index: {index}")
    return 0


def bundled_targets_dir(domain: Any, registry: Registry) -> Path | None:
    """The domain's bundled targets folder (``Domain.targets_dir``) when it holds target files, or None."""
    folder = domain.targets_dir
    if folder is None or not Path(folder).is_dir():
        return None
    suffixes = (domain.storage.suffix.lower(), ".txt")
    return Path(folder) if any(p.suffix.lower() in suffixes for p in Path(folder).iterdir()) else None


def _demo_domain(domain: Any, registry: Registry, args: argparse.Namespace, device: str) -> list[IndexRow]:
    import torch

    from treediff.engine.evaluation.harness import Target, directory_targets, generated_targets, pair_seed
    from treediff.engine.evaluation.solvereport import write_report
    from treediff.engine.search.solve import solve

    out = args.out / domain.name
    out.mkdir(parents=True, exist_ok=True)
    executor = domain.make_executor(device)
    method, bundle, ar_bundle, note = "beam", None, None, ""
    config = search_config(args, domain)
    if domain.checkpoint is not None:
        try:
            bundle, ar_bundle = load_models(domain, registry, models_needed(["beam"], config), domain.checkpoint,
                                            None, device)
        except TreediffError as exc:
            method, note = "mutation", f"its shipped model could not be loaded ({exc})"
    else:
        method, note = "mutation", "it ships no trained model"
    if note:
        print(f"treediff demo: {domain.name}: using mutation search because {note}", file=sys.stderr)
    folder = bundled_targets_dir(domain, registry)
    if folder is not None:
        targets: list[Target] = directory_targets(domain, folder, executor)
    else:
        targets = generated_targets(domain, args.n, args.seed, executor)
        saved = out / "targets"
        saved.mkdir(exist_ok=True)
        for target in targets:
            domain.save_observation(target.observation, saved / domain.observation_file(target.name))
            if target.program is not None:
                write_text(saved / f"{target.name}.txt", f"{target.program}\n")
        print(f"treediff demo: {domain.name}: no bundled targets; generated {len(targets)} into {saved}",
              file=sys.stderr)
    rows = []
    for target in targets:
        result = solve(domain, target.observation, method, budget=args.budget, time_limit=args.time_limit,
                       seed=pair_seed(args.seed, target.name, method), bundle=bundle, ar_bundle=ar_bundle,
                       device=device, executor=executor, config=config)
        report = out / f"{target.name}.html"
        write_report(report, domain, target.observation, result, executor,
                     title=f"treediff demo: {domain.name} / {target.name}", target_label=target.source)
        shown = [target.observation]
        if result.program is not None:
            shown.append(executor.execute([result.program])[0].to(target.observation.device))
        uris: list[str | None] = [*observation_previews(domain, torch.stack(shown)), None]
        rows.append(IndexRow(domain.name, target.name, result.method, result.solved, result.renderer_calls,
                             result.seconds, result.score, str(result.program) if result.program else "",
                             str(report.relative_to(args.out)), uris[0], uris[1]))
        print(f"{domain.name}/{target.name}: {'solved' if result.solved else 'not solved'} "
              f"({result.renderer_calls} calls, {result.seconds:.1f} s)", file=sys.stderr, flush=True)
    return rows


def _table(rows: list[IndexRow]) -> str:
    head = f"{'domain':<10} {'target':<16} {'method':<16} {'solved':<6} {'calls':>6} {'seconds':>8} {'score':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.domain:<10} {r.target:<16} {r.method:<16} {'yes' if r.solved else 'no':<6} "
                     f"{r.calls:>6} {r.seconds:>8.2f} {r.score:>8.4f}")
    solved = sum(r.solved for r in rows)
    lines.append(f"solved {solved} of {len(rows)} targets")
    return "\n".join(lines)
