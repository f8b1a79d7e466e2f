"""docs/plugins.md is executed: every code block, in order, in an empty folder (the plugin it builds is
pip-installed into this environment for the test and uninstalled afterwards)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\S+)([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
BIN = Path(sys.executable).parent


def blocks(text: str) -> list[tuple[str, str | None, str]]:
    """(language, file or None, body) of every fenced block."""
    out = []
    for lang, info, body in FENCE.findall(text):
        match = re.search(r"file=(\S+)", info)
        out.append((lang, match.group(1) if match else None, body))
    return out


def run_command(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    if argv[0] == "pip":
        argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *argv[1:]]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_block_of_the_plugin_guide_runs(tmp_path: Path) -> None:
    found = blocks(DOC.read_text(encoding="utf-8"))
    assert found, "no code blocks found"
    kinds = {(lang, file is not None) for lang, file, _ in found}
    assert kinds <= {("console", False), ("python", False), ("python", True), ("yaml", True), ("toml", True)}, kinds
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": ""}
    installed = False
    try:
        for i, (lang, file, body) in enumerate(found):
            where = f"block {i + 1} ({lang}{' ' + file if file else ''})"
            if file is not None:
                path = tmp_path / file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body, encoding="utf-8")
            elif lang == "console":
                for line in body.splitlines():
                    if not line.startswith("$ "):
                        continue
                    proc = run_command(line[2:], tmp_path, env)
                    assert proc.returncode == 0, f"{where}: `{line[2:]}` failed:\n{proc.stdout}\n{proc.stderr}"
                    if "--method mutation" in line:  # the model-free search solves the guide's target
                        assert proc.stdout.startswith("# solved"), proc.stdout
                    installed = installed or line[2:].startswith("pip install")
            else:
                proc = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True,
                                      text=True, timeout=300)
                assert proc.returncode == 0, f"{where} failed:\n{proc.stdout}\n{proc.stderr}"
        assert installed
        assert (tmp_path / "report.html").exists() and (tmp_path / "runs" / "arith").is_dir()
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "treediff-arith"], capture_output=True)
