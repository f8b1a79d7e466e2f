"""Committed JSON Schemas match the pydantic models they are generated from."""

from __future__ import annotations

import json
from pathlib import Path

from treediff.engine.grammar.schema import SCHEMA_DIR, schemas, write_schemas


def test_committed_schemas_are_fresh() -> None:
    generated = schemas()
    assert "grammar.schema.json" in generated
    for filename, text in generated.items():
        committed = SCHEMA_DIR / filename
        assert committed.exists(), f"{committed} missing: run `treediff schema`"
        assert committed.read_text() == text, f"{committed} is stale: run `treediff schema` and commit it"


def test_grammar_schema_describes_the_format(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    schema = json.loads((tmp_path / "grammar.schema.json").read_text())
    assert set(schema["required"]) == {"name", "start", "rules"}
    assert schema["additionalProperties"] is False
    production = schema["$defs"]["ProductionSpec"]
    assert production["properties"]["weight"]["minimum"] == 0
