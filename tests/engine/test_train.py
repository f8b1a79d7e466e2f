"""The training loop on the blocks test domain: learning, exact resume, AR, CLI, and a 2-process DDP job."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.engine.blocks_domain import make_domain
from tests.engine.trainkit import blocks_registry, fast_config
from treediff.engine import cli
from treediff.engine.errors import CheckpointError, InputError
from treediff.engine.training.bundle import load_bundle
from treediff.engine.training.checkpoint import read_checkpoint
from treediff.engine.training.data import make_batch
from treediff.engine.training.recipe import lr_factor
from treediff.engine.training.rundir import latest_checkpoint
from treediff.engine.training.train import Trainer, run_training
from treediff.engine.training.trainlog import read_metrics


def _train(run: Path, resume: bool = False, stop_at: int | None = None, **options: object):  # type: ignore[no-untyped-def]
    return run_training(make_domain(), fast_config(**options), run, resume=resume, registry=blocks_registry(),
                        stop_at=stop_at, log_stream=io.StringIO())


def test_loss_falls_on_the_tiny_preset(tmp_path: Path) -> None:
    result = _train(tmp_path, steps=120, batch_size=16, lr=3e-3, warmup_steps=10, log_every=20, val_every=60,
                    checkpoint_every=1000, val_size=32)
    records = [r for r in read_metrics(tmp_path) if "loss" in r]
    assert [r["step"] for r in records] == [20, 40, 60, 80, 100, 120]
    assert records[-1]["loss"] < 0.6 * records[0]["loss"]
    assert records[-1]["tokens"] < records[0]["tokens"] and records[-1]["value"] < records[0]["value"]
    assert {"val_edit_acc", "val_position_acc", "val_value_mae", "samples_per_s", "lr"} <= set(records[-1])
    quality = {"val_useful_greedy", "val_useful_best8", "val_value_spearman", "val_value_at_goal"}
    assert quality <= set(records[-1]) and 0.0 <= records[-1]["val_useful_greedy"] <= 1.0
    assert result.step == 120 and result.checkpoint == latest_checkpoint(tmp_path)


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    options = {"steps": 20, "checkpoint_every": 10, "log_every": 5, "val_every": 10, "workers": 0}
    _train(tmp_path / "a", **options)
    stopped = _train(tmp_path / "b", stop_at=10, **options)
    assert stopped.step == 10 and read_checkpoint(tmp_path / "b").meta["step"] == 10
    _train(tmp_path / "b", resume=True, **options)
    a, b = read_checkpoint(tmp_path / "a", with_state=True), read_checkpoint(tmp_path / "b", with_state=True)
    assert a.meta["step"] == b.meta["step"] == 20
    assert a.weights.keys() == b.weights.keys()
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state if k.startswith("optim."))

    def losses(run: Path) -> list[dict[str, float]]:
        return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in read_metrics(run)]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_a_fresh_run_will_not_overwrite_and_resume_checks_the_model(tmp_path: Path) -> None:
    _train(tmp_path, steps=2, checkpoint_every=1, val_size=4)
    with pytest.raises(InputError, match="already holds checkpoints.*--resume"):
        _train(tmp_path, steps=4)
    with pytest.raises(CheckpointError, match="expected the same model to resume"):
        _train(tmp_path, resume=True, steps=4, model_overrides={"d_model": 48, "n_heads": 2})
    done = _train(tmp_path, resume=True, steps=2)  # already there: nothing to do
    assert done.step == done.start == 2


def test_ar_baseline_trains_and_loads(tmp_path: Path) -> None:
    result = _train(tmp_path, model="ar", steps=6, log_every=3, val_every=6, val_size=8)
    records = read_metrics(tmp_path)
    assert {"loss", "token_acc", "program_acc"} <= set(records[0]) and "val_program_acc" in records[-1]
    bundle = load_bundle(result.run_dir, make_domain(), blocks_registry())
    assert bundle.kind == "ar" and bundle.ar is not None and not bundle.ar.training


def test_learning_rate_schedule() -> None:
    cfg = fast_config(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0) and lr_factor(100, cfg) == pytest.approx(0.1)
    assert lr_factor(55, cfg) == pytest.approx(0.55)
    assert lr_factor(55, fast_config(steps=100, warmup_steps=10, schedule="linear")) == pytest.approx(0.55)
    assert lr_factor(80, fast_config(steps=100, schedule="constant")) == 1.0


def test_cli_trains_then_resumes_with_config_file_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("treediff.engine.commands.train.load_registry", blocks_registry)
    config = tmp_path / "train.yaml"
    body = {k: v for k, v in fast_config().model_dump(mode="json").items() if k != "steps"}
    config.write_text(json.dumps(body))  # JSON is YAML
    run = tmp_path / "R"
    assert cli.main(["train", "blocks", "--config", str(config), "--steps", "4", "--out", str(run)]) == 0
    assert read_checkpoint(run).meta["step"] == 4
    assert cli.main(["train", "blocks", "--steps", "6", "--out", str(run), "--resume", "--export",
                     str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "to step 6" in out and (tmp_path / "m" / "model.safetensors").exists()
    assert "val_edit_acc" in json.loads((tmp_path / "m" / "model.json").read_text())["validation"]
    meta = read_checkpoint(run).meta
    assert meta["step"] == 6 and meta["train_config"]["model_overrides"] == fast_config().model_overrides
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [4, 5, 6]


def test_cli_reports_a_bad_config_file_with_its_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("treediff.engine.commands.train.load_registry", blocks_registry)
    config = tmp_path / "bad.yaml"
    config.write_text("steps: 10\nbatch_sise: 4\nlr: fast\n")
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(tmp_path / "R")]) == 2
    err = capsys.readouterr().err
    assert f"{config}:2:1: unknown option 'batch_sise'" in err and "batch_size" in err
    assert f"{config}:3:5: lr:" in err and "'fast'" in err


# -- DistributedDataParallel: two gloo processes on the CPU -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, run: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    trainer = Trainer(make_domain(), fast_config(steps=4, checkpoint_every=2, log_every=2, val_size=8), Path(run),
                      registry=blocks_registry(), log_stream=io.StringIO())
    try:
        result = trainer.run()
        first = make_batch(trainer.domain.grammar, trainer.vocab, trainer.spec, 1, trainer.cfg.seed, trainer.ctx.rank,
                           0).target_ids.tolist()
    finally:
        trainer.close()
    weights = {k: float(v.double().sum()) for role, m in trainer.models.items() for k, v in m.state_dict().items()}
    Path(run, f"rank{rank}.json").write_text(json.dumps({"step": result.step, "weights": weights,
                                                         "first_target": str(first)}))


def test_ddp_two_gloo_processes(tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"  # fork: no re-import, ~1 s
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(run)), nprocs=2, join=True, start_method=method)
    ranks = [json.loads((run / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    assert ranks[0]["weights"] == ranks[1]["weights"]  # gradients were averaged: the replicas agree
    assert ranks[0]["first_target"] != ranks[1]["first_target"]  # each rank draws its own data
    meta = read_checkpoint(run).meta
    assert meta["world_size"] == 2 and meta["step"] == 4
    assert [r["step"] for r in read_metrics(run)] == [2, 4]  # rank 0 alone writes
    assert load_bundle(run, make_domain(), blocks_registry()).kind == "diffusion"


def test_time_limit_stops_cleanly_with_a_checkpoint_and_resume_finishes(tmp_path: Path) -> None:
    stopped = _train(tmp_path, steps=100000, time_limit=0.5, checkpoint_every=100000, val_every=100000)
    assert stopped.timed_out and 0 < stopped.step < 100000
    assert stopped.checkpoint == latest_checkpoint(tmp_path)
    assert read_checkpoint(tmp_path).meta["step"] == stopped.step
    assert any("val_loss" in r for r in read_metrics(tmp_path))  # the last step validates like any last step
    more = run_training(make_domain(), fast_config(steps=stopped.step + 3, time_limit=0.5, checkpoint_every=100000,
                                                   val_every=100000),
                        tmp_path, resume=True, registry=blocks_registry(), log_stream=io.StringIO())
    assert more.step == stopped.step + 3 and not more.timed_out


def test_init_warm_starts_from_an_exported_model_of_the_same_architecture(tmp_path: Path) -> None:
    from treediff.engine.training.export import export_model

    first = _train(tmp_path / "a", steps=10)
    exported = export_model(first.checkpoint, tmp_path / "model")  # type: ignore[arg-type]
    trainer = Trainer(make_domain(), fast_config(steps=10), tmp_path / "b", registry=blocks_registry(),
                      log_stream=io.StringIO(), init=exported.parent)
    source = read_checkpoint(exported.parent)
    for role, module in trainer.models.items():
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor, source.role_weights(role)[name])
    assert json.loads((tmp_path / "b" / "config.json").read_text())["init_from"] == str(exported.parent)
    trainer.close()
    with pytest.raises(CheckpointError, match="same architecture"):
        Trainer(make_domain(), fast_config(steps=10, model_overrides={"d_model": 48, "n_heads": 4}),
                tmp_path / "c", registry=blocks_registry(), log_stream=io.StringIO(), init=exported.parent)


def test_cli_resume_survives_a_torn_last_metrics_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A crash mid-append leaves a partial last line in metrics.jsonl; --resume ignores and removes it."""
    monkeypatch.setattr("treediff.engine.commands.train.load_registry", blocks_registry)
    config = tmp_path / "train.yaml"
    config.write_text(json.dumps({k: v for k, v in fast_config().model_dump(mode="json").items() if k != "steps"}))
    run = tmp_path / "R"
    assert cli.main(["train", "blocks", "--config", str(config), "--steps", "4", "--out", str(run)]) == 0
    metrics = run / "metrics.jsonl"
    with metrics.open("a", encoding="utf-8") as f:
        f.write('{"loss": 0.5, "st')  # torn: no closing brace, no newline
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [4]
    assert cli.main(["train", "blocks", "--config", str(config), "--steps", "6", "--out", str(run), "--resume"]) == 0
    assert "to step 6" in capsys.readouterr().out
    text = metrics.read_text(encoding="utf-8")
    assert '"st' not in text.replace('"step"', "") and text.endswith("\n")
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [4, 5, 6]


