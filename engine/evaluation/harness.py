"""The evaluation harness: targets, one JSONL line per target x method, resume, and torchrun sharding.

Rank ``r`` of ``world`` takes targets ``r::world``. Every finished (target, method) pair is appended to
``OUT/results.jsonl`` as one line with a single ``O_APPEND`` write, so an interrupted evaluation resumes
where it stopped (``resume=True`` skips the pairs already recorded) and ranks never interleave lines.
:func:`run_evaluation` is the whole evaluation as ``treediff eval`` runs it (output checks, the settings a
resume must keep, barriers between ranks).
Curves and the summary table are built from the JSONL by :mod:`treediff.engine.evaluation.evalreport`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.errors import InputError
from treediff.engine.files import append_line, drop_partial_line, read_lines, write_text
from treediff.engine.grammar.programs import read_program
from treediff.engine.search.config import SearchConfig
from treediff.engine.search.result import SolveResult
from treediff.engine.search.solve import solve
from treediff.engine.training.distributed import DistContext, barrier
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.ted import tree_edit_distance
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    from treediff.engine.training.bundle import ModelBundle

RESULTS = "results.jsonl"
SETTINGS = "eval.json"
PROGRAM_SUFFIXES = (".txt",)


@dataclass
class Target:
    """One evaluation target: a name, its observation ``[*S]`` and, when known, the program behind it."""

    name: str
    observation: torch.Tensor
    program: Node | None = None
    source: str = "generated"


def generated_targets(domain: Domain, n: int, seed: int, executor: Executor) -> list[Target]:
    """``n`` targets from ``domain.test_targets(n, seed)`` (complexity-filtered by the domain), or random
    derivations within the domain's primitive bounds when the domain defines no test set."""
    if n < 1:
        raise InputError(f"--n {n}; expected a positive number of targets")
    if domain.test_targets is not None:
        trees = list(domain.test_targets(n, seed))[:n]
    else:
        rng = random.Random(seed)
        trees = [sample_tree(domain.grammar, rng, domain.min_primitives, domain.max_primitives) for _ in range(n)]
    observations = _execute(executor, trees)
    return [Target(f"t{i:04d}", observations[i], tree) for i, tree in enumerate(trees)]


def directory_targets(domain: Domain, directory: Path, executor: Executor,
                      options: dict[str, Any] | None = None) -> list[Target]:
    """Targets from a directory: every observation file (the domain's storage suffix, read with
    ``domain.load_observation`` and ``options``) and every ``*.txt`` program (parsed and executed), in name
    order. A program and an observation with the same name are one target: the program, whose execution is
    the observation and which is known to be a solution."""
    directory = Path(directory)
    suffix = domain.storage.suffix.lower()
    opts = domain.observation_options(options)
    if not directory.is_dir():
        raise InputError(f"targets directory {str(directory)!r} does not exist; expected a directory of {suffix} "
                         "observations and/or .txt programs")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in (suffix, *PROGRAM_SUFFIXES))
    if not files:
        raise InputError(f"targets directory {str(directory)!r} holds no {suffix} or .txt files; expected at "
                         "least one target")
    programs = {p.stem for p in files if p.suffix.lower() in PROGRAM_SUFFIXES}
    targets: list[Target] = []
    for path in files:
        if path.suffix.lower() == suffix and suffix not in PROGRAM_SUFFIXES:
            if path.stem in programs:
                continue
            targets.append(Target(path.stem, domain.load_observation(path, opts), None, str(path)))
        else:
            tree = read_program(domain.grammar, str(path))
            targets.append(Target(path.stem, _execute(executor, [tree])[0], tree, str(path)))
    return targets


def _execute(executor: Executor, trees: Sequence[Node]) -> torch.Tensor:
    with torch.no_grad():
        return executor.execute(list(trees)).detach().cpu()


def shard(targets: Sequence[Target], rank: int, world: int) -> list[Target]:
    """The targets rank ``rank`` of ``world`` evaluates: ``targets[rank::world]``."""
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"rank {rank} of world size {world}; expected 0 <= rank < world")
    return list(targets)[rank::world]


def pair_seed(seed: int, target: str, method: str) -> int:
    """A seed per (target, method), stable across runs, sharding and resumption."""
    digest = hashlib.sha256(f"{seed}:{target}:{method}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def completed(out: Path) -> set[tuple[str, str]]:
    """The (target, method) pairs already recorded in ``out/results.jsonl``."""
    done: set[tuple[str, str]] = set()
    for record in load_records(out):
        done.add((str(record["target"]), str(record["method"])))
    return done


def load_records(out: Path) -> list[dict[str, Any]]:
    """Every complete, well-formed record of ``out/results.jsonl`` (the last record of a pair wins)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in read_lines(Path(out) / RESULTS):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "target" in record and "method" in record:
            latest[(str(record["target"]), str(record["method"]))] = record
    return list(latest.values())


def method_records(out: Path, method: str) -> list[dict[str, Any]]:
    """The records of ``method`` in the eval output folder ``out`` (as :func:`load_records` reads them), for tools
    that analyse a finished evaluation; :class:`InputError` naming the file when ``out`` holds no results."""
    path = Path(out) / RESULTS
    if not path.is_file():
        raise InputError(f"{path} not found; expected the output folder of `treediff eval ... --out DIR`")
    return [r for r in load_records(out) if r["method"] == method]


def eval_domain(out: Path) -> str:
    """The domain the eval output folder ``out`` was run on (its ``eval.json``), for the same tools;
    :class:`InputError` naming the file when it is missing or unreadable."""
    path = Path(out) / SETTINGS
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["domain"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: {exc!r}; expected the eval.json that `treediff eval` writes beside "
                         f"{RESULTS}") from None


def check_output(out: Path, resume: bool) -> None:
    """Create ``out``; refuse to mix a fresh run into old results unless resuming.

    Read-only apart from creating the directory, so every rank can run it before any rank writes.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {str(out)!r}: {exc.strerror or exc}; expected a "
                         "writable path") from None
    results = out / RESULTS
    if not resume and results.exists() and results.stat().st_size > 0:
        raise InputError(f"{str(results)!r} already holds results; expected an empty output directory. "
                         "hint: pass --resume to continue that evaluation, or choose another --out")


