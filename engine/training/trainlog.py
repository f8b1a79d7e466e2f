"""Training progress output: RUN_DIR/metrics.jsonl, a tqdm bar on a terminal (plain lines otherwise),
and TensorBoard scalars when it is installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from treediff.engine.errors import InputError
from treediff.engine.files import append_line, drop_partial_line, read_lines, write_text

METRICS_FILE = "metrics.jsonl"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete record of a run's metrics.jsonl (empty when there is none).

    A torn last line (an interrupted write; no newline) is ignored, as :func:`treediff.engine.files.read_lines`
    does for eval's results; an unparseable complete line is an InputError naming the file and line.
    """
    path = Path(run_dir) / METRICS_FILE
    records = []
    for number, line in enumerate(read_lines(path), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{str(path)!r} line {number} is not JSON ({exc.msg}); expected one metrics record "
                             "per line, as written by `treediff train`. hint: delete the damaged line") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop records after ``step`` (a resumed run rewrites what followed its checkpoint) and any torn line."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    keep = [r for r in read_metrics(run_dir) if int(r.get("step", 0)) <= step]
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class TrainLog:
    """Writes metrics on the main process only; every method is a no-op elsewhere.

    ``stream`` decides the display: a tqdm bar when it is a terminal, else one plain line per record.
    """

    def __init__(self, run_dir: Path, enabled: bool, total: int, start: int, tensorboard: str = "auto",
                 stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.total = total
        self.stream = stream or sys.stderr
        self.bar: tqdm[Any] | None = None
        self.tb: Any = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        drop_partial_line(self.path)
        if self.stream.isatty():
            self.bar = tqdm(total=total, initial=start, file=self.stream, dynamic_ncols=True, desc="train")
        if tensorboard != "off":
            self.tb = self._tensorboard(tensorboard == "on")

    def _tensorboard(self, required: bool) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if required:
                self.message("tensorboard: not installed (pip install tensorboard); logging to metrics.jsonl only")
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def message(self, text: str) -> None:
        """A line of text for the user (above the bar when there is one)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def advance(self, step: int, loss: float) -> None:
        """One optimizer step done: move the bar."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def record(self, record: dict[str, Any]) -> None:
        """Append one metrics record (must hold ``step``); echoed as a plain line without a terminal."""
        if not self.enabled:
            return
        append_line(self.path, json.dumps(record, sort_keys=True))
        if self.bar is None:
            fields = " ".join(f"{k} {_fmt(v)}" for k, v in record.items() if k not in ("step", "time"))
            print(f"step {record['step']}/{self.total} {fields}", file=self.stream, flush=True)
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        """Flush and close everything."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
