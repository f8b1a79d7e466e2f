"""Paths and names of the toy grammars every engine test can use."""

from __future__ import annotations

from pathlib import Path

GRAMMAR_DIR = Path(__file__).parent / "grammars"
TOY_GRAMMARS = sorted(p.stem for p in GRAMMAR_DIR.glob("*.yaml"))
