"""The shell scripts users run: the GPU training script's logic, dry-run on the CPU with a tiny budget."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_train_gpu_script_trains_exports_and_evaluates_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "TREEDIFF_PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "tiny", "AMP": "off",
           "BATCH": "4", "EVAL_N": "1", "EVAL_BUDGET": "5", "OUT": str(out), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train-gpu.sh"), "csg2d", "0.02"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["domain"] == "csg2d" and meta["train_config"]["time_limit"] == 1.2
    assert (out / "model" / "model.safetensors").stat().st_size > 0
    assert json.loads((out / "edit-quality.json").read_text())
    assert (out / "eval" / "summary.md").exists()
    assert "exported:" in proc.stdout


def test_train_gpu_script_trains_an_ar_model_and_evaluates_it_in_search_and_alone(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "TREEDIFF_PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "tiny", "AMP": "off",
           "BATCH": "4", "EVAL_N": "1", "EVAL_BUDGET": "5", "OUT": str(out), "OMP_NUM_THREADS": "1", "MODEL": "ar"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train-gpu.sh"), "tinysvg", "0.02"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["domain"] == "tinysvg" and meta["kind"] == "ar"
    assert not (out / "edit-quality.json").exists()  # edit quality measures a denoiser
    evaluated = {json.loads(line)["method"] for line in (out / "eval" / "results.jsonl").read_text().splitlines()}
    assert evaluated == {"beam", "ar"}
    assert "model_ar/" in proc.stdout


def test_train_gpu_script_names_its_usage() -> None:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train-gpu.sh")], capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: scripts/train-gpu.sh DOMAIN MINUTES" in proc.stderr


def test_the_package_type_checks_under_strict_mypy() -> None:
    """scripts/typecheck.sh: mypy resolves treediff.engine / treediff.plugins (not Any) and finds no error."""
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        import pytest

        pytest.skip("mypy is not installed (it comes with the dev extras)")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "typecheck.sh")], capture_output=True, text=True,
                          env={**os.environ, "MYPY": str(mypy)}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
    checked = re.search(r"Success: no issues found in (\d+) source files", proc.stdout)
    engine_modules = len(list((ROOT / "engine").rglob("*.py")))
    assert checked is not None and int(checked.group(1)) > engine_modules  # engine/ and plugins/ were checked
