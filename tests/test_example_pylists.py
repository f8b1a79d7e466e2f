"""The example third-party plugin examples/pylists, as CI sees it: pip-installed from its own pyproject, found
through its entry point, passing `treediff check-plugin` and its own tests; uninstalled afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pylists"
BIN = Path(sys.executable).parent


def test_pylists_installs_and_passes_the_contract_and_its_tests(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(EXAMPLE)], check=True,
                   capture_output=True, cwd=tmp_path)
    try:
        check = subprocess.run([str(BIN / "treediff"), "check-plugin", "pylists"], capture_output=True, text=True,
                               cwd=tmp_path, timeout=600)
        assert check.returncode == 0, check.stdout + check.stderr
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                               capture_output=True, text=True, cwd=tmp_path, timeout=900)
        assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    finally:
        subprocess.run([*pip, "uninstall", "-y", "treediff-pylists"], check=True, capture_output=True)
