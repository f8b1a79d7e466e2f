"""Output files, written atomically (a temp file, then a rename) or appended a whole line at a time.

The one place the project writes files: reports, evaluation summaries, plots, checkpoints, metrics. Every
file gets the usual permissions (``0666`` less the umask).
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from treediff.engine.errors import InputError

STALE_TMP_SECONDS = 600  # a temporary of the same target older than this was left by a killed writer


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path`` and rename it over ``path``.

    On failure the temporary file is removed and ``path`` is left as it was (absent or old). Temporaries of
    the same target that a killed writer left behind (older than :data:`STALE_TMP_SECONDS`) are removed
    first, so the next run cleans up after an interrupted one.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(parent, path.name)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}; expected a writable directory "
                         f"{str(parent)!r}. hint: create it first or choose another output path") from None
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path, name: str, max_age: float = STALE_TMP_SECONDS) -> list[Path]:
    """Remove ``folder/.NAME.*.tmp`` files older than ``max_age`` seconds; returns the removed paths."""
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = list(Path(folder).glob(f".{glob.escape(name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            if now - tmp.stat().st_mtime > max_age:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue  # another process removed or renamed it: not ours to worry about
    return removed


def write_json(path: Path, payload: object, indent: int = 2, sort_keys: bool = False) -> None:
    """Write ``payload`` as JSON to ``path`` atomically, creating the parent directory if needed.

    Besides plain JSON values, NumPy scalars, tuples, sets and paths are stored (as numbers, lists, strings).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=indent, sort_keys=sort_keys, default=_json_default) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def append_line(path: Path, line: str) -> None:
    """Append one line to ``path`` with a single ``write`` on an ``O_APPEND`` descriptor, then fsync.

    Concurrent appenders (e.g. torchrun ranks) never interleave within a line, and an interrupted run
    leaves at most one partial final line, which :func:`read_lines` ignores.
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # less the umask, as write_atomic
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[str]:
    """Complete lines of ``path`` (a trailing line without newline, left by an interruption, is dropped)."""
    if not Path(path).exists():
        return []
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]


def drop_partial_line(path: Path) -> None:
    """Cut a trailing partial line from ``path`` so later appends start on a fresh line."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data[:data.rfind(b"\n") + 1]
        write_atomic(path, lambda tmp: tmp.write_bytes(keep))
