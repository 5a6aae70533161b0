"""Reading the JSON values that options take: inline, from a file (`@path`) or stdin (`@-`)."""

from __future__ import annotations

import json
import math
import os
import select
import stat
import sys
import tempfile
from typing import Any
from urllib.parse import unquote, urlsplit

from update_job import interrupts
from update_job.errors import InputInterrupted, InvalidUpdate

JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
}
# The most a JSON value given as @FILE or @- may hold. An update carries at most 256 KiB
# (SNS's limit), but a CWL output object shrinks (each File's listing, checksum and size go),
# so a file may be larger than the message it becomes, though never by this much.
MAX_JSON_BYTES = 4 * 1024 * 1024
# How deep a JSON value may nest: far more than any real inputs or outputs, well below what
# the serializer (255) and Python's recursion limit allow.
MAX_JSON_DEPTH = 100
# How often a wait for stdin looks for a terminating signal that came meanwhile.
STDIN_POLL_SECONDS = 0.1


def reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the consumer could not read them back.
    raise ValueError(f"{name} is not valid JSON")


def finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is too large")
    return number


def read_bounded(path: str, option: str) -> bytes:
    """The bytes of `path` (`-`: stdin), at most MAX_JSON_BYTES: a FIFO, a device or a
    directory is refused at once, without reading (a FIFO with no writer would block)."""
    if path == "-":
        data = read_stdin(option)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            raise InvalidUpdate(f"{option}: cannot read {path}: {error.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = "Is a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                raise InvalidUpdate(f"{option}: cannot read {path}: {kind}")
            if info.st_size > MAX_JSON_BYTES:
                raise too_large(option, path)
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read(MAX_JSON_BYTES + 1)
        except OSError as error:
            raise InvalidUpdate(f"{option}: cannot read {path}: {error.strerror}") from None
        finally:
            os.close(fd)
    if len(data) > MAX_JSON_BYTES:
        raise too_large(option, path)
    return data


def read_stdin(option: str) -> bytes:
    """All of stdin, at most MAX_JSON_BYTES + 1 bytes. It may come late (a workflow runner
    piping its output object once it is done) so there is no time limit, but a terminating
    signal ends the wait: the read goes in slices between which pending signals are seen."""
    if sys.stdin is None:
        raise InvalidUpdate(f"{option}: cannot read stdin: it is closed")
    fd = sys.stdin.fileno()
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_JSON_BYTES:
        signum = interrupts.pending()
        if signum is not None:
            raise InputInterrupted("stdin", interrupts.signal_name(signum), signum)
        try:
            ready, _, _ = select.select([fd], [], [], STDIN_POLL_SECONDS)
            if not ready:
                continue
            chunk = os.read(fd, min(65_536, MAX_JSON_BYTES + 1 - size))
        except OSError as error:
            raise InvalidUpdate(f"{option}: cannot read stdin: {error.strerror}") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    signum = interrupts.pending()
    if signum is not None:  # it came with the end of input (a writer killed with us)
        raise InputInterrupted("stdin", interrupts.signal_name(signum), signum)
    return b"".join(chunks)


def too_large(option: str, path: str) -> InvalidUpdate:
    where = "stdin" if path == "-" else path
    return InvalidUpdate(
        f"{option}: {where} is over {MAX_JSON_BYTES // (1024 * 1024)} MiB "
        "(an update carries at most 256 KiB)"
    )


def check_json_value(value: Any, option: str) -> None:
    """Refuse what the message could not carry: nesting deeper than MAX_JSON_DEPTH, text
    that is not Unicode (a JSON escape of half a surrogate pair, `\\ud800`)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidUpdate(f"{option}: nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidUpdate(f"{option}: text that is not valid Unicode") from None


def load_text(path: str, option: str) -> str:
    """The UTF-8 text of `path` (`-`: stdin), at most MAX_JSON_BYTES, read as it is."""
    data = read_bounded(path, option)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        where = "stdin" if path == "-" else path
        raise InvalidUpdate(
            f"{option}: {where} is not UTF-8 text (byte {data[error.start]:#04x} at "
            f"offset {error.start})"
        ) from None


def load_json(value: str, option: str) -> Any:
    """The JSON value an option names; InvalidUpdate, in one line, if there is none or the
    message could not carry it."""
    text = value
    if value.startswith("@"):
        text = load_text(value[1:], option)
    elif len(value) > MAX_JSON_BYTES:
        raise InvalidUpdate(f"{option}: over {MAX_JSON_BYTES // (1024 * 1024)} MiB")
    try:
        parsed = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except json.JSONDecodeError as error:
        raise InvalidUpdate(
            f"{option}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:
        raise InvalidUpdate(f"{option}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:
        raise InvalidUpdate(f"{option}: {error}") from None
    check_json_value(parsed, option)
    return parsed


def load_json_object(value: str, option: str) -> dict[str, Any]:
    """The JSON object an option names; InvalidUpdate, in one line, for anything else."""
    parsed = load_json(value, option)
    if not isinstance(parsed, dict):
        kind = JSON_TYPES.get(type(parsed), "null")
        raise InvalidUpdate(f"{option} must be a JSON object, not {kind}")
    return parsed


CWL_CLASSES = ("File", "Directory")
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


def job_inputs(value: str, option: str) -> dict[str, Any]:
    """The job's inputs, kept as given (a Directory stays an object, as the job request
    carried it): a JSON object of them by name."""
    inputs = load_json_object(value, option)
    if is_cwl_object(inputs):
        raise InvalidUpdate(
            f"{option}: {describe_value(inputs)}; expected a JSON object of the job's "
            "inputs by name"
        )
    return inputs


def job_outputs(
    value: str,
    option: str,
    internal: list[str] | None = None,
    temporary: list[str] | None = None,
) -> dict[str, Any]:
    """The job's outputs, each File and Directory as its location URL: from an object of
    them by name (a CWL output object), or from a single File or Directory object or an
    array of them (what a workflow hands on after JSON.stringify), named by basename. A
    JSON string holding any of these is read too, and so is a File object that carries its
    `contents` (a CWL file literal, or a File the CWL tool loaded): they are the outputs.
    Runner-internal and temporary locations go into `internal` and `temporary` (see
    cwl_locations)."""
    outputs = load_json(value, option)
    if isinstance(outputs, str):
        outputs = parse_json_text(outputs, option, "a string")
    if is_file_with_contents(outputs):
        outputs = parse_json_text(outputs["contents"], option, "a File's contents")
    if is_cwl_object(outputs):
        outputs = [outputs]
    if isinstance(outputs, list):
        if not all(map(is_cwl_object, outputs)):
            raise InvalidUpdate(f"{option}: {describe_value(outputs)}; {OUTPUTS_EXPECTED}")
        by_basename: dict[str, Any] = {}
        for item in outputs:
            name = basename(item)
            if not isinstance(item.get("location") or item.get("path"), str) or not name:
                raise InvalidUpdate(
                    f"{option}: {describe_value(item)} with no location or path; {OUTPUTS_EXPECTED}"
                )
            if name in by_basename:
                raise InvalidUpdate(
                    f"{option}: two {item['class']} objects named {name!r}; give an object "
                    "that names each output"
                )
            by_basename[name] = cwl_locations(item, internal, temporary)
        return by_basename
    if not isinstance(outputs, dict):
        raise InvalidUpdate(f"{option}: {describe_value(outputs)}; {OUTPUTS_EXPECTED}")
    located: dict[str, Any] = cwl_locations(outputs, internal, temporary)
    return located


def parse_json_text(text: str, option: str, what: str) -> Any:
    """The JSON value a string in the outputs holds (it names no file: text is data)."""
    try:
        parsed = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except (ValueError, RecursionError):
        raise InvalidUpdate(f"{option}: {what}; {OUTPUTS_EXPECTED}") from None
    check_json_value(parsed, option)
    return parsed


def is_file_with_contents(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("class") == "File"
        and isinstance(value.get("contents"), str)
    )


def basename(cwl_object: dict[str, Any]) -> str:
    """A File's or Directory's basename: its own, else the last part of its location."""
    name = cwl_object.get("basename")
    if isinstance(name, str) and name:
        return name
    location = cwl_object.get("location") or cwl_object.get("path")
    if not isinstance(location, str):
        return ""
    return location.rstrip("/").rsplit("/", 1)[-1]


# Where a runner keeps a file while the workflow runs (Toil's file store, CWL's anonymous
# ids): nothing a user of the jobs database could open once the run is over.
RUNNER_INTERNAL_SCHEMES = ("toilfile:", "toildir:", "_:")
# Where runners keep their working and intermediate directories, deleted after the run.
TEMPORARY_DIRECTORIES = ("/tmp", "/var/tmp")  # noqa: S108 - only compared with, never used


def cwl_locations(
    value: Any, internal: list[str] | None = None, temporary: list[str] | None = None
) -> Any:
    """A CWL output object with each File and Directory replaced by its location URL; a
    File with secondaryFiles by an array: its URL first, then theirs. A runner-internal
    location is no URL: it becomes null, and goes into `internal` for the caller to warn
    about; a location in a temporary directory is kept, and goes into `temporary`."""
    if isinstance(value, dict):
        if value.get("class") in CWL_CLASSES:
            location = value.get("location") or value.get("path")
            if isinstance(location, str):
                url = published_location(location, internal, temporary)
                secondary = value.get("secondaryFiles")
                if not isinstance(secondary, list) or not secondary:
                    return url
                urls = [url]
                for item in secondary:
                    located = cwl_locations(item, internal, temporary)
                    urls.extend(located if isinstance(located, list) else [located])
                return urls
        return {key: cwl_locations(item, internal, temporary) for key, item in value.items()}
    if isinstance(value, list):
        return [cwl_locations(item, internal, temporary) for item in value]
    return value


def published_location(
    location: str, internal: list[str] | None, temporary: list[str] | None
) -> str | None:
    """The URL published for a File's or Directory's location (null for a runner-internal
    one), noting the locations the caller warns about."""
    if location.startswith(RUNNER_INTERNAL_SCHEMES):
        if internal is not None:
            internal.append(location)
        return None
    if temporary is not None and is_temporary(location):
        temporary.append(location)
    return location


def is_temporary(location: str) -> bool:
    """Whether a location (a file: URL or a path) is on this machine under a temporary
    directory (/tmp, /var/tmp, the step's TMPDIR), where a runner keeps what it deletes
    after the run."""
    if location.startswith("/"):
        path = location
    else:
        parts = urlsplit(location)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        path = unquote(parts.path)
    path = os.path.normpath(path)
    directories = {*TEMPORARY_DIRECTORIES, os.path.normpath(tempfile.gettempdir())}
    return any(path.startswith(directory.rstrip("/") + "/") for directory in directories)
