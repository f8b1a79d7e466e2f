"""Options and model loading shared by the search commands (solve, eval, demo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.search.solve import METHODS, NEEDS, checkpoint_paths

if TYPE_CHECKING:
    from treediff.engine.domains.registry import Registry


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--ar-checkpoint``, ``--device``, ``--seed``, ``--time-limit``, ``--threads``."""
    p.add_argument("--checkpoint", type=Path, default=None, metavar="C",
                   help="run directory or checkpoint file (default: the model shipped with the domain)")
    p.add_argument("--ar-checkpoint", type=Path, default=None, metavar="C",
                   help="autoregressive checkpoint for --method ar (default: --checkpoint when it is one)")
    p.add_argument("--device", default="cpu", help='"cpu", "cuda", "cuda:1" or "auto" (default cpu)')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="wall-clock limit in seconds per solve (default: none)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch CPU threads (default 1: search runs small batches, and extra threads mostly "
                        "contend on a busy CPU; 0 = torch's default)")


def add_search_args(p: argparse.ArgumentParser) -> None:
    """``--search-config`` and the flags for the most used search settings (they override the file)."""
    g = p.add_argument_group("search settings (schemas/search.schema.json; flags override --search-config)")
    g.add_argument("--search-config", type=Path, default=None, metavar="YAML",
                   help="search settings file (start, beam, rollout, mutation sections)")
    g.add_argument("--start", default=None, metavar="minimal|random|ar|FILE",
                   help="start programs of beam search and rollouts (default minimal); for solve also a program "
                        "FILE to repair (any method but ar; read with the domain's front-end, e.g. a .py file)")
    g.add_argument("--beam-width", type=int, default=None, metavar="N")
    g.add_argument("--expansions", type=int, default=None, metavar="N", help="denoiser edits per beam program")
    g.add_argument("--mix", type=float, default=None, metavar="W",
                   help="beam ranking: 0 = value network, 1 = executed distance (default), between = both")
    g.add_argument("--local", type=int, default=None, metavar="N",
                   help="beam programs that also get local edits each round (0: none)")
    g.add_argument("--schedule", choices=("anneal", "hill"), default=None, help="mutation search schedule")


START_KINDS = ("minimal", "random", "ar")


def models_needed(methods: list[str], config: Any) -> list[str]:
    """``methods`` plus ``ar`` when beam search or rollouts start from AR samples (``start: ar``) or beam search
    asks the AR model for subtree rewrites or local-edit ordering (``beam.ar_edits``, ``beam.local_order``)."""
    starts = config.start == "ar" and any(m in ("beam", "rollout") for m in methods)
    rewrites = config.beam.uses_ar and "beam" in methods
    extra = ["ar"] if starts or rewrites else []
    return list(dict.fromkeys(methods + extra))


#: Search settings shipped beside a model: the settings it was judged with, the defaults when it is used.
MODEL_SEARCH_FILE = "search.yaml"


def model_search_file(domain: Domain, checkpoint: Path | None) -> Path | None:
    """``search.yaml`` in the folder of ``checkpoint`` (default: the domain's shipped model), if there is one."""
    path = checkpoint if checkpoint is not None else domain.checkpoint
    if path is None:
        return None
    path = Path(path)
    found = (path if path.is_dir() else path.parent) / MODEL_SEARCH_FILE
    return found if found.is_file() else None


def search_config(args: argparse.Namespace, domain: Domain, allow_file: bool = False) -> Any:
    """The SearchConfig of a command: ``--search-config``, else the ``search.yaml`` beside the model used
    (:func:`model_search_file`), else the defaults; then the flags given. ``--start FILE`` (a program file rather
    than a kind of start) is left to the caller when ``allow_file``, else an error."""
    from treediff.engine.search.config import SearchConfig, load_search_config

    source = args.search_config if args.search_config is not None else \
        model_search_file(domain, getattr(args, "checkpoint", None))
    config = load_search_config(source) if source is not None else SearchConfig()
    start = args.start
    if start is not None and start not in START_KINDS:
        if not allow_file:
            raise InputError(f"--start {start!r}; expected one of: {', '.join(START_KINDS)} (a program FILE is "
                             "accepted by `treediff solve` only)")
        start = None
    config = config.with_overrides("", start=start)
    config = config.with_overrides("beam", beam_width=args.beam_width, expansions=args.expansions, mix=args.mix,
                                   local=args.local)
    return config.with_overrides("mutation", schedule=args.schedule)


