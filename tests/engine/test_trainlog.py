"""Training output: metrics.jsonl records, plain lines off a terminal, truncation on resume."""

from __future__ import annotations

import io
from pathlib import Path

from treediff.engine.training.trainlog import TrainLog, read_metrics, truncate_metrics


def test_records_go_to_jsonl_and_to_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    log = TrainLog(tmp_path, enabled=True, total=30, start=0, tensorboard="off", stream=stream)
    for step in (10, 20, 30):
        log.record({"step": step, "loss": 1.0 / step})
        log.advance(step, 1.0 / step)
    log.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [10, 20, 30]
    assert stream.getvalue().splitlines()[0] == "step 10/30 loss 0.1"
    truncate_metrics(tmp_path, 20)
    assert [r["step"] for r in read_metrics(tmp_path)] == [10, 20]


def test_other_ranks_write_nothing(tmp_path: Path) -> None:
    stream = io.StringIO()
    log = TrainLog(tmp_path / "run", enabled=False, total=5, start=0, stream=stream)
    log.record({"step": 1, "loss": 2.0})
    log.message("hello")
    log.close()
    assert not (tmp_path / "run").exists() and stream.getvalue() == ""
