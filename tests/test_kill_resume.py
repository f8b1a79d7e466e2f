"""Fault test (issue 10): a real `treediff train` process is SIGKILLed at seeded random moments, including
in the middle of a checkpoint write, and `--resume` still finishes with the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.engine.trainkit import blocks_registry, fast_config
from treediff.engine import cli

SCRIPT = Path(__file__).parent / "engine" / "faulty_train.py"
STEPS = 12
OPTIONS = {"steps": STEPS, "checkpoint_every": 2, "log_every": 2, "val_every": STEPS, "val_size": 4,
           "batch_size": 4, "warmup_steps": 2}


def _start(config: Path, run: Path, resume: bool, **faults: object) -> subprocess.Popen[str]:
    env = {**os.environ, **{f"FAULT_{k.upper()}": str(v) for k, v in faults.items()}}
    args = [sys.executable, str(SCRIPT), "blocks", "--config", str(config), "--out", str(run)]
    return subprocess.Popen(args + (["--resume"] if resume else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return proc.returncode, out + err


def _weights(run: Path) -> dict[str, object]:
    return load_file(str(run / "checkpoints" / f"step-{STEPS:07d}.safetensors"))


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "train.json"
    config.write_text(json.dumps(fast_config(**OPTIONS).model_dump(mode="json")))  # type: ignore[arg-type]
    monkeypatch.setattr("treediff.engine.commands.train.load_registry", blocks_registry)
    reference = tmp_path / "reference"
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(reference)]) == 0
    capsys.readouterr()

    rng = random.Random(10)
    run = tmp_path / "killed"
    kills = [  # each (faults, seconds before an outside SIGKILL or None); the order follows the run
        ({"kill_after_step": rng.randint(1, 3)}, None),  # between steps, maybe before the first checkpoint
        # a checkpoint's weights, then its state, then its JSON cut in half (3 writes per checkpoint)
        *(({"kill_in_write": 3 * rng.randint(0, 1) + kind}, None) for kind in (1, 2, 3)),
        ({"slow_write": 0.2}, rng.uniform(0.2, 0.8)),  # from outside, often while a checkpoint file is written
    ]
    for i, (faults, delay) in enumerate(kills):
        proc = _start(config, run, resume=i > 0, **faults)
        if delay is not None:
            assert proc.stdout is not None and proc.stdout.readline() == "training\n"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        code, text = _finish(proc)
        assert code == -signal.SIGKILL or (delay is not None and code == 0), text  # outside, it may come late
    code, text = _finish(_start(config, run, resume=True))
    assert code == 0 and "Traceback" not in text, text

    final, expected = _weights(run), _weights(reference)
    assert final.keys() == expected.keys()
    assert all(final[k].equal(expected[k]) for k in final)  # type: ignore[attr-defined]
    folder = run / "checkpoints"
    assert not list(run.glob(".*.tmp")) and not list(folder.glob(".*.tmp")) and not (run / ".lock").exists()
    assert all(p.with_suffix(".json").exists() for p in folder.glob("step-???????.safetensors"))
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [json.loads(line)["step"] for line in (reference / "metrics.jsonl").read_text().splitlines()]