def prepare_output(out: Path, resume: bool) -> None:
    """:func:`check_output`, then (when resuming) cut a partial last line left by an interrupted run.

    Under torchrun call :func:`check_output` on every rank and this on rank 0 only, between barriers.
    """
    check_output(out, resume)
    if resume:
        drop_partial_line(Path(out) / RESULTS)


def record_of(target: Target, method: str, result: SolveResult, budget: int, seed: int, rank: int) -> dict[str, Any]:
    """The JSONL record of one (target, method) solve."""
    ted = None
    if target.program is not None and result.program is not None:
        ted = tree_edit_distance(result.program, target.program)
    score = result.score if result.score == result.score and abs(result.score) != float("inf") else None
    return {"target": target.name, "method": method, "variant": result.method,
            "solved": result.solved, "renderer_calls": result.renderer_calls,
            "calls_to_solve": result.calls_at_solve, "seconds": round(result.seconds, 6), "score": score,
            "program": str(result.program) if result.program is not None else None,
            "target_program": str(target.program) if target.program is not None else None, "ted": ted,
            "budget": budget, "seed": seed, "rank": rank,
            "profile": {k: round(v, 6) for k, v in result.profile.items()}}


def evaluate(domain: Domain, targets: Sequence[Target], methods: Sequence[str], out: Path, *, budget: int,
             seed: int = 0, time_limit: float | None = None, bundle: ModelBundle | None = None,
             ar_bundle: ModelBundle | None = None, device: str = "cpu", resume: bool = False, rank: int = 0,
             world: int = 1, config: SearchConfig | None = None,
             progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run every method on this rank's shard of ``targets``, appending one record per pair to
    ``out/results.jsonl``; pairs already recorded are skipped when ``resume``. Returns the new records."""
    out = Path(out)
    done = completed(out) if resume else set()
    executor = domain.make_executor(device)
    new: list[dict[str, Any]] = []
    mine = shard(targets, rank, world)
    for k, target in enumerate(mine):
        for method in methods:
            if (target.name, method) in done:
                continue
            seed_i = pair_seed(seed, target.name, method)
            result = solve(domain, target.observation, method, budget=budget, time_limit=time_limit, seed=seed_i,
                           bundle=bundle, ar_bundle=ar_bundle, device=device, executor=executor,
                           config=config)
            record = record_of(target, method, result, budget, seed_i, rank)
            append_line(out / RESULTS, json.dumps(record, sort_keys=True))
            new.append(record)
            if progress is not None:
                mark = f"solved at {result.calls_at_solve}" if result.solved else "unsolved"
                progress(f"[rank {rank}] {k + 1}/{len(mine)} {target.name} {method}: {mark} "
                         f"({result.renderer_calls} calls, {result.seconds:.2f} s)")
    return new


# -- resume and torchrun: the evaluation as the CLI runs it ----------------------------------------------


def check_settings(out: Path, settings: dict[str, Any], resume: bool) -> None:
    """InputError naming each difference when resuming ``out`` with settings that change the results."""
    path = Path(out) / SETTINGS
    if not resume or not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if isinstance(old, dict):
        from treediff.engine.evaluation.resumecheck import check_resume

        check_resume(Path(out), old, settings)  # every result-changing setting, models by content hash


def run_evaluation(domain: Domain, targets: Sequence[Target], methods: Sequence[str], out: Path,
                   settings: dict[str, Any], ctx: DistContext, *, resume: bool = False,
                   **solve_options: Any) -> list[dict[str, Any]] | None:
    """The whole evaluation on this rank: check ``out`` (and, on resume, ``settings`` against ``out/eval.json``)
    on every rank; rank 0 prepares the output and writes the settings; every rank evaluates its shard
    (:func:`evaluate` with ``solve_options``); after the last rank finishes, rank 0 gets the records of
    these targets and methods (other ranks get None)."""
    out = Path(out)
    check_output(out, resume)
    check_settings(out, settings, resume)
    barrier(ctx)
    if ctx.is_main:
        prepare_output(out, resume)
        write_text(out / SETTINGS, json.dumps(settings, indent=1, sort_keys=True) + "\n")
    barrier(ctx)
    evaluate(domain, targets, methods, out, resume=resume, rank=ctx.rank, world=ctx.world_size, **solve_options)
    barrier(ctx)
    if not ctx.is_main:
        return None
    names = {t.name for t in targets}
    return [r for r in load_records(out) if r["target"] in names and r["method"] in methods]
