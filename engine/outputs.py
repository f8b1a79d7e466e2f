"""Output paths checked before the work starts, and write failures turned into one-paragraph errors.

Commands call :func:`check_output_dir` / :func:`check_output_file` on every output they will write
before they train, search or render, so a bad ``--out`` costs nothing. The CLI maps any ``OSError``
that still escapes (a full disk, a file system turned read-only) to :class:`OutputError` through
:func:`os_error_message`: one paragraph, exit code 2, no traceback. Atomic writes
(:mod:`treediff.engine.files`) leave no half-written file behind.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from treediff.engine.errors import TreediffError


class OutputError(TreediffError):
    """An output path is unusable, or writing an output failed (disk full, permissions, read-only)."""


def _existing_ancestor(path: Path) -> Path:
    cur = path
    while not cur.exists() and cur != cur.parent:
        cur = cur.parent
    return cur


def check_output_dir(path: Path, flag: str = "--out") -> Path:
    """Raise OutputError unless ``path`` is, or can be created as, a writable directory (nothing is created)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {str(path)!r} is a file; expected a directory (it will be created when it "
                          f"does not exist). hint: choose another {flag}, or move the file away")
    base = _existing_ancestor(path.absolute())
    if not base.is_dir():
        raise OutputError(f"{flag} {str(path)!r} cannot be created: {str(base)!r} is a file, not a directory; "
                          f"expected a path under a directory. hint: choose another {flag}")
    if not os.access(base, os.W_OK | os.X_OK):
        what = "is not writable" if base == path.absolute() else f"cannot be created in {str(base)!r} (not writable)"
        raise OutputError(f"{flag} {str(path)!r} {what}; expected a writable directory. hint: check its "
                          f"permissions, or choose another {flag}")
    return path


def check_output_file(path: Path, flag: str = "--out") -> Path:
    """Raise OutputError unless ``path`` can be written as a file: not a directory, its parent a writable
    directory (or creatable as one)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {str(path)!r} is a directory; expected a file path (e.g. "
                          f"{str(path / 'NAME')!r} with the file's suffix). hint: name the file to write")
    parent = path.absolute().parent
    check_output_dir(parent, flag=f"the directory of {flag}")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(parent, os.W_OK):
        raise OutputError(f"{flag} {str(path)!r} is not writable; expected a writable file. hint: check its "
                          "permissions, or choose another path")
    return path


_HINTS = {
    errno.ENOSPC: "free some disk space (or choose an output on another disk) and run again",
    errno.EDQUOT: "free some of your disk quota and run again",
    errno.EROFS: "the file system is read-only; choose an output on a writable disk",
    errno.EACCES: "check the permissions of the output path, or choose another one",
    errno.EPERM: "check the permissions of the output path, or choose another one",
}


def os_error_message(exc: OSError) -> str:
    """One paragraph for an OSError that escaped a command: what failed, on which file, and a hint."""
    what = exc.strerror or str(exc) or type(exc).__name__
    target = f" {str(exc.filename)!r}" if exc.filename else ""
    hint = _HINTS.get(exc.errno or 0, "check the path and the disk, then run again")
    text = (f"cannot read or write{target}: {what} (errno {exc.errno}); no partial output was kept (outputs are "
            f"written to a temporary file and renamed when complete). hint: {hint}")
    return " ".join(text.split())
