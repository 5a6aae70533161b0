"""`update-job schema`: a JSON Schema that names its dialect, and every sample message in
tests/messages/ valid under it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import run_update_job

MESSAGES = Path(__file__).parent / "messages"


@pytest.fixture(scope="module")
def printed_schema() -> dict[str, Any]:
    result = run_update_job("schema")
    assert result.returncode == 0, result.stderr
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


def test_schema_names_its_dialect(printed_schema: dict[str, Any]) -> None:
    assert printed_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator = jsonschema.validators.validator_for(printed_schema)
    assert validator is jsonschema.Draft202012Validator
    validator.check_schema(printed_schema)


def test_messages_dir_holds_only_messages() -> None:
    files = sorted(path.name for path in MESSAGES.iterdir())
    assert files, "no sample messages"
    assert all(name.endswith(".json") for name in files), files


@pytest.mark.parametrize("path", sorted(MESSAGES.glob("*.json")), ids=lambda path: str(path.name))
def test_every_sample_is_a_valid_message(printed_schema: dict[str, Any], path: Path) -> None:
    jsonschema.Draft202012Validator(printed_schema).validate(json.loads(path.read_text()))


def test_schema_rejects_a_non_message(printed_schema: dict[str, Any]) -> None:
    cwl_output = json.loads((Path(__file__).parent / "data" / "cwl.output.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(printed_schema).validate(cwl_output)
