"""--outputs takes what CWL gives: a CWL output object, a File or Directory object (as such,
or as the JSON string a workflow makes of it), or an array of them; --inputs stays as given."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

from tests.conftest import LocalTopics, topic_args

Invoke = Callable[..., Result]

REPORT = {
    "class": "File",
    "location": "file:///data/out/report.txt",
    "path": "/data/out/report.txt",
    "basename": "report.txt",
    "size": 12,
}
STAGE = {"class": "Directory", "location": "s3://bucket/run-42/stage"}
# A product with its index beside it.
INDEXED = {
    "class": "File",
    "location": "s3://bucket/g1.bam",
    "secondaryFiles": [
        {
            "class": "File",
            "location": "s3://bucket/g1.bam.bai",
            "secondaryFiles": [{"class": "File", "location": "s3://bucket/g1.bam.bai.md5"}],
        }
    ],
}
INDEXED_URLS = ["s3://bucket/g1.bam", "s3://bucket/g1.bam.bai", "s3://bucket/g1.bam.bai.md5"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (REPORT, {"report.txt": "file:///data/out/report.txt"}),
        (STAGE, {"stage": "s3://bucket/run-42/stage"}),
        (json.dumps(REPORT), {"report.txt": "file:///data/out/report.txt"}),
        (
            [REPORT, {"class": "File", "location": "s3://bucket/g1.nc"}],
            {"report.txt": "file:///data/out/report.txt", "g1.nc": "s3://bucket/g1.nc"},
        ),
        ({"report": REPORT, "count": 2}, {"report": "file:///data/out/report.txt", "count": 2}),
        ([], {}),
        (
            {"products": [INDEXED], "index": INDEXED},
            {"products": [INDEXED_URLS], "index": INDEXED_URLS},
        ),
        ([INDEXED], {"g1.bam": INDEXED_URLS}),
        (
            {"class": "File", "location": "_:literal", "contents": json.dumps({"report": REPORT})},
            {"report": "file:///data/out/report.txt"},
        ),
    ],
    ids=[
        "file",
        "directory",
        "json-string",
        "array",
        "output-object",
        "empty-array",
        "secondary-files",
        "secondary-files-by-basename",
        "file-with-contents",
    ],
)
def test_outputs_arrive_as_urls(
    testbed: LocalTopics, invoke: Invoke, given: Any, expected: dict[str, Any]
) -> None:
    result = invoke(
        "--job-id", "outputs-1", "--exit-code", "0", "--outputs", json.dumps(given),
        *topic_args(testbed.fifo),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [delivery] = testbed.fifo.receive()
    assert delivery.message["outputs"] == expected


def test_inputs_stay_as_given(testbed: LocalTopics, invoke: Invoke) -> None:
    # As the jobs database's own example keeps them: a Directory stays an object.
    inputs = {"static_dir": {"class": "Directory", "path": "/tmp/STATIC"}, "count": 2}
    result = invoke(
        "--job-id", "inputs-1", "--status", "running", "--inputs", json.dumps(inputs),
        "--outputs", json.dumps({"static_dir": inputs["static_dir"]}),
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["inputs"] == inputs
    assert delivery.message["outputs"] == {"static_dir": "/tmp/STATIC"}


@pytest.mark.parametrize(
    ("option", "given", "error"),
    [
        ("--outputs", '"text"', "--outputs: a string; expected a JSON object, a CWL File"),
        ("--outputs", "null", "--outputs: null; expected"),
        ("--outputs", "[1, 2]", "--outputs: an array holding a number; expected"),
        (
            "--outputs",
            json.dumps([REPORT, {"a": 1}]),
            "--outputs: an array holding a CWL File object and a JSON object; expected",
        ),
        (
            "--outputs",
            '[{"class": "File", "basename": "x"}]',
            "--outputs: a CWL File object with no location or path; expected",
        ),
        (
            "--outputs",
            '{"class": "File", "contents": "x"}',
            "--outputs: a File's contents; expected a JSON object, a CWL File",
        ),
        (
            "--outputs",
            json.dumps({"class": "File", "contents": "@/etc/passwd"}),
            "--outputs: a File's contents; expected",
        ),
        (
            "--outputs",
            json.dumps([REPORT, REPORT]),
            "--outputs: two File objects named 'report.txt'",
        ),
        (
            "--inputs",
            json.dumps(REPORT),
            "--inputs: a CWL File object; expected a JSON object of the job's inputs",
        ),
    ],
)
def test_what_is_refused_is_named_as_given(
    testbed: LocalTopics, invoke: Invoke, option: str, given: str, error: str
) -> None:
    result = invoke(
        "--job-id", "outputs-bad", "--exit-code", "0", option, given,
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"update-job: error: {error}"), line
    assert "dictionary" not in line
    assert testbed.standard.receive() == []


@pytest.mark.parametrize("depth", [101, 900])
@pytest.mark.parametrize("option", ["--inputs", "--outputs"])
def test_deep_nesting_is_one_line_not_a_traceback(invoke: Invoke, option: str, depth: int) -> None:
    # Deep enough to exhaust the stack of code that walks it, shallow enough for json.
    nested = '{"a": ' * depth + "1" + "}" * depth
    result = invoke("--job-id", "deep", "--exit-code", "0", option, nested, "--dry-run")
    assert result.exit_code == 2
    assert result.stderr == f"update-job: error: {option}: nested deeper than 100 levels\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_nesting_up_to_the_limit_is_kept(invoke: Invoke) -> None:
    nested = '{"a": ' * 99 + "[1]" + "}" * 99
    result = invoke("--job-id", "deep", "--status", "running", "--inputs", nested, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["message"]["inputs"] == json.loads(nested)


@pytest.mark.parametrize(
    "location",
    ["file:///tmp/run-1/out/g1.nc", "/var/tmp/run-1/g1.nc", "file://localhost/tmp/a%20b.nc"],
)
def test_a_temporary_location_is_published_with_a_warning(
    testbed: LocalTopics, invoke: Invoke, location: str
) -> None:
    outputs = {"granule": {"class": "File", "location": location}, "lasting": STAGE}
    result = invoke(
        "--job-id", "outputs-tmp", "--exit-code", "0", "--outputs", json.dumps(outputs),
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["outputs"] == {"granule": location, "lasting": STAGE["location"]}
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith(f"update-job: warning: output location {location!r} is in a ")
    assert "temporary directory" in warning


@pytest.mark.parametrize(
    "location", ["file:///tmpfiles/g1.nc", "s3://bucket/tmp/g1.nc", "file://host/tmp/g1.nc"]
)
def test_a_lasting_location_gives_no_warning(invoke: Invoke, location: str) -> None:
    outputs = json.dumps({"granule": {"class": "File", "location": location}})
    result = invoke("--job-id", "o", "--exit-code", "0", "--outputs", outputs, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
