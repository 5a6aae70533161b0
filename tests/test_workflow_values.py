"""Every value a workflow hands the CWL tools is data: no string makes update-job read a
file of the worker, no value is too large for a command line, and each shape a workflow
gives (an array of Files, Files with secondaryFiles, locations in the runner's temporary
directories) is published. Run with cwltool --no-container against the local SNS -> SQS
endpoint and read back from the subscribed queue."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from localaws import LOCAL_AWS_ENV, Subscription
from tests.conftest import TESTS, LocalTopics, run_update_job, topic_args
from tests.cwlrun import CwlRun, run_cwl
from tests.test_compat import COMPAT, COMPAT_LATEST
from tests.test_cwl import TOOL

PRODUCTS_TO_UPDATE = TESTS / "workflows" / "shapes" / "products-to-update.cwl"
# Over the 128 KiB a single command-line argument (or environment variable) may hold on
# Linux, under the 256 KiB an SNS message may.
LARGE = 200 * 1024
TEMPORARY_WARNING = re.compile(
    r"update-job: warning: output location '([^']*)' is in a temporary directory"
)


def run(cwl: Path, job: dict[str, Any], tmp_path: Path, topic: Subscription) -> CwlRun:
    """cwltool on `cwl`; the compat tools take their endpoint from the environment."""
    env = {**os.environ, "AWS_ENDPOINT_URL_SNS": topic.endpoint_url}
    return run_cwl(cwl, job, tmp_path, preserve=[*LOCAL_AWS_ENV, "AWS_ENDPOINT_URL_SNS"], env=env)


def tool_job(cwl: Path, topic: Subscription, **values: Any) -> dict[str, Any]:
    """A job for `cwl` that publishes to `topic`: running, plus `values`."""
    if cwl == TOOL:
        base = {"status": "running", "topic_arn": topic.topic_arn}
    elif cwl == COMPAT:
        base = {"job_status": "running", "jobs_data_sns_topic_arn": topic.topic_arn}
    else:
        base = {"update_status": "running", "jobs_data_sns_topic_arn": topic.topic_arn}
    return {"job_id": "values-1", **base, **values}


# ------------------------------------------------------- a string never names a file


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file of the worker that holds a JSON object, as a registry's credentials do."""
    path = tmp_path / "docker-config.json"
    path.write_text(json.dumps({"auths": {"registry.example": {"auth": "c2VjcmV0LXRva2Vu"}}}))
    return path


