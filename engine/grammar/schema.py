"""JSON Schemas of the user-facing file formats, generated from their pydantic models."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from treediff.engine.files import write_atomic

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

# file name -> "module:Model"; models of layers above the core are imported lazily by name
MODELS: dict[str, str] = {
    "grammar.schema.json": "treediff.engine.grammar.spec:GrammarSpec",
    "train.schema.json": "treediff.engine.training.traincfg:TrainConfig",
    "search.schema.json": "treediff.engine.search.config:SearchConfig",
}


def _model(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def schemas() -> dict[str, str]:
    """File name -> schema text (stable formatting, trailing newline) for every available model."""
    out: dict[str, str] = {}
    for filename, ref in MODELS.items():
        try:
            model = _model(ref)
        except (ImportError, AttributeError):
            continue
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[filename] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(out_dir: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``out_dir`` atomically; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in schemas().items():
        target = out_dir / filename
        write_atomic(target, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))  # type: ignore[misc]
        written.append(target)
    return written