def test_init_accepts_the_shipped_model_with_its_own_train_yaml(tmp_path: Path) -> None:
    """Shipped model.json records the encoder's resolved options; a run that leaves them to the defaults builds
    the same model and may warm-start from it, while an explicit different option is refused."""
    import yaml

    from treediff.engine.domains.registry import load_registry
    from treediff.engine.training.traincfg import TrainConfig

    domain = load_registry().domain("csg2d")
    model_dir = Path(domain.checkpoint).parent
    raw = yaml.safe_load((model_dir / "train.yaml").read_text())
    config = TrainConfig.model_validate({**raw, "steps": 1, "val_every": 100000, "checkpoint_every": 100000})
    trainer = Trainer(domain, config, tmp_path / "a", log_stream=io.StringIO(), init=model_dir)
    source = read_checkpoint(model_dir)
    name, tensor = next(iter(trainer.models["denoiser"].state_dict().items()))
    assert torch.equal(tensor, source.role_weights("denoiser")[name])
    trainer.close()
    other = config.model_copy(update={"model_overrides": {"encoder_options": {"patch_size": 4}}})
    with pytest.raises(CheckpointError, match="same architecture"):
        Trainer(domain, other, tmp_path / "b", log_stream=io.StringIO(), init=model_dir)


def test_targets_test_trains_on_the_domains_test_targets_and_resumes_exactly(tmp_path: Path) -> None:
    domain = make_domain()
    assert domain.test_targets is not None
    asked: list[tuple[int, int]] = []
    original = domain.test_targets

    def spy(n: int, seed: int):  # type: ignore[no-untyped-def]
        asked.append((n, seed))
        return original(n, seed)

    domain = dataclasses.replace(domain, test_targets=spy)

    def train(run: Path, **extra: object):  # type: ignore[no-untyped-def]
        cfg = fast_config(steps=10, checkpoint_every=5, log_every=5, val_every=5, targets="test")
        return run_training(domain, cfg, run, registry=blocks_registry(), log_stream=io.StringIO(), **extra)

    train(tmp_path / "a")
    assert len(asked) == 10 and {n for n, _ in asked} == {8} and len({s for _, s in asked}) == 10
    train(tmp_path / "b", stop_at=5)
    train(tmp_path / "b", resume=True)
    a, b = read_checkpoint(tmp_path / "a", with_state=True), read_checkpoint(tmp_path / "b", with_state=True)
    assert a.meta["train_config"]["targets"] == "test"
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_init_may_change_sigma_small_but_resume_may_not(tmp_path: Path) -> None:
    """sigma_small shapes no weight: a warm start may widen the edits, a resume of the same run dir may not."""
    from treediff.engine.training.export import export_model

    first = _train(tmp_path / "a", steps=10)
    exported = export_model(first.checkpoint, tmp_path / "model")  # type: ignore[arg-type]
    wider = fast_config(steps=10, sigma_small=3)
    trainer = Trainer(make_domain(), wider, tmp_path / "b", registry=blocks_registry(), log_stream=io.StringIO(),
                      init=exported.parent)
    assert trainer.mcfg.sigma_small == 3
    source = read_checkpoint(exported.parent)
    name, tensor = next(iter(trainer.models["denoiser"].state_dict().items()))
    assert torch.equal(tensor, source.role_weights("denoiser")[name])
    trainer.close()
    with pytest.raises(CheckpointError, match="same model to resume"):
        Trainer(make_domain(), wider, tmp_path / "a", resume=True, registry=blocks_registry(),
                log_stream=io.StringIO())


def test_compile_wraps_the_training_forward_and_leaves_the_saved_module_alone(tmp_path: Path) -> None:
    from torch._dynamo.eval_frame import OptimizedModule

    for compiled in (False, True):
        trainer = Trainer(make_domain(), fast_config(steps=4, compile=compiled), tmp_path / str(compiled),
                          registry=blocks_registry(), log_stream=io.StringIO())
        try:
            assert isinstance(trainer.wrapped, OptimizedModule) is compiled
            if compiled:  # the step runs the compiled wrapper; checkpoints and validation use the module itself
                assert trainer.wrapped._orig_mod is trainer.module
            else:
                assert trainer.wrapped is trainer.module
        finally:
            trainer.close()
