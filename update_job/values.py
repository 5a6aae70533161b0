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


def load_json(value: str, option: str) -> Any:
    """The JSON value an option names; InvalidUpdate, in one line, if there is none."""
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
    return parsed


def load_json_object(value: str, option: str) -> dict[str, Any]:
    """The JSON object an option names; InvalidUpdate, in one line, for anything else."""
    parsed = load_json(value, option)
    if not isinstance(parsed, dict):
        kind = JSON_TYPES.get(type(parsed), "null")
        raise InvalidUpdate(f"{option} must be a JSON object, not {kind}")
    return parsed


CWL_CLASSES = ("File", "Directory")
# Deeper than any job's inputs or outputs; far less than what would exhaust the stack of the
# code (ours, pydantic's) that walks them.
MAX_NESTING = 100
OUTPUTS_EXPECTED = "expected a JSON object, a CWL File or Directory object, or an array of them"


def is_cwl_object(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class") in CWL_CLASSES


def describe_value(value: Any, items: bool = True) -> str:
    """What a user gave, in their words: `a CWL File object`, `an array holding a number`,
    ... (an array's items described one level down only)."""
    if is_cwl_object(value):
        return f"a CWL {value['class']} object"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        kinds = sorted({describe_value(item, items=False) for item in value}) if items else []
        if not kinds:
            return "an empty array" if items else "an array"
        return f"an array holding {' and '.join(kinds)}"
    return JSON_TYPES.get(type(value), "null")


def check_nesting(value: Any, option: str) -> None:
    """InvalidUpdate if arrays and objects nest deeper than MAX_NESTING (walked without
    recursion, so that any depth JSON can hold is measured)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                raise InvalidUpdate(f"{option}: nested deeper than {MAX_NESTING} levels")
            stack.extend((child, depth + 1) for child in children)


def job_inputs(value: str, option: str) -> dict[str, Any]:
    """The job's inputs, kept as given (a Directory stays an object, as the job request
    carried it): a JSON object of them by name."""
    inputs = load_json_object(value, option)
    check_nesting(inputs, option)
    if is_cwl_object(inputs):
        raise InvalidUpdate(
            f"{option}: {describe_value(inputs)}; expected a JSON object of the job's "
            "inputs by name"
        )
    return inputs


def job_outputs(value: str, option: str) -> dict[str, Any]:
    """The job's outputs, each File and Directory as its location URL: from an object of
    them by name (a CWL output object), or from a single File or Directory object or an
    array of them (what a workflow hands on after JSON.stringify), named by basename. A
    JSON string holding any of these is read too."""
    outputs = load_json(value, option)
    if isinstance(outputs, str):
        try:
            outputs = json.loads(outputs, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise InvalidUpdate(f"{option}: a string; {OUTPUTS_EXPECTED}") from None
    check_nesting(outputs, option)
    if is_cwl_object(outputs):
        outputs = [outputs]
    if isinstance(outputs, list):
        if not all(map(is_cwl_object, outputs)):
            raise InvalidUpdate(f"{option}: {describe_value(outputs)}; {OUTPUTS_EXPECTED}")
        by_basename: dict[str, Any] = {}
        for item in outputs:
            name, location = basename(item), cwl_locations(item)
            if not isinstance(location, str) or not name:
                raise InvalidUpdate(
                    f"{option}: {describe_value(item)} with no location or path; {OUTPUTS_EXPECTED}"
                )
            if name in by_basename:
                raise InvalidUpdate(
                    f"{option}: two {item['class']} objects named {name!r}; give an object "
                    "that names each output"
                )
            by_basename[name] = location
        return by_basename
    if not isinstance(outputs, dict):
        raise InvalidUpdate(f"{option}: {describe_value(outputs)}; {OUTPUTS_EXPECTED}")
    located: dict[str, Any] = cwl_locations(outputs)
    return located


def basename(cwl_object: dict[str, Any]) -> str:
    """A File's or Directory's basename: its own, else the last part of its location."""
    name = cwl_object.get("basename")
    if isinstance(name, str) and name:
        return name
    location = cwl_object.get("location") or cwl_object.get("path")
    if not isinstance(location, str):
        return ""
    return location.rstrip("/").rsplit("/", 1)[-1]


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
