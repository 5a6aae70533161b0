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
                return location if is_lasting_location(location) else None
        return {key: cwl_locations(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cwl_locations(item) for item in value]
    return value


# Where a runner keeps a file while the workflow runs (Toil's file store, CWL's anonymous
# ids): nothing a user of the jobs database could open once the run is over.
RUNNER_INTERNAL_SCHEMES = ("toilfile:", "toildir:", "_:")


def is_lasting_location(location: str) -> bool:
    """False, with a warning on stderr, for a runner-internal location: the outputs then
    show the file as null rather than as a location that is no URL."""
    if not location.startswith(RUNNER_INTERNAL_SCHEMES):
        return True
    print(
        f"update-job: warning: output location {location[:200]!r} is internal to the "
        "workflow runner, not a URL: reported as null (report the stage-out step's URLs, "
        "or run the workflow under `update-job run --outputs-from-stdout`)",
        file=sys.stderr,
    )
    return False
