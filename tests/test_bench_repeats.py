"""bench/repeats.py: the share of a search's calls that redraw an image, and the share a key would save."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.benchkit import bench_script
from treediff.engine.domains.registry import load_registry
from treediff.engine.grammar.parse import parse


def test_the_recorder_counts_repeat_images_and_the_calls_a_key_saves_per_solve() -> None:
    repeats = bench_script("repeats")
    domain = load_registry().domain("tinysvg")
    trees = [parse(domain.grammar, t) for t in ["(Rectangle 3 4 red blue 0)", "(Rectangle 3 4 red green 0)",
                                                 "(Rectangle 3 4 red green 1)"]]
    recorder = repeats.Recorder(domain.make_executor("cpu"), domain.observation_key)
    out = recorder.execute(trees)
    assert isinstance(out, torch.Tensor) and out.shape[0] == 3
    # the second draws what the first does (a stroke colour under width 0), and its key says so
    assert (recorder.calls, recorder.repeat_images, recorder.keyed) == (3, 1, 1)
    recorder.execute(trees[:1])  # executed again for its observation (evicted from the cache): not a call
    assert (recorder.calls, recorder.repeat_images, recorder.keyed) == (3, 1, 1)
    recorder.reset()
    recorder.execute(trees[2:])
    assert (recorder.calls, recorder.repeat_images, recorder.keyed) == (1, 0, 0)


def test_main_runs_the_shipped_search_without_keys_and_writes_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "repeats.json"
    assert bench_script("repeats").main(["--targets", "2", "--budget", "150", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert len(saved["rows"]) == 2 and saved["calls"] == sum(r["calls"] for r in saved["rows"]) <= 300
    assert 0 < saved["keyed"] <= saved["repeat_images"] < saved["calls"]
    assert "a key saves" in capsys.readouterr().out
