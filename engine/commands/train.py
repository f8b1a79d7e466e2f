"""``treediff train``: train the denoiser + value network (or the AR baseline) of a domain."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from treediff.engine.domains.registry import load_registry


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``train`` subcommand."""
    p = sub.add_parser("train", help="train models for a domain (config YAML + flag overrides; torchrun-ready)",
                       description="Train the denoiser and value network (--model diffusion) or the autoregressive "
                       "baseline (--model ar) on programs generated on the fly. Options come from --config YAML, "
                       "then the flags below; --resume continues the latest checkpoint in --out exactly. Launch "
                       "with `torchrun --nproc_per_node N -m treediff.engine.cli train ...` for "
                       "DistributedDataParallel.")
    p.add_argument("domain", help="domain name (see `treediff plugins`)")
    p.add_argument("--config", type=Path, help="training config YAML (schemas/train.schema.json)")
    p.add_argument("--preset", help="model size preset (treediff.engine.models.config.PRESETS: tiny, small, default)")
    p.add_argument("--model", choices=("diffusion", "ar"), help="what to train (default diffusion)")
    p.add_argument("--steps", type=int, help="total optimizer steps of the run")
    p.add_argument("--batch-size", type=int, help="examples per step and per process")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--amp", choices=("auto", "on", "off"), help="bf16 autocast (auto: on for CUDA only)")
    p.add_argument("--workers", type=int, help="data-generating worker processes")
    p.add_argument("--threads", type=int, help="torch CPU threads per process (0: torch's default)")
    p.add_argument("--seed", type=int, help="seed of weights, dropout and data")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--sketch", action="store_true", default=None, help="train on the domain's sketch targets")
    p.add_argument("--out", type=Path, help="run directory (default runs/DOMAIN-MODEL)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="stop cleanly after this many wall-clock seconds with a checkpoint (--resume continues)")
    p.add_argument("--init", metavar="MODEL",
                   help="warm-start a new run from an exported model or checkpoint of the same architecture "
                   "(e.g. plugins/csg2d/model); weights only, fresh optimizer")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="after training, write the final weights + metadata as DIR/model.{safetensors,json}")
    p.set_defaults(run=run)


def resolve_config(args: argparse.Namespace, run_dir: Path) -> Any:
    """The run's TrainConfig: --config file, else (on --resume) the run's saved config, else defaults;
    then the flags given on the command line."""
    from treediff.engine.training.checkpoint import read_checkpoint
    from treediff.engine.training.rundir import latest_checkpoint
    from treediff.engine.training.traincfg import TrainConfig, load_train_config

    if args.config is not None:
        base = load_train_config(args.config)
    elif args.resume and latest_checkpoint(run_dir) is not None:
        base = TrainConfig.model_validate(read_checkpoint(run_dir).meta["train_config"])
    else:
        base = TrainConfig()
    return base.with_overrides(preset=args.preset, model=args.model, steps=args.steps, batch_size=args.batch_size,
                               lr=args.lr, device=args.device, workers=args.workers, threads=args.threads,
                               seed=args.seed, checkpoint_every=args.checkpoint_every, sketch=args.sketch,
                               time_limit=args.time_limit, amp=args.amp)


def card_with_quality(domain: Any, model_dir: Path, registry: Any, n: int = 100) -> Path:
    """Measure the exported model's edit quality on a small fixed set (on the CPU: a few seconds) and write its
    card next to it; an autoregressive model gets a card without the edit measurements."""
    from treediff.engine.evaluation.edit_quality import edit_quality, table
    from treediff.engine.training.bundle import load_bundle
    from treediff.engine.training.modelcard import write_card

    bundle = load_bundle(model_dir, domain, registry, "cpu")
    if bundle.denoiser is None:
        return write_card(model_dir)
    quality = edit_quality(bundle, domain, domain.make_executor("cpu"), n, seed=0)
    return write_card(model_dir, {**quality.to_json(), "table": table(quality)})


def run(args: argparse.Namespace) -> int:
    """Train, then print where the final checkpoint is and its last metrics."""
    from treediff.engine.outputs import check_output_dir
    from treediff.engine.training.runlock import lock_run_dir

    registry = load_registry()
    domain = registry.domain(args.domain)
    run_dir = check_output_dir(args.out or Path("runs") / f"{args.domain}-{args.model or 'diffusion'}")
    if args.export is not None:
        check_output_dir(args.export, "--export")
    lock = lock_run_dir(run_dir)  # held for the whole run; a second run into run_dir refuses
    try:
        return _train(args, registry, domain, run_dir)
    finally:
        if lock is not None:
            lock.release()


def _train(args: argparse.Namespace, registry: Any, domain: Any, run_dir: Path) -> int:
    from treediff.engine.training.export import export_model
    from treediff.engine.training.train import run_training

    cfg = resolve_config(args, run_dir)
    command = shlex.join(["treediff", *sys.argv[1:]]) if sys.argv and sys.argv[0] else None
    result = run_training(domain, cfg, run_dir, resume=args.resume, registry=registry, init=args.init,
                          command=command)
    if result.rank != 0:
        return 0
    if result.step == result.start:
        print(f"nothing to do: {run_dir} is already at step {result.step} of {cfg.steps}")
        return 0
    if args.export is not None and result.checkpoint is not None:
        print(f"exported {export_model(result.checkpoint, args.export)}")
        print(f"model card: {card_with_quality(domain, args.export, registry)}")
    last = {**result.last, **result.validation}
    shown = ", ".join(f"{k} {last[k]:.4g}" for k in ("loss", "val_edit_acc", "val_position_acc",
                                                     "val_program_acc", "samples_per_s") if k in last)
    print(f"trained {cfg.model} model for {domain.name} to step {result.step}: {shown}")
    if result.timed_out:
        print(f"stopped at the time limit ({cfg.time_limit:g} s) at step {result.step} of {cfg.steps}; "
              f"continue with --resume --out {run_dir}")
    print(f"checkpoint: {result.checkpoint}")
    return 0