def apply_threads(threads: int) -> None:
    """Set torch's intra-op CPU threads (``0`` keeps torch's default)."""
    if threads < 0:
        raise InputError(f"--threads {threads}; expected 0 (torch's default) or a positive number")
    if threads:
        import torch

        torch.set_num_threads(threads)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; a bare ``cuda`` under torchrun -> ``cuda:LOCAL_RANK``;
    InputError for unknown or unavailable devices."""
    from treediff.engine.training.distributed import env_ranks
    from treediff.engine.training.distributed import resolve_device as torch_device

    return str(torch_device(device, env_ranks()[2]))


def parse_methods(text: str) -> list[str]:
    """A comma-separated method list, checked and deduplicated in order."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InputError(f"--methods {text!r}: unknown method(s) {', '.join(unknown) or '(none given)'}; expected "
                         f"a comma-separated list of: {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def load_models(domain: Domain, registry: Registry, methods: list[str], checkpoint: Path | None,
                ar_checkpoint: Path | None, device: str) -> tuple[Any | None, Any | None]:
    """The (diffusion bundle, AR bundle) the given methods need; CheckpointError naming what is missing.
    ``registry`` is the one ``domain`` came from (it provides the observation encoders)."""
    from treediff.engine.training.bundle import load_bundle

    need_diffusion = any(NEEDS[m] == "diffusion" for m in methods)
    need_ar = "ar" in methods
    bundle = ar_bundle = None
    primary = checkpoint or domain.checkpoint
    read_primary, ar_path = checkpoint_paths(domain, methods, checkpoint, ar_checkpoint)
    if read_primary is not None:
        loaded = load_bundle(read_primary, domain, registry, device)
        if loaded.kind == "ar":
            ar_bundle = loaded
        else:
            bundle = loaded
    if need_diffusion and bundle is None:
        if primary is None:
            raise CheckpointError(f"domain {domain.name!r} ships no trained model, and method(s) "
                                  f"{', '.join(m for m in methods if NEEDS[m] == 'diffusion')} need one; expected "
                                  "--checkpoint RUN_DIR (from `treediff train`). hint: or use --method mutation, "
                                  "which needs no model")
        raise CheckpointError(f"checkpoint {str(primary)!r} holds an autoregressive model; expected a diffusion "
                              "checkpoint (denoiser + value) for beam search and rollouts. hint: pass it as "
                              "--ar-checkpoint and use --method ar, or use --method mutation")
    if need_ar and ar_bundle is None:
        path = ar_path
        if path is None:
            raise CheckpointError("method 'ar' (or `start: ar` / `beam.ar_edits` / `beam.local_order: ar` in the "
                                  "search settings) needs an "
                                  f"autoregressive checkpoint and domain {domain.name!r} ships none; expected "
                                  "--ar-checkpoint C (from `treediff train DOMAIN --model ar`)")
        ar_bundle = load_bundle(path, domain, registry, device)
        if ar_bundle.kind != "ar":
            raise CheckpointError(f"checkpoint {str(path)!r} holds a {ar_bundle.kind!r} model; expected an "
                                  "autoregressive one for --method ar")
    return bundle, ar_bundle


def check_output_file(path: Path | None, what: str) -> None:
    """Fail before any work when ``path``'s directory does not exist (so no run ends in a lost report)."""
    if path is None:
        return
    parent = Path(path).parent if str(Path(path).parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{what} {str(path)!r}: directory {str(parent)!r} does not exist; expected an existing "
                         "directory. hint: create it first")
    if Path(path).is_dir():
        raise InputError(f"{what} {str(path)!r} is a directory; expected a file name such as report.html")
