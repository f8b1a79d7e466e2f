"""Packaging: every folder of engine/ and plugins/ installs under the treediff namespace, and the public API
is what the scaffold uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import treediff

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"treediff.engine": ROOT / "engine", "treediff.plugins": ROOT / "plugins"}


def test_every_folder_is_an_installed_package() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setup["package-dir"] == {"treediff": "src/treediff", "treediff.engine": "engine",
                                    "treediff.plugins": "plugins"}
    listed = set(setup["packages"])
    for name, folder in SOURCES.items():
        for sub in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
            if "__pycache__" in sub.parts or not any(f.is_file() for f in sub.iterdir()):
                continue
            package = ".".join([name, *sub.relative_to(folder).parts])
            assert package in listed, f"{sub} is not installed: add {package!r} to [tool.setuptools] packages"


def test_public_api_names_resolve() -> None:
    assert treediff.__all__ and len(set(treediff.__all__)) == len(treediff.__all__)
    for name in treediff.__all__:
        assert getattr(treediff, name) is not None
    assert issubclass(treediff.InputError, treediff.TreediffError)


def test_scaffold_and_readme_import_only_the_public_api() -> None:
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "engine" / "templates" / "plugin").glob("*.py.tmpl")]
    texts.append((ROOT / "README.md").read_text(encoding="utf-8"))
    for text in texts:
        for line in re.findall(r"^\s*(?:from|import) ((?:treediff|engine|plugins)(?:\.\S+)?)\s", text, flags=re.M):
            assert line == "treediff", f"imports {line}; plugin code should import the public `treediff` API"