@pytest.mark.parametrize(
    ("cwl", "field"),
    [
        (TOOL, "inputs"),
        (TOOL, "outputs"),
        (COMPAT, "job_inputs"),
        (COMPAT, "job_outputs"),
        (COMPAT_LATEST, "job_outputs"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_a_string_naming_a_file_is_refused_and_the_file_is_not_read(
    testbed: LocalTopics, tmp_path: Path, secret: Path, cwl: Path, field: str
) -> None:
    topic = testbed.standard
    job = tool_job(cwl, topic, **{field: f"@{secret}"})
    result = run(cwl, job, tmp_path / "run", topic)
    # Not JSON: refused as bad input, nothing published.
    assert result.returncode != 0
    assert "exited with status: 2" in result.stderr
    assert topic.receive() == []
    log = result.stderr
    if cwl != TOOL:
        log += Path(result.outputs["errors"]["path"]).read_text()
    assert "not valid JSON" in log
    assert "c2VjcmV0LXRva2Vu" not in log


def test_a_message_naming_a_file_is_published_as_it_is(
    testbed: LocalTopics, tmp_path: Path, secret: Path
) -> None:
    topic = testbed.standard
    result = run(TOOL, tool_job(TOOL, topic, message=f"@{secret}"), tmp_path, topic)
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    assert delivery.message["message"] == f"@{secret}"


# ---------------------------------------------- large values: never on the command line


def large_text() -> str:
    # Not ASCII only: the size counts in bytes.
    return ("granule é " * (LARGE // 11 + 1))[: LARGE // 2] + "x" * (LARGE // 2)


@pytest.mark.parametrize(
    ("cwl", "field"),
    [
        (TOOL, "message"),
        (TOOL, "inputs"),
        (TOOL, "outputs"),
        (COMPAT, "job_inputs"),
        (COMPAT, "job_outputs"),
        (COMPAT_LATEST, "job_outputs"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_a_value_over_128_kib_is_published(
    testbed: LocalTopics, tmp_path: Path, cwl: Path, field: str
) -> None:
    topic = testbed.standard
    text = large_text()
    assert len(text.encode()) > 128 * 1024
    value: Any = text if field == "message" else json.dumps({"notes": text})
    result = run(cwl, tool_job(cwl, topic, **{field: value}), tmp_path, topic)
    assert result.returncode == 0, result.stderr[-2000:]
    [delivery] = topic.receive()
    published_field = {"message": "message", "inputs": "inputs", "job_inputs": "inputs"}.get(
        field, "outputs"
    )
    published = delivery.message[published_field]
    assert published == (text if field == "message" else {"notes": text})


# -------------------------------------------------- each shape of outputs, through CWL


def test_a_file_array_with_secondary_files_from_an_intermediate_step_is_published(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # The runner keeps an intermediate step's outputs under its temporary directories
    # (here below the test's own, which is under the system's temporary directory).
    assert tmp_path.is_relative_to("/tmp")
    topic = testbed.fifo
    job = {"job_id": "values-2", "topic_arn": topic.topic_arn, "endpoint_url": topic.endpoint_url}
    result = run_cwl(PRODUCTS_TO_UPDATE, job, tmp_path)
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    assert delivery.message["status"] == "succeeded"
    outputs = delivery.message["outputs"]
    # Each File by basename: its own URL first, then its secondary file's.
    assert set(outputs) == {"a.nc", "b.nc"}
    for name, urls in outputs.items():
        assert isinstance(urls, list)
        assert len(urls) == 2
        assert urls[0].startswith("file:///")
        assert urls[0].endswith(f"/{name}")
        assert urls[1] == urls[0] + ".idx"
    # Each of those locations is temporary: the step's log says so, once for each.
    warned = TEMPORARY_WARNING.findall(result.stderr)
    assert sorted(warned) == sorted(url for urls in outputs.values() for url in urls)
    assert "docs/cwl.md" in result.stderr


def test_an_output_object_with_secondary_files_at_lasting_locations(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.standard
    outputs = {
        "product": {
            "class": "File",
            "location": "s3://bucket/jobs/values-3/product.bam",
            "secondaryFiles": [
                {"class": "File", "location": "s3://bucket/jobs/values-3/product.bam.bai"},
                {"class": "Directory", "location": "s3://bucket/jobs/values-3/product.stats"},
            ],
        },
        "count": 2,
    }
    # As a workflow's valueFrom gives them: File objects interpolated into JSON text (as
    # objects in a job file, the runner would try to fetch s3:// itself).
    job = tool_job(TOOL, topic, exit_code=0, outputs=json.dumps(outputs), status=None)
    result = run(TOOL, job, tmp_path, topic)
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    assert delivery.message["outputs"] == {
        "product": [
            "s3://bucket/jobs/values-3/product.bam",
            "s3://bucket/jobs/values-3/product.bam.bai",
            "s3://bucket/jobs/values-3/product.stats",
        ],
        "count": 2,
    }
    # Lasting locations: no warning.
    assert TEMPORARY_WARNING.findall(result.stderr) == []


# --------------------------------------------- the options the CWL tools pass values by


def test_message_file_is_read_as_it_is(testbed: LocalTopics, tmp_path: Path) -> None:
    text = large_text() + "\n@/etc/passwd\n"
    path = tmp_path / "message.txt"
    path.write_text(text, encoding="utf-8")
    result = run_update_job(
        "--job-id", "values-4", "--status", "running", "--message-file", str(path),
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["message"] == text


@pytest.mark.parametrize(
    ("content", "extra", "error"),
    [
        (b"\xff\xfe", (), "--message-file: {path} is not UTF-8 text"),
        (b"x", ("--message", "y"), "give --message or --message-file, not both"),
    ],
    ids=["not-utf-8", "both"],
)
def test_a_bad_message_file_is_refused(
    testbed: LocalTopics, tmp_path: Path, content: bytes, extra: tuple[str, ...], error: str
) -> None:
    path = tmp_path / "message.txt"
    path.write_bytes(content)
    result = run_update_job(
        "--job-id", "values-5", "--status", "running", "--message-file", str(path), *extra,
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.returncode == 2
    assert error.format(path=path) in result.stderr
    assert testbed.standard.receive() == []


def test_an_empty_status_is_none(testbed: LocalTopics) -> None:
    # A workflow's default "": the exit code sets the status, and without one it is refused.
    refused = run_update_job("--job-id", "values-6", "--status", "", *topic_args(testbed.fifo))
    assert refused.returncode == 2
    assert "give --status or --exit-code" in refused.stderr
    result = run_update_job(
        "--job-id", "values-6", "--status", "", "--exit-code=0", *topic_args(testbed.fifo)
    )
    assert result.returncode == 0, result.stderr
    assert testbed.fifo.statuses() == ["succeeded"]
