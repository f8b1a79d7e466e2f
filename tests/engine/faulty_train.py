"""`treediff train` on the fast blocks test domain, with fault hooks; run as a script by the kill tests.

    python tests/engine/faulty_train.py TRAIN-ARGS...

is ``treediff train TRAIN-ARGS`` where the domain ``blocks`` exists. The environment adds faults:

- ``FAULT_KILL_AFTER_STEP=N``: the process SIGKILLs itself right after optimizer step N (before that
  step's metrics or checkpoint are written).
- ``FAULT_KILL_IN_WRITE=K``: at the K-th file write into the checkpoints directory (weights, state or
  JSON; three per checkpoint), the temporary file is cut to half its size and the process SIGKILLs
  itself before the rename: a write torn in the middle.
- ``FAULT_SLOW_WRITE=SECONDS``: every checkpoint file write pauses this long between writing its
  temporary file and renaming it, so that a kill from outside often lands mid-write.

It prints ``training`` (flushed) when the first optimizer step begins.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `tests.engine`

from tests.engine.trainkit import blocks_registry  # noqa: E402
from treediff.engine import cli  # noqa: E402
from treediff.engine.commands import train as train_command  # noqa: E402
from treediff.engine.training import train as training  # noqa: E402


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_faults() -> None:
    kill_after = int(os.environ.get("FAULT_KILL_AFTER_STEP", "0"))
    kill_in_write = int(os.environ.get("FAULT_KILL_IN_WRITE", "0"))
    slow = float(os.environ.get("FAULT_SLOW_WRITE", "0"))
    step = training.Trainer._step

    def faulty_step(self: training.Trainer, index: int, tree_batch: object) -> object:
        if index == self.start:
            print("training", flush=True)
        out = step(self, index, tree_batch)
        if index + 1 == kill_after:
            _die()
        return out

    training.Trainer._step = faulty_step  # type: ignore[method-assign]
    replace = os.replace
    writes = 0

    def faulty_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        nonlocal writes
        if Path(dst).parent.name == "checkpoints":
            writes += 1
            if writes == kill_in_write:
                with open(src, "r+b") as f:
                    f.truncate(os.path.getsize(src) // 2)
                _die()
            if slow:
                time.sleep(slow)
        replace(src, dst)

    os.replace = faulty_replace  # type: ignore[assignment]


if __name__ == "__main__":
    install_faults()
    train_command.load_registry = blocks_registry  # type: ignore[attr-defined]
    sys.exit(cli.main(["train", *sys.argv[1:]]))
