"""Atomic outputs: temporaries of killed writers are cleaned by the next write of the same file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from treediff.engine.files import STALE_TMP_SECONDS, write_atomic, write_text


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    stale = tmp_path / ".report.html.abc123.tmp"
    fresh = tmp_path / ".report.html.def456.tmp"  # maybe another writer at work right now: left alone
    other = tmp_path / ".other.html.abc123.tmp"  # another file's temporary: left alone
    for tmp in (stale, fresh, other):
        tmp.write_text("partial")
    old = time.time() - STALE_TMP_SECONDS - 5
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    write_text(target, "<!DOCTYPE html>")
    assert target.read_text() == "<!DOCTYPE html>"
    assert not stale.exists() and fresh.exists() and other.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
