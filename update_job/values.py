"""Reading the JSON values that options take: inline, from a file (`@path`) or stdin (`@-`)."""

from __future__ import annotations

import json
import sys
from typing import Any

from update_job.errors import InvalidUpdate

JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
}


def reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the consumer could not read them back.
    raise ValueError(f"{name} is not valid JSON")


def load_json_object(value: str, option: str) -> dict[str, Any]:
    """The JSON object an option names; InvalidUpdate, in one line, for anything else."""
    text = value
    if value.startswith("@"):
        path = value[1:]
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as file:
                    text = file.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise InvalidUpdate(f"{option}: cannot read {path}: {reason}") from None
    try:
        parsed = json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        raise InvalidUpdate(
            f"{option}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:
        raise InvalidUpdate(f"{option}: {error}") from None
    if not isinstance(parsed, dict):
        kind = JSON_TYPES.get(type(parsed), "null")
        raise InvalidUpdate(f"{option} must be a JSON object, not {kind}")
    return parsed


def cwl_locations(value: Any) -> Any:
    """A CWL output object with each File and Directory replaced by its location URL."""
    if isinstance(value, dict):
        if value.get("class") in ("File", "Directory"):
            location = value.get("location") or value.get("path")
            if isinstance(location, str):
                return location
        return {key: cwl_locations(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cwl_locations(item) for item in value]
    return value
