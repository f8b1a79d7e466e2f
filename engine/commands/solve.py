"""``treediff solve``: a target observation file in, the best program found out (last line of stdout)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treediff.engine.commands.searchargs import (
    START_KINDS,
    add_model_args,
    add_search_args,
    apply_threads,
    check_output_file,
    load_models,
    models_needed,
    resolve_device,
    search_config,
)
from treediff.engine.domains.domain import Domain
from treediff.engine.domains.registry import load_registry
from treediff.engine.errors import InputError
from treediff.engine.search.solve import METHODS

if TYPE_CHECKING:
    import torch

DEFAULT_BUDGET = 5000


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``solve`` subcommand."""
    p = sub.add_parser("solve", help="synthesise a program whose execution reproduces a target observation file",
                       description="Search for a program reproducing TARGET, an observation file of the domain "
                                   "(e.g. a .png for csg2d; `treediff plugins` lists each domain's file suffix and "
                                   "observation options, given as --NAME, --no-NAME or --NAME=VALUE, e.g. csg2d's "
                                   "--invert). Prints the best program as the last line of stdout, or one JSON "
                                   "object with --json.")
    p.add_argument("domain")
    p.add_argument("target", type=Path, metavar="TARGET")
    add_model_args(p)
    add_search_args(p)
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help=f"renderer calls: distinct programs executed (default {DEFAULT_BUDGET})")
    p.add_argument("--method", choices=METHODS, default="beam")
    p.add_argument("--sketch", action="store_true",
                   help="the target is a hand-drawn sketch: no exact goal check; returns the closest program "
                        "(only for domains with a sketch model)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--report", type=Path, default=None, metavar="OUT.html",
                   help="write an HTML report of the accepted edits")
    p.add_argument("--max-image-pixels", type=int, default=None, metavar="N",
                   help="refuse target images over N pixels, checked before decoding (default "
                        "treediff.engine.limits.MAX_IMAGE_PIXELS)")
    p.set_defaults(run=run, domain_options=True)


def run(args: argparse.Namespace) -> int:
    """Load domain, target and model; solve; print; write the report if asked."""
    from treediff.engine import limits
    from treediff.engine.evaluation.solvereport import write_report
    from treediff.engine.search.solve import solve

    if args.max_image_pixels is not None:
        limits.MAX_IMAGE_PIXELS = args.max_image_pixels

    if args.budget < 1:
        raise InputError(f"--budget {args.budget}; expected a positive number of renderer calls")
    apply_threads(args.threads)
    if args.time_limit is not None and args.time_limit < 0:
        raise InputError(f"--time-limit {args.time_limit}; expected a non-negative number of seconds")
    check_output_file(args.report, "--report")
    registry = load_registry()
    domain = registry.domain(args.domain)
    device = resolve_device(args.device)
    if args.sketch and domain.sketch is None:
        raise InputError(f"--sketch for domain {domain.name!r}, which has no sketch model; expected a domain that "
                         "declares one (Domain.sketch), or leave out --sketch")
    target = read_target(domain, args.target, getattr(args, "options", {}))
    config = search_config(args, domain, allow_file=True)
    seeds = _start_file(domain, args.start, args.method)
    needs = [args.method] if seeds else models_needed([args.method], config)
    bundle, ar_bundle = load_models(domain, registry, needs, args.checkpoint, args.ar_checkpoint, device)
    if args.sketch:
        _warn_if_not_sketch_trained(bundle or ar_bundle)
    executor = domain.make_executor(device)
    result = solve(domain, target, args.method, budget=args.budget, time_limit=args.time_limit, seed=args.seed,
                   bundle=bundle, ar_bundle=ar_bundle, device=device, executor=executor, use_goal=not args.sketch,
                   config=config, seeds=seeds)
    if args.report is not None:
        write_report(args.report, domain, target, result, executor, title=f"treediff solve {args.target.name}",
                     target_label=str(args.target))
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    state = "solved" if result.solved else "not solved"
    print(f"# {state}: {result.renderer_calls} renderer calls, {result.seconds:.2f} s, score {result.score:.4g}, "
          f"method {result.method}" + (f", report {args.report}" if args.report else ""))
    if result.program is None:
        print("treediff solve: no program was executed within the limits; expected a larger --time-limit",
              file=sys.stderr)
        return 1
    print(result.program)
    return 0


def read_target(domain: Domain, path: Path, options: dict[str, Any]) -> torch.Tensor:
    """The domain's observation of ``path``, with an error naming the file and the expected shape."""
    what = expected_file(domain)
    opts = domain.observation_options(options)  # unknown options fail before the file is touched
    if not path.exists():
        raise InputError(f"target file {str(path)!r} does not exist; expected {what} for domain {domain.name!r}")
    if path.is_dir():
        raise InputError(f"target {str(path)!r} is a directory; expected {what}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            target = domain.storage.load(path, opts)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's reader failing is an input problem
            raise InputError(f"target file {str(path)!r} could not be read by domain {domain.name!r} "
                             f"({type(exc).__name__}: {exc}); expected {what}") from None
    for w in caught:
        print(f"treediff solve: warning: {w.message}", file=sys.stderr)
    shape = tuple(domain.observation_shape)
    if tuple(target.shape) != shape:
        raise InputError(f"target file {str(path)!r} was read as shape {tuple(target.shape)}; expected {shape} "
                         f"for domain {domain.name!r}")
    return target


def _start_file(domain: Domain, start: str | None, method: str) -> list[Any]:
    """``--start FILE``: the program in FILE (read with the domain's front-end) as the search's seed."""
    if start is None or start in START_KINDS:
        return []
    if method == "ar":
        raise InputError("--start FILE applies to --method beam, rollout and mutation; expected no --start FILE "
                         "with --method ar")
    return [domain.program_from_file(Path(start))]


def expected_file(domain: Domain) -> str:
    """How errors describe the domain's observation files, e.g. "a PNG image (a .png file)"."""
    suffix = domain.storage.suffix
    return f"{domain.storage.description} (a {suffix} file)" if domain.storage.description else f"a {suffix} file"


def _warn_if_not_sketch_trained(bundle: object) -> None:
    meta = getattr(bundle, "meta", None) or {}
    if bundle is not None and not (meta.get("train_config") or {}).get("sketch", False):
        print("treediff solve: warning: --sketch with a model not trained on sketches (train with sketch: true "
              "for better results)", file=sys.stderr)
