"""What an ``eval --resume`` must match: every setting that changes results, models by content hash.

``eval.json`` in the output directory records the settings of an evaluation. On ``--resume`` the new
settings are compared with it and any difference is refused, naming it: the domain, methods, budget,
seed, targets and time limit, and the models as the sha256 of their weights (``.safetensors``), so
another checkpoint at the same path, or the same checkpoint at another path, is told apart correctly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from treediff.engine.errors import InputError

RESULT_KEYS = ("domain", "methods", "budget", "seed", "targets", "time_limit", "checkpoint_sha256",
               "ar_checkpoint_sha256", "search")
# keys an older eval.json may lack: not compared when absent there (nothing to compare against)
_NEWER_KEYS = ("checkpoint_sha256", "ar_checkpoint_sha256", "search")


def weights_sha256(path: str | Path) -> str:
    """sha256 of the weights file of the checkpoint ``path`` names (run dir, model dir, .json or .safetensors)."""
    from treediff.engine.training.rundir import resolve

    weights = resolve(path).with_suffix(".safetensors")
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hashes(domain: Any, methods: list[str], checkpoint: Path | None,
                 ar_checkpoint: Path | None) -> dict[str, Any]:
    """Content hashes of the models an evaluation of ``methods`` uses (None where a model is not used)."""
    from treediff.engine.search.solve import checkpoint_paths

    primary, ar_path = checkpoint_paths(domain, methods, checkpoint, ar_checkpoint)
    return {"checkpoint_sha256": weights_sha256(primary) if primary is not None else None,
            "ar_checkpoint_sha256": weights_sha256(ar_path) if ar_path is not None else None}


def check_resume(out: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """InputError naming every result-changing difference between the recorded and the new settings."""
    changed = [k for k in RESULT_KEYS if k in new and not (k in _NEWER_KEYS and k not in old)
               and old.get(k) != new[k]]
    if not changed:
        return

    def show(key: str, value: Any) -> str:
        if key.endswith("sha256") and isinstance(value, str):
            name = key.removesuffix("_sha256")
            path = new.get(name) if value == new.get(key) else old.get(name)
            return f"weights sha256 {value[:12]}" + (f" ({path})" if path else "")
        return repr(value)

    diff = "; ".join(f"{k.removesuffix('_sha256')}: {show(k, old.get(k))} -> {show(k, new[k])}" for k in changed)
    raise InputError(f"--resume in {str(out)!r} with settings that change the results ({diff}); expected the "
                     "settings of the interrupted evaluation, so that every target is scored the same way. hint: "
                     "resume with the original --checkpoint/--ar-checkpoint/--methods/--budget/--seed, or use a "
                     "new --out for a different evaluation")
