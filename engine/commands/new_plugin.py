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
    p.add_argument("--dir", type=Path, default=None, metavar="DIR",
                   help="the new project's directory (default ./treediff-NAME); must not exist or be empty")
    p.set_defaults(run=run)


def scaffold(name: str, parent: Path = Path("."), target: Path | None = None) -> Path:
    """Create the project ``target`` (default ``parent/treediff-NAME``) from the templates; all or nothing."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InputError(f"plugin name {name!r} is not valid; expected lowercase letters, digits and _, "
                         "starting with a letter (it becomes a Python package name)")
    target = Path(target) if target is not None else parent / f"treediff-{name}"
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise InputError(f"{str(target)!r} already exists; expected a new (or empty) directory. hint: choose "
                         "another --dir or name")
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        target.rmdir()  # empty: replaced by the staged project below
    staging = Path(tempfile.mkdtemp(prefix=f".treediff-{name}-", dir=parent))
    try:
        for template, rel in LAYOUT.items():
            out = staging / rel.format(name=name)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(Template((TEMPLATES / template).read_text()).substitute(name=name), encoding="utf-8")
        (staging / f"treediff_{name}" / "__init__.py").write_text(f'"""treediff plugin: {name}."""\n')
        from treediff.engine.grammar.schema import schemas

        schema = schemas().get("grammar.schema.json")
        if schema is not None:  # the grammar's `$schema` comment points at this copy
            (staging / f"treediff_{name}" / "grammar.schema.json").write_text(schema, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def run(args: argparse.Namespace) -> int:
    """Scaffold and say what to do next."""
    target = scaffold(args.name, target=args.dir)
    print(f"created {target}\nnext: pip install --no-deps -e {target} && treediff check-plugin {args.name} && "
          f"pytest {target}/tests")
    return 0
