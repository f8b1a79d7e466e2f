"""The training loop: models of one kind, AdamW + warmup/decay schedule, on-the-fly data, validation,
checkpoints, exact resume, bf16 autocast on GPU and DistributedDataParallel under torchrun.

A run is a pure function of its config: batch ``i`` of rank ``r`` comes from stream seed ``(seed, r, i)``
and dropout is reseeded from ``(seed, r, i)`` before each step, so stopping after any checkpoint and
resuming gives the same weights and losses as never stopping (on the same device and world size).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import torch
from torch import nn

from treediff.engine.domains.domain import Domain
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.files import write_json
from treediff.engine.models.config import WARM_START_FREE
from treediff.engine.training.bundle import build_models, load_models
from treediff.engine.training.checkpoint import MODEL_ROLES, check_compatible, read_checkpoint, save_checkpoint
from treediff.engine.training.data import (
    EditStream,
    Materializer,
    make_loader,
    stream_seed,
    validation_batches,
)
from treediff.engine.training.distributed import DistContext, barrier, mean_over_ranks, setup, teardown
from treediff.engine.training.modelcard import hardware, lineage_of
from treediff.engine.training.recipe import (
    data_spec,
    lr_factor,
    make_optimizer,
    model_config,
    target_source,
    training_states,
)
from treediff.engine.training.rundir import latest_checkpoint, list_checkpoints
from treediff.engine.training.traincfg import TrainConfig
from treediff.engine.training.trainlog import TrainLog, truncate_metrics
from treediff.engine.training.trainstate import capture_rng, restore_optimizer, restore_rng
from treediff.engine.trees.tokens import Vocab

STREAM_DROPOUT = 10


class TrainModule(nn.Module):
    """All models of one kind behind a single forward returning the joint loss (what DDP wraps).

    Diffusion: ``loss = denoiser loss + value_weight * value loss``, one optimizer over both.
    """

    def __init__(self, models: Mapping[str, nn.Module], kind: str, value_weight: float = 0.5) -> None:
        super().__init__()
        self.kind = kind
        self.value_weight = value_weight
        self.roles = nn.ModuleDict(dict(models))

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        if self.kind == "ar":
            out: dict[str, torch.Tensor] = self.roles["ar"].loss(batch)  # type: ignore[operator]
            return {"loss": out["loss"], "token_acc": out["token_acc"], "program_acc": out["program_acc"]}
        d: dict[str, torch.Tensor] = self.roles["denoiser"].loss(batch)  # type: ignore[operator]
        v: dict[str, torch.Tensor] = self.roles["value"].loss(batch)  # type: ignore[operator]
        return {"loss": d["loss"] + self.value_weight * v["loss"], "denoiser": d["loss"].detach(),
                "position": d["position"].detach(), "tokens": d["tokens"].detach(), "value": v["loss"].detach(),
                "position_acc": d["position_acc"], "token_acc": d["token_acc"], "edit_acc": d["edit_acc"],
                "value_mae": v["mae"]}


@dataclass
class TrainResult:
    """What a finished (or stopped) run reports."""

    run_dir: Path
    step: int  # optimizer steps done when the run ended
    checkpoint: Path | None  # the newest checkpoint (None off the main process before any is written)
    start: int = 0  # the step the run began (or resumed) at
    rank: int = 0
    last: dict[str, float] = field(default_factory=dict)  # last training metrics record
    validation: dict[str, float] = field(default_factory=dict)  # last validation metrics
    timed_out: bool = False  # stopped at the config's time_limit before its last step


def validation_metrics(module: TrainModule, batches: list[Any], autocast: Any) -> dict[str, float]:
    """Mean loss statistics over the fixed validation set (eval mode, no gradients), keys ``val_*``."""
    module.eval()
    sums: dict[str, float] = {}
    total = 0
    with torch.no_grad(), autocast():
        for batch in batches:
            out = module(batch)
            n = len(batch)
            total += n
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
    module.train()
    return {f"val_{k}": v / max(total, 1) for k, v in sums.items()}


class Trainer:
    """One training run of ``domain`` into ``run_dir``; call :meth:`run`."""

    def __init__(self, domain: Domain, cfg: TrainConfig, run_dir: Path, resume: bool = False,
                 registry: Any = None, log_stream: TextIO | None = None, init: str | Path | None = None,
                 command: str | None = None) -> None:
        from treediff.engine.domains.registry import load_registry

        self.domain, self.cfg, self.run_dir = domain, cfg, Path(run_dir)
        self.init, self.command = init, command
        self.clock_start, self.seconds_before = time.monotonic(), 0.0
        self.lineage: list[dict[str, Any]] = []  # the runs the warm-start weights came from, oldest first
        self.targets = target_source(domain, cfg)  # before anything is set up: a bad config fails first
        self.states = training_states(domain, cfg)
        self.ctx: DistContext = setup(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.hardware = hardware(self.ctx.device)  # after the thread count is set: it names it
        self.mcfg = domain.model_config(model_config(cfg))  # the domain's encoder options, under overrides
        self.vocab = Vocab(domain.grammar)
        registry = registry or load_registry()
        self.encoder_name = domain.observation_encoder
        encoder = registry.encoder(self.encoder_name)
        torch.manual_seed(cfg.seed)  # weights are the same on every rank
        self.models = build_models(cfg.model, self.mcfg, self.vocab, tuple(domain.observation_shape), encoder)
        self.module = TrainModule(self.models, cfg.model, cfg.value_weight).to(self.ctx.device)
        self.optimizer = make_optimizer(self.module, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, self.cfg))
        self.amp = cfg.amp == "on" or (cfg.amp == "auto" and self.ctx.device.type == "cuda")
        self.start = self._restore() if resume else self._fresh()
        self.wrapped: nn.Module = self.module
        if self.ctx.distributed:
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.wrapped = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
        if cfg.compile:
            self.wrapped = cast(nn.Module, torch.compile(self.wrapped, dynamic=True))
        self.spec = data_spec(domain, cfg, self.mcfg, self.states)
        self.materialize = Materializer(domain, self.vocab, self.ctx.device, cfg.model, cfg.sketch, cfg.seed,
                                        self.ctx.rank)
        self._quality_set: tuple[list[Any], list[Any]] | None = None  # the fixed edit-quality set, once drawn
        self.log = TrainLog(self.run_dir, self.ctx.is_main, cfg.steps, self.start, cfg.tensorboard, log_stream)

    # -- state ------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """Checkpoint metadata (everything but the step, versions and training state)."""
        g = self.domain.grammar
        extra: dict[str, Any] = {"init_from": str(self.init)} if self.init is not None else {}
        if self.command is not None:
            extra["command"] = self.command
        extra.update(train_seconds=round(self.seconds_before + time.monotonic() - self.clock_start, 1),
                     hardware=self.hardware, lineage=self.lineage)
        return {**extra, "kind": self.cfg.model, "domain": self.domain.name,
                "grammar": {"name": g.name, "fingerprint": g.fingerprint},
                "model_config": self.mcfg.model_dump(mode="json"), "train_config": self.cfg.model_dump(mode="json"),
                "observation_shape": list(self.domain.observation_shape), "encoder": self.encoder_name,
                "vocab_size": self.vocab.size, "world_size": self.ctx.world_size}

    def _fresh(self) -> int:
        if list_checkpoints(self.run_dir):
            raise InputError(f"run directory {str(self.run_dir)!r} already holds checkpoints; expected a new "
                             "directory. hint: pass --resume to continue that run, or choose another --out")
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            truncate_metrics(self.run_dir, 0)
            write_json(self.run_dir / "config.json", self.meta())
        if self.init is not None:
            self._warm_start(self.init)
        return 0

    def _check_same_model(self, ckpt: Any, name: str, expected: str, hint: str, warm: bool = False) -> None:
        """CheckpointError unless ``ckpt`` fits this domain and holds the model this run builds; a warm start
        (``warm``) may change the config fields that hold no weights (:data:`WARM_START_FREE`)."""
        check_compatible(ckpt.meta, self.domain, str(ckpt.path))
        wanted = self.mcfg.model_dump(mode="json")
        if ckpt.meta.get("kind") != self.cfg.model or not self._same_model(ckpt, wanted, warm):
            raise CheckpointError(
                f"{name} holds a {ckpt.meta.get('kind')!r} model with config {ckpt.meta.get('model_config')}, but "
                f"this run builds a {self.cfg.model!r} model with config {wanted}; expected {expected}. hint: {hint}")

    def _same_model(self, ckpt: Any, wanted: dict[str, Any], warm: bool = False) -> bool:
        """Whether ``ckpt`` holds the model this run builds: equal configs, where encoder options left to the
        encoder's defaults on one side match any value on the other (and, when ``warm``, the fields of
        :data:`WARM_START_FREE` may differ), and equal parameter names and shapes."""
        saved = dict(ckpt.meta.get("model_config") or {})
        if warm:
            saved.update({k: wanted[k] for k in WARM_START_FREE if k in wanted})
        saved_opts, wanted_opts = dict(saved.pop("encoder_options", {})), dict(wanted.get("encoder_options", {}))
        if saved != {k: v for k, v in wanted.items() if k != "encoder_options"}:
            return False
        if any(saved_opts[k] != wanted_opts[k] for k in saved_opts.keys() & wanted_opts.keys()):
            return False
        for role, module in self.models.items():
            shapes = {k: tuple(v.shape) for k, v in ckpt.role_weights(role).items()}
            if shapes != {k: tuple(v.shape) for k, v in module.state_dict().items()}:
                return False
        return True

    def _warm_start(self, source: str | Path) -> None:
        """Start from the weights of ``source`` (an exported model or a checkpoint of the same model)."""
        ckpt = read_checkpoint(source)
        self._check_same_model(ckpt, f"--init model {str(ckpt.path)!r}", "the same architecture to warm-start",
                               "use the preset and model_overrides of its train.yaml (next to the model)", warm=True)
        load_models(ckpt, self.models)
        self.lineage = lineage_of(ckpt.meta)

    def _restore(self) -> int:
        path = latest_checkpoint(self.run_dir)
        if path is None:
            return self._fresh()
        ckpt = read_checkpoint(path, with_state=True)
        self._check_same_model(ckpt, f"checkpoint {str(path)!r}", "the same model to resume",
                               "resume with the run's original preset and model_overrides, or train into a new "
                               "--out directory")
        load_models(ckpt, self.models)
        state = ckpt.meta.get("train_state", {})
        restore_optimizer(self.optimizer, ckpt.state, state["optimizer"])
        sched = dict(state.get("scheduler", {}))
        sched["lr_lambdas"] = [None] * len(self.optimizer.param_groups)
        self.scheduler.load_state_dict(sched)
        self.scheduler.base_lrs = [self.cfg.lr] * len(self.optimizer.param_groups)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.cfg.lr
        if "rng" in state and self.ctx.is_main:
            restore_rng(ckpt.state, state["rng"])
        step = int(ckpt.meta["step"])
        self.seconds_before = float(ckpt.meta.get("train_seconds", 0.0))
        self.lineage = list(ckpt.meta.get("lineage", []))
        if self.ctx.is_main:
            truncate_metrics(self.run_dir, step)
            write_json(self.run_dir / "config.json", self.meta())
        return step

    # -- loop -------------------------------------------------------------------------------------

    def autocast(self) -> Any:
        """bf16 autocast on the training device when AMP is on; a no-op context otherwise."""
        return torch.autocast(device_type=self.ctx.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train from the current step up to ``cfg.steps`` (or ``stop_at``, to simulate an interruption)."""
        cfg, ctx = self.cfg, self.ctx
        end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
        result = TrainResult(self.run_dir, self.start, latest_checkpoint(self.run_dir), self.start, ctx.rank)
        val_set = self._validation_set() if ctx.is_main and self.start < end else []
        stream = EditStream(self.domain.grammar, self.spec, cfg.batch_size, cfg.seed, ctx.rank, self.start, end,
                            self.targets)
        loader = make_loader(stream, cfg.workers, cfg.prefetch)
        sums: dict[str, torch.Tensor] = {}
        steps_in_window, window_start = 0, time.perf_counter()
        deadline = time.monotonic() + cfg.time_limit if cfg.time_limit else None
        try:
            for index, tree_batch in zip(range(self.start, end), loader):
                out = self._step(index, tree_batch)
                for k, v in out.items():
                    sums[k] = v.detach().float() + sums[k] if k in sums else v.detach().float()
                steps_in_window += 1
                done = index + 1
                timed_out = deadline is not None and time.monotonic() >= deadline
                last = done == end or timed_out
                if done % cfg.log_every and done % cfg.val_every and done % cfg.checkpoint_every and not last:
                    continue
                record: dict[str, Any] = {"step": done}
                window_done = done % cfg.log_every == 0 or last
                if window_done:
                    record.update(self._train_record(sums, steps_in_window, window_start))
                    record["window_steps"] = steps_in_window  # fewer than log_every after a resume or at the end
                    result.last = dict(record)
                    sums, steps_in_window = {}, 0
                paused = time.perf_counter()  # validation and checkpoints are not training time
                if ctx.is_main and (done % cfg.val_every == 0 or last):
                    result.validation = validation_metrics(self.module, val_set, self.autocast)
                    result.validation.update(self._edit_quality())
                    record.update(result.validation)
                if len(record) > 1:
                    self.log.record(record)
                    self.log.advance(done, float(record.get("loss", 0.0)))
                if done % cfg.checkpoint_every == 0 or last:
                    result.checkpoint = self._save(done)
                result.step = done
                result.timed_out = timed_out and done < end
                # a new window starts after a record; otherwise the window goes on, less the time paused here
                window_start = time.perf_counter() if window_done else window_start + time.perf_counter() - paused
                if timed_out:
                    break
        finally:
            self.log.close()
        return result

    def _step(self, index: int, tree_batch: Any) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        batch = self.materialize(tree_batch)
        torch.manual_seed(stream_seed(cfg.seed, self.ctx.rank, index, STREAM_DROPOUT))
        self.wrapped.train()
        with self.autocast():
            out: dict[str, torch.Tensor] = self.wrapped(batch)
        out["loss"].backward()  # type: ignore[no-untyped-call]
        if cfg.grad_clip > 0:
            out["grad_norm"] = nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return out

    def _train_record(self, sums: dict[str, torch.Tensor], steps: int, start: float) -> dict[str, Any]:
        means = {k: float(v) / max(steps, 1) for k, v in sums.items()}  # float() syncs the device
        elapsed = time.perf_counter() - start
        means = mean_over_ranks(self.ctx, means)
        samples = steps * self.cfg.batch_size * self.ctx.world_size
        return {**means, "lr": self.optimizer.param_groups[0]["lr"], "samples_per_s": samples / max(elapsed, 1e-9)}

    def _edit_quality(self) -> dict[str, float]:
        """What search needs, on the fixed edit-quality set: useful-edit rates and value quality (``val_*``)."""
        if self.cfg.model != "diffusion" or not self.cfg.quality_size:
            return {}
        from treediff.engine.evaluation.edit_quality import goal_pairs, measure, validation_pairs
        from treediff.engine.training.bundle import ModelBundle

        if self._quality_set is None:  # drawn once, at the first validation of the run
            pairs = validation_pairs(self.domain.grammar, self.cfg.quality_size, self.cfg.val_seed,
                                     k_max=self.spec.k_max, sigma_small=self.spec.sigma_small,
                                     min_primitives=self.spec.min_primitives, max_primitives=self.spec.max_primitives,
                                     vocab=self.vocab, max_tokens=self.spec.max_program_tokens)
            self._quality_set = (pairs, goal_pairs(pairs, max(1, len(pairs) // 5)))
        pairs, goals = self._quality_set
        bundle = ModelBundle("diffusion", self.models["denoiser"], self.models["value"], None, self.vocab, self.mcfg,
                             {}, self.ctx.device)
        self.module.eval()
        try:
            q = measure(bundle, self.domain.grammar, self.materialize.executor, pairs, goals, seed=self.cfg.val_seed,
                        k_max=self.spec.k_max)
        finally:
            self.module.train()
        out = {"val_useful_greedy": q.row("all").greedy, "val_useful_best8": q.row("all").best_of,
               "val_value_spearman": q.value_spearman, "val_value_at_goal": q.value_at_goal}
        try:
            out["val_useful_greedy_1"] = q.row("1").greedy
        except KeyError:
            pass
        return {k: v for k, v in out.items() if v == v}  # drop nan

    def _validation_set(self) -> list[Any]:
        return validation_batches(self.domain.grammar, self.spec, self.cfg.val_size, self.cfg.batch_size,
                                  self.cfg.val_seed, self.materialize)

    def _save(self, step: int) -> Path | None:
        path = None
        if self.ctx.is_main:
            try:
                path = save_checkpoint(self.run_dir, step, self.models, self.optimizer, self.scheduler,
                                       capture_rng((self.ctx.device,)), self.meta(), self.cfg.keep_last,
                                       {"data": {"next_batch": step, "seed": self.cfg.seed}})
            except OSError:  # e.g. a full disk: leave no weights without their JSON behind
                from treediff.engine.training.runlock import clean_partial_checkpoints

                clean_partial_checkpoints(self.run_dir)
                raise
        barrier(self.ctx)
        return path

    def close(self) -> None:
        """Leave the process group (if any)."""
        teardown(self.ctx)


def run_training(domain: Domain, cfg: TrainConfig, run_dir: Path, resume: bool = False, registry: Any = None,
                 stop_at: int | None = None, log_stream: TextIO | None = None,
                 init: str | Path | None = None, command: str | None = None) -> TrainResult:
    """Train ``cfg.model`` models for ``domain`` into ``run_dir`` (see :class:`Trainer`); ``init`` warm-starts a
    new run from the weights of an exported model or checkpoint of the same architecture."""
    if cfg.model not in MODEL_ROLES:
        raise InputError(f"unknown model kind {cfg.model!r}; expected one of: {', '.join(MODEL_ROLES)}")
    trainer = Trainer(domain, cfg, run_dir, resume, registry, log_stream, init, command)
    try:
        return trainer.run(stop_at)
    finally:
        trainer.close()
