"""Run-directory layout: where a training run keeps its checkpoints, which are complete, pruning old ones,
and which checkpoint a path names.

``RUN_DIR/checkpoints/step-000000N.json`` marks a complete checkpoint (it is written last), next to
``step-000000N.safetensors`` (weights) and ``step-000000N.state.safetensors`` (training state).
"""

from __future__ import annotations

import re
from pathlib import Path

from treediff.engine.errors import CheckpointError

_STEP_FILE = re.compile(r"^step-(\d+)\.json$")


def step_stem(run_dir: Path, step: int) -> Path:
    """The common path prefix of checkpoint ``step``'s files (add ``.json``, ``.safetensors``, ...)."""
    return checkpoint_dir(run_dir) / f"step-{step:07d}"


def state_path(json_path: Path) -> Path:
    """The training-state file next to a checkpoint JSON."""
    return Path(str(json_path.with_suffix("")) + ".state.safetensors")


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run keeps its checkpoints."""
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, json path) of every complete checkpoint of a run, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _STEP_FILE.match(path.name)
        if m and path.with_suffix(".safetensors").exists():
            found.append((int(m.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The JSON of a run's newest complete checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def prune(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints (JSON first, so none is left half-valid)."""
    for _, path in list_checkpoints(run_dir)[:-keep_last]:
        for target in (path, path.with_suffix(".safetensors"), state_path(path)):
            target.unlink(missing_ok=True)



def resolve(path: str | Path) -> Path:
    """The checkpoint JSON that ``path`` names: a run directory (its latest checkpoint), a directory with
    ``model.json``, a ``.json`` file, or a weights ``.safetensors`` file next to its JSON."""
    p = Path(path)
    if p.is_dir():
        if (p / "model.json").exists():
            return p / "model.json"
        latest = latest_checkpoint(p)
        if latest is None:
            raise CheckpointError(f"checkpoint directory {str(p)!r} holds no checkpoint; expected a run "
                                  "directory with checkpoints/step-*.json or a folder with model.json. hint: train "
                                  "one with `treediff train DOMAIN --out RUN_DIR`")
        return latest
    if p.suffix == ".safetensors":
        p = Path(str(p).removesuffix(".state.safetensors").removesuffix(".safetensors") + ".json")
    if not p.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist; expected a run directory, a checkpoint "
                              ".json or its .safetensors file")
    return p
