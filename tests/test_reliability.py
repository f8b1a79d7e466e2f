"""The reliability battery (issue 10): run-directory locks, deep trees, resume checks, output paths and
disks, resource limits, and numbers that tell the truth. Every test drives the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.trainkit import blocks_registry, fast_config
from treediff.engine import cli

TINY_CSG = {"preset": "tiny", "batch_size": 4, "val_size": 4, "log_every": 5, "val_every": 10,
            "checkpoint_every": 10, "warmup_steps": 2, "threads": 1, "device": "cpu", "workers": 0}


def _treediff(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "treediff.engine.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **options: object) -> Path:
    """Train commands see the fast blocks domain; returns a config file of the fast config."""
    monkeypatch.setattr("treediff.engine.commands.train.load_registry", blocks_registry)
    config = tmp_path / "train.yaml"
    body = fast_config(**options).model_dump(mode="json")  # type: ignore[arg-type]
    config.write_text(json.dumps(body))  # JSON is YAML
    return config


# -- 1. one run per run directory --------------------------------------------------------------------


def test_two_runs_into_one_out_the_second_refuses_naming_the_holder(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps({**TINY_CSG, "steps": 80}))
    run = tmp_path / "R"
    first = _treediff("train", "csg2d", "--config", str(config), "--out", str(run))
    time.sleep(0.3)
    second = _treediff("train", "csg2d", "--config", str(config), "--out", str(run))
    outs = [p.communicate(timeout=300) for p in (first, second)]
    codes = sorted((first.returncode, second.returncode))
    assert codes == [0, 2], outs
    loser, winner = (second, first) if second.returncode == 2 else (first, second)
    err = outs[[first, second].index(loser)][1]
    assert f"locked by process {winner.pid} on host {socket.gethostname()!r}" in err
    assert "Traceback" not in err and "--out" in err
    assert not (run / ".lock").exists()  # released at the end of the run


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = _blocks(monkeypatch, tmp_path, steps=4)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "R"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    (run / ".config.json.abc123.tmp").write_text("{half")  # an orphan of a killed atomic write
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"took over the stale lock {str(run / '.lock')!r} of process {dead.pid}" in err
    assert not (run / ".lock").exists() and not list(run.glob(".*.tmp"))


def test_a_live_lock_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = _blocks(monkeypatch, tmp_path, steps=4)
    run = tmp_path / "R"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from treediff.engine.training.runlock import RunLock\n"
                               f"RunLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert cli.main(["train", "blocks", "--config", str(config), "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"locked by process {holder.pid}" in err and "Traceback" not in err
        assert not (run / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(run)]) == 0  # its lock is stale now
    assert f"of process {holder.pid}" in capsys.readouterr().err


# -- 2. deep but valid trees -------------------------------------------------------------------------


def _deep_csg(n: int) -> str:
    return "(+ (Circle 1 2 3) " * n + "(Circle 3 4 5)" + ")" * n


def _deep_svg(n: int) -> str:
    return "(Arrange h (Rectangle 1 1 red none 0) " * n + "(Ellipse 2 2 blue none 0)" + " 1)" * n


@pytest.mark.parametrize("domain,text", [("csg2d", _deep_csg(500)), ("csg2d", _deep_csg(2000)),
                                         ("tinysvg", _deep_svg(2000))], ids=["csg500", "csg2000", "svg2000"])
def test_render_deep_programs(domain: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "deep.txt"
    program.write_text(text)
    assert cli.main(["render", domain, str(program), "--out", str(tmp_path / "deep.png")]) == 0
    assert (tmp_path / "deep.png").stat().st_size > 0


def test_render_refuses_a_program_past_the_depth_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "deep.txt"
    program.write_text(_deep_csg(5000))
    assert cli.main(["render", "csg2d", str(program), "--out", str(tmp_path / "deep.png")]) == 2
    err = capsys.readouterr().err
    assert "nested more than 4000 levels deep" in err and "MAX_TREE_DEPTH" in err
    assert "Recursion" not in err and not (tmp_path / "deep.png").exists()


def test_eval_targets_with_a_deep_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "deep.txt").write_text(_deep_csg(500))
    assert cli.main(["eval", "csg2d", "--targets", str(targets), "--methods", "mutation", "--budget", "3",
                     "--out", str(tmp_path / "E")]) == 0
    assert '"target": "deep"' in (tmp_path / "E" / "results.jsonl").read_text()


# -- 3. eval --resume refuses settings that change results -------------------------------------------


def test_eval_resume_refuses_another_model_or_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from tests.engine.blocks_domain import make_domain, trained_run
    from tests.test_cli_eval import main, use_domains
    from treediff.engine.training.checkpoint import resolve

    use_domains(monkeypatch, make_domain())
    model = tmp_path / "model"
    shutil.copytree(trained_run("diffusion", tmp_path / "runs"), model)
    ar = trained_run("ar", tmp_path / "runs")
    out = tmp_path / "ev"
    args = ["eval", "blocks", "-n", 2, "--budget", 20, "--out", out, "--methods", "beam,mutation"]
    code, _, err = main(capsys, *args, "--checkpoint", model)
    assert code == 0, err
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text(lines[0] + "\n")  # interrupted after one record
    weights = resolve(model).with_suffix(".safetensors")
    tensors = load_file(str(weights))
    save_file({k: v + 0.01 for k, v in tensors.items()}, str(weights))  # another model at the same path
    code, _, err = main(capsys, *args, "--checkpoint", model, "--resume")
    assert code == 2 and "checkpoint: weights sha256" in err and "Traceback" not in err
    code, _, err = main(capsys, "eval", "blocks", "-n", 2, "--budget", 20, "--out", out, "--methods", "mutation",
                        "--checkpoint", model, "--resume")
    assert code == 2 and "methods: ['beam', 'mutation'] -> ['mutation']" in err
    save_file(tensors, str(weights))  # the original weights again: the resume is accepted
    code, _, err = main(capsys, *args, "--checkpoint", model, "--resume")
    assert code == 0, err
    code, _, err = main(capsys, "eval", "blocks", "-n", 2, "--budget", 20, "--out", out, "--methods",
                        "beam,mutation,ar", "--checkpoint", model, "--ar-checkpoint", ar, "--resume")
    assert code == 2 and "ar_checkpoint: None -> weights sha256" in err


# -- 4. output paths and full disks ------------------------------------------------------------------


def _clean_error(err: str) -> None:
    """One paragraph (one line) of error, last on stderr (after any progress lines), no traceback."""
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert "error:" in err.strip().splitlines()[-1], err


@pytest.mark.parametrize("where", ["file", "under-file", "export-file"])
def test_train_refuses_bad_output_paths_before_training(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = _blocks(monkeypatch, tmp_path, steps=4)
    started = []
    monkeypatch.setattr("treediff.engine.training.train.Trainer.run", lambda *a, **k: started.append(1))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = {"file": blocker, "under-file": blocker / "run", "export-file": tmp_path / "R"}[where]
    extra = ["--export", str(blocker)] if where == "export-file" else []
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert str(blocker) in err and not started and blocker.read_text() == "x"
    assert not (tmp_path / "R").exists()


def test_render_out_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["render", "csg2d", "(Circle 3 8 8)", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert "is a directory; expected a file path" in err


def _full_disk(monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """Renaming a finished temporary file onto a ``suffix`` output fails as on a full disk."""
    import errno

    real = os.replace

    def replace(src: object, dst: object) -> None:
        if str(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)


def test_render_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    _full_disk(monkeypatch, ".png")
    assert cli.main(["render", "csg2d", "(Circle 3 8 8)", "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert "No space left on device" in err and "free some disk space" in err
    assert list(tmp_path.iterdir()) == []  # neither the PNG nor its temporary file


def test_train_on_a_full_disk_leaves_no_weights_without_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = _blocks(monkeypatch, tmp_path, steps=12)
    _full_disk(monkeypatch, "step-0000010.json")
    run = tmp_path / "R"
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(run)]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert "No space left on device" in err
    left = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert left == [] and not list(run.rglob("*.tmp")) and not (run / ".lock").exists()


# -- 7. resource limits -------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` (8-bit gray) with no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_solve_refuses_a_huge_image_before_decoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "huge.png"
    target.write_bytes(_png_header(12000, 12000))
    started = time.perf_counter()
    assert cli.main(["solve", "csg2d", str(target), "--method", "mutation", "--budget", "5"]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert "12000x12000 = 144000000 pixels" in err and "--max-image-pixels" in err
    assert time.perf_counter() - started < 10
    assert cli.main(["solve", "csg2d", str(target), "--method", "mutation", "--budget", "5",
                     "--max-image-pixels", str(200_000_000)]) == 2  # allowed now: fails later, as truncated
    assert "12000x12000" not in capsys.readouterr().err


def test_sample_streams_a_huge_n_and_caps_rendering(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = _treediff("sample", "csg2d", "-n", "100000000")
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(3)]  # before, nothing came until all were built
        assert all(line.startswith("(") for line in first)
    finally:
        proc.kill()
        proc.communicate()
    assert cli.main(["sample", "csg2d", "-n", "100000000", "--out", str(tmp_path / "S")]) == 2
    err = capsys.readouterr().err
    assert "expected at most 10000" in err and "--max-samples" in err and not (tmp_path / "S").exists()


def test_a_10_mb_program_is_refused_before_parsing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "big.txt"
    program.write_text("(+ (Circle 1 2 3) (Circle 1 2 3))" + " " * 10_000_000)
    started = time.perf_counter()
    assert cli.main(["render", "csg2d", str(program), "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err
    _clean_error(err)
    assert "expected at most 1000000" in err and "--max-program-chars" in err
    assert time.perf_counter() - started < 5
    assert cli.main(["render", "csg2d", str(program), "--out", str(tmp_path / "b.png"),
                     "--max-program-chars", "20000000"]) == 0


# -- 8. numbers and words that are true --------------------------------------------------------------


def test_samples_per_s_is_measured_over_the_whole_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from treediff.engine.training.train import Trainer
    from treediff.engine.training.trainlog import read_metrics

    config = _blocks(monkeypatch, tmp_path, steps=10, log_every=5, checkpoint_every=1, val_every=100)
    real = Trainer._step

    def slow(self: Trainer, index: int, batch: object) -> object:
        time.sleep(0.05)
        return real(self, index, batch)

    monkeypatch.setattr(Trainer, "_step", slow)
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(tmp_path / "R")]) == 0
    rates = [r["samples_per_s"] for r in read_metrics(tmp_path / "R") if "samples_per_s" in r]
    assert rates and max(rates) < 8 / 0.05 * 1.05  # batch 8 per 0.05 s at most (was 5x that)


def test_first_record_after_resume_says_how_many_steps_it_averages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from treediff.engine.training.trainlog import read_metrics

    config = _blocks(monkeypatch, tmp_path, steps=4)
    run = tmp_path / "R"
    assert cli.main(["train", "blocks", "--config", str(config), "--out", str(run)]) == 0
    assert cli.main(["train", "blocks", "--steps", "10", "--out", str(run), "--resume"]) == 0
    windows = {r["step"]: r["window_steps"] for r in read_metrics(run) if "loss" in r}
    assert windows == {4: 4, 5: 1, 10: 5}


def test_a_jpeg_named_png_is_read_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    target = tmp_path / "t.png"
    Image.new("L", (128, 128), 255).save(target, format="JPEG")
    assert cli.main(["solve", "csg2d", str(target), "--method", "mutation", "--budget", "3"]) == 0
    assert "named .png but is a JPEG file" in capsys.readouterr().err


def test_an_invalid_model_config_is_one_paragraph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(Path(__file__).parents[1] / "plugins" / "csg2d" / "model", model)
    meta = json.loads((model / "model.json").read_text())
    meta["model_config"]["d_model"] = "big"
    meta["model_config"]["n_heads"] = "many"
    (model / "model.json").write_text(json.dumps(meta))
    target = Path(__file__).parents[1] / "plugins" / "csg2d" / "targets" / "target1.png"
    assert cli.main(["solve", "csg2d", str(target), "--checkpoint", str(model), "--budget", "3"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "d_model" in err and "Traceback" not in err, err
