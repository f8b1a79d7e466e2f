"""``treediff new-plugin``: scaffold a pip-installable domain plugin that works out of the box."""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path
from string import Template

from treediff.engine.errors import InputError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "plugin"
LAYOUT = {  # template -> path inside the new project
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "grammar.yaml.tmpl": "treediff_{name}/grammar.yaml",
    "plugin.py.tmpl": "treediff_{name}/plugin.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``new-plugin`` subcommand."""
    p = sub.add_parser("new-plugin", help="scaffold a pip-installable domain plugin")
    p.add_argument("name", help="domain name: lowercase letters, digits and _")
    p.add_argument("--dir", type=Path, default=Path("."), help="parent directory (default .)")
    p.set_defaults(run=run)


def scaffold(name: str, parent: Path) -> Path:
    """Create ``parent/treediff-NAME`` from the templates; all or nothing."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InputError(f"plugin name {name!r} is not valid; expected lowercase letters, digits and _, "
                         "starting with a letter (it becomes a Python package name)")
    target = parent / f"treediff-{name}"
    if target.exists():
        raise InputError(f"{str(target)!r} already exists; expected a new directory. hint: choose another "
                         "--dir or name")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".treediff-{name}-", dir=parent))
    try:
        for template, rel in LAYOUT.items():
            out = staging / rel.format(name=name)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(Template((TEMPLATES / template).read_text()).substitute(name=name), encoding="utf-8")
        (staging / f"treediff_{name}" / "__init__.py").write_text(f'"""treediff plugin: {name}."""\n')
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def run(args: argparse.Namespace) -> int:
    """Scaffold and say what to do next."""
    target = scaffold(args.name, args.dir)
    print(f"created {target}\nnext: pip install -e {target} && treediff plugins && pytest {target}/tests")
    return 0
