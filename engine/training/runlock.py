"""A lock on a run directory, held for the whole of a ``treediff train`` run.

The lock is ``RUN_DIR/.lock``: a JSON record of the holder (pid, host, start time) on which the holder
keeps an exclusive ``flock``. A second run into the same directory finds the flock taken and refuses,
naming the holder. When the holder died (SIGKILL, power loss), the kernel released its flock: the next
run finds the file without a live holder, reports it as stale (with the dead PID) and takes it over.
Where ``flock`` is not supported (some network file systems) the PID is checked instead (same host
only; a lock of another host is never taken over silently).

Taking the lock also removes orphan ``.*.tmp`` files of atomic writes that a killed run left behind:
no other process can be writing into the directory then.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from treediff.engine.errors import InputError

LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return False
    return True


def _describe(holder: dict[str, Any]) -> str:
    return (f"process {holder.get('pid', '?')} on host {holder.get('host', '?')!r} "
            f"(started {holder.get('started', '?')})")


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def clean_orphan_tmp(*folders: Path) -> list[Path]:
    """Remove ``.*.tmp`` files (temporaries of interrupted atomic writes) in ``folders``; returns them."""
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


def clean_partial_checkpoints(run_dir: Path) -> list[Path]:
    """Remove checkpoint weight/state files whose JSON was never written (a write that failed or was
    killed between them); a checkpoint exists exactly when its JSON does, so nothing valid is lost."""
    folder = Path(run_dir) / "checkpoints"
    removed = []
    if folder.is_dir():
        for path in folder.glob("step-*.safetensors"):
            stem = path.name.split(".", 1)[0]
            if not (folder / f"{stem}.json").exists():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


class RunLock:
    """Exclusive lock on a run directory; use as a context manager or call :meth:`acquire`/:meth:`release`."""

    def __init__(self, run_dir: Path, stream: TextIO | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.stream = stream or sys.stderr
        self.fd: int | None = None
        self.took_over: dict[str, Any] | None = None  # the stale holder replaced, when there was one
        self.created = False  # whether acquiring made the directory (removed again on release when empty)

    def acquire(self) -> RunLock:
        """Take the lock or raise InputError naming the live holder."""
        self.created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                holder = self._claim(fd)
                if self._same_file(fd):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the file was removed by its releasing holder between open and flock: retry
        self.fd = fd
        if holder:
            self.took_over = holder
            print(f"note: took over the stale lock {str(self.path)!r} of {_describe(holder)}, which is no longer "
                  "running; its last checkpoint is intact (continue it with --resume)", file=self.stream)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        data = (json.dumps(me) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        clean_orphan_tmp(self.run_dir, self.run_dir / "checkpoints")
        clean_partial_checkpoints(self.run_dir)
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _claim(self, fd: int) -> dict[str, Any]:
        """Lock ``fd``; returns the record of a stale previous holder (empty when there was none)."""
        holder = _read_holder(self.path)
        locked = False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    holder = _read_holder(self.path)
                    raise InputError(self._busy(holder)) from None
                # flock unsupported here: fall back to the PID check below
        if not holder or holder.get("pid") == os.getpid():
            return {}
        if locked:
            return holder  # a record without a live flock: its writer is gone
        same_host = holder.get("host") == socket.gethostname()
        pid = holder.get("pid")
        if same_host and isinstance(pid, int) and not _pid_alive(pid):
            return holder
        raise InputError(self._busy(holder))

    def _busy(self, holder: dict[str, Any]) -> str:
        return (f"run directory {str(self.run_dir)!r} is locked by {_describe(holder)}, which is still "
                f"training into it; expected a directory no other run is using. hint: wait for that run to "
                f"finish, or choose another --out (if that process is certainly gone, delete {str(self.path)!r})")

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held)."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
        if self.created:
            try:
                self.run_dir.rmdir()  # only when the run wrote nothing (e.g. its config was invalid)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_run_dir(run_dir: Path, stream: TextIO | None = None) -> RunLock | None:
    """The held lock of ``run_dir`` for this process, or None off the main process of a torchrun launch
    (rank 0 holds the lock for all ranks)."""
    if os.environ.get("RANK", "0") != "0":
        return None
    return RunLock(run_dir, stream).acquire()
