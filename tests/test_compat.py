"""cwl/compat/publish-job-status.cwl and publish-job-status-latest.cwl: Unity SPS's two
publish steps, running update-job, so that a Unity workflow switches by changing only `run:`.
Run with cwltool --no-container against the local SNS -> SQS endpoint; also the status
vocabulary of cwl/update-job.cwl."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from localaws import LOCAL_AWS_ENV, Subscription
from tests.conftest import CLOSED_ENDPOINT, TESTS, LocalTopics
from tests.consumer import document_after
from tests.cwlrun import CwlRun, run_cwl, validate
from tests.test_cwl import TOOL, load

ROOT = TESTS.parent
COMPAT = ROOT / "cwl" / "compat" / "publish-job-status.cwl"
COMPAT_LATEST = ROOT / "cwl" / "compat" / "publish-job-status-latest.cwl"
UNITY_SHAPED = TESTS / "workflows" / "unity" / "unity-shaped.cwl"
SLEEP_JOB_WRAPPER = TESTS / "workflows" / "unity" / "sleep-job-wrapper.cwl"

# Unity's publish_job_status.cwl: its inputs (type, default) and outputs.
UNITY_INPUTS = {
    "job_id": ("string", None),
    "job_status": ("string", None),
    "job_inputs": ("string", "{}"),
    "job_outputs": ("string", "{}"),
    "auth_method": ("string", "iam"),
    "jobs_data_sns_topic_arn": ("string", None),
}
UNITY_OUTPUTS = {"results": "stdout", "errors": "stderr"}
# Unity's publish_job_status_latest.cwl: its inputs (type, default).
UNITY_LATEST_INPUTS = {
    "job_id": ("string", None),
    "update_status": ("string", ""),
    "update_results": ("boolean", False),
    "auth_method": ("string", "iam"),
    "jobs_data_sns_topic_arn": ("string", None),
}
# What the processing server stored on `submitted`, labels from the job request.
SUBMITTED = {
    "status": "submitted",
    "labels": ["re-processing-3", "release23.3", "08-08-23"],
    "inputs": {"granule_count": 3},
}


def run(cwl: Path, job: dict[str, Any], tmp_path: Path, topic: Subscription) -> CwlRun:
    """cwltool on `cwl`, the step's SNS endpoint the local one, as a deployment would set
    AWS_ENDPOINT_URL_SNS for a VPC endpoint: Unity's interface has no input for it."""
    env = {**os.environ, "AWS_ENDPOINT_URL_SNS": topic.endpoint_url}
    return run_cwl(cwl, job, tmp_path, preserve=[*LOCAL_AWS_ENV, "AWS_ENDPOINT_URL_SNS"], env=env)


@pytest.mark.parametrize(
    ("cwl", "unity_inputs"), [(COMPAT, UNITY_INPUTS), (COMPAT_LATEST, UNITY_LATEST_INPUTS)]
)
def test_the_interface_is_unitys(cwl: Path, unity_inputs: dict[str, Any]) -> None:
    tool = load(cwl)
    inputs = {
        name: (spec["type"], spec.get("default"))
        for name, spec in tool["inputs"].items()
        if name in unity_inputs
    }
    assert inputs == unity_inputs
    # Anything more is optional, so a Unity workflow's steps need not give it.
    extra = {name: spec for name, spec in tool["inputs"].items() if name not in unity_inputs}
    assert all(str(spec["type"]).endswith("?") for spec in extra.values()), extra
    assert {name: spec["type"] for name, spec in tool["outputs"].items()} == UNITY_OUTPUTS
    assert tool["stdout"] == "publish_job_status_stdout.txt"
    assert tool["stderr"] == "publish_job_status_stderr.txt"
    assert tool["baseCommand"] == "update-job"
    assert "auth_method" in tool["doc"]


def test_a_unity_shaped_workflow_reports_its_job_truthfully(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.fifo
    job = {
        "job_id": "unity-1",
        "job_inputs": json.dumps({"granule_count": 3}),
        "jobs_data_sns_topic_arn": topic.topic_arn,
    }
    result = run(UNITY_SHAPED, job, tmp_path, topic)
    assert result.returncode == 0, result.stderr
    messages = [delivery.message for delivery in topic.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]
    start, end = messages
    assert start["inputs"] == {"granule_count": 3}
    # The File, JSON.stringify'd by the workflow, arrives as its URL, named by basename.
    [(name, url)] = end["outputs"].items()
    assert name == "results.txt"
    assert url.startswith("file:///")
    assert url.endswith("/results.txt")
    # The document the consumer builds from what the processing server stored.
    stored = {"id": "unity-1", "status": "submitted", "labels": ["campaign-3"]}
    document = document_after(messages, stored)
    assert document is not None
    assert document["status"] == "succeeded"
    assert document["progress"] == 100
    assert document["message"] == "succeeded"
    assert document["labels"] == ["campaign-3"]
    assert document["outputs"] == {"results.txt": url}
    # The step's outputs: update-job's receipt and its log.
    outputs = json.loads(result.stdout)
    receipt = json.loads(Path(outputs["end_job_results"]["path"]).read_text())
    assert receipt["message"] == end
    # The science step ran: the URL above is where it wrote the file, which the runner has
    # since moved to the output directory.
    assert Path(outputs["results"]["path"]).read_text() == "granules made: 3\n"


@pytest.mark.parametrize(
    ("job_status", "extra_statuses", "published"),
    [
        ("Running", None, "running"),
        ("SUCCESSFUL", None, "succeeded"),
        ("Dismissed", ["dismissed"], "dismissed"),
    ],
)
def test_the_compat_tool_takes_any_case_ogc_words_and_the_deployments_own(
    testbed: LocalTopics,
    tmp_path: Path,
    job_status: str,
    extra_statuses: list[str] | None,
    published: str,
) -> None:
    topic = testbed.standard
    job: dict[str, Any] = {
        "job_id": "unity-2",
        "job_status": job_status,
        "auth_method": "keys",
        "jobs_data_sns_topic_arn": topic.topic_arn,
    }
    if extra_statuses is not None:
        job["extra_statuses"] = extra_statuses
    result = run(COMPAT, job, tmp_path, topic)
    assert result.returncode == 0, result.stderr
    assert topic.statuses() == [published]
    outputs = json.loads(result.stdout)
    errors = Path(outputs["errors"]["path"]).read_text()
    assert f"update-job: published {published} for job unity-2" in errors
    assert json.loads(Path(outputs["results"]["path"]).read_text())["message"]["status"] == (
        published
    )


def test_the_compat_tool_refuses_a_typo_and_publishes_nothing(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.standard
    job = {"job_id": "unity-3", "job_status": "sucess", "jobs_data_sns_topic_arn": topic.topic_arn}
    result = run(COMPAT, job, tmp_path, topic)
    assert result.returncode != 0
    assert "exited with status: 2" in result.stderr
    assert topic.receive() == []


def test_the_update_job_tool_takes_the_deployments_own_status(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.fifo
    job = {
        "job_id": "tool-dismissed",
        "status": "Dismissed",
        "extra_statuses": ["dismissed", "paused"],
        "topic_arn": topic.topic_arn,
        "endpoint_url": topic.endpoint_url,
    }
    assert run(TOOL, job, tmp_path, topic).returncode == 0
    assert topic.statuses() == ["dismissed"]
    (tmp_path / "again").mkdir()
    refused = run(TOOL, {**job, "extra_statuses": None}, tmp_path / "again", topic)
    assert refused.returncode != 0
    assert "unknown status 'Dismissed'" in refused.stderr
    assert topic.receive() == []


def test_the_compat_tool_with_best_effort_keeps_the_workflow_going_through_an_outage(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.standard
    down = dataclasses.replace(topic, endpoint_url=CLOSED_ENDPOINT)
    job = {
        "job_id": "unity-down",
        "job_status": "running",
        "jobs_data_sns_topic_arn": topic.topic_arn,
        "timeout": 1.0,
    }
    failed = run(COMPAT, job, tmp_path / "strict", down)
    assert failed.returncode != 0  # without best effort, the outage fails the step
    result = run(COMPAT, {**job, "best_effort": True}, tmp_path / "lenient", down)
    assert result.returncode == 0, result.stderr
    errors = Path(result.outputs["errors"]["path"]).read_text()
    assert "not delivered" in errors  # the loss is said, in the step's log
    assert topic.receive() == []


# ------------------------------------------------- publish_job_status_latest.cwl's interface


def test_a_sleep_job_wrapper_shaped_workflow_ends_with_its_job_finished(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # Unity's sleep_job_wrapper.cwl, with only its publish steps' `run:` changed.
    validated = validate(SLEEP_JOB_WRAPPER)
    assert validated.returncode == 0, validated.stderr
    topic = testbed.fifo
    job = {"job_id": "unity-sleep", "jobs_data_sns_topic_arn": topic.topic_arn, "sleep_time": 1}
    result = run(SLEEP_JOB_WRAPPER, job, tmp_path, topic)
    assert result.returncode == 0, result.stderr
    messages = [delivery.message for delivery in topic.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]
    document = document_after(messages, {"id": "unity-sleep", **SUBMITTED})
    assert document is not None
    assert document["status"] == "succeeded"
    assert document["progress"] == 100
    assert document["exit-code"] == 0
    assert document["stop-time"] == document["updated"]
    assert document["message"] == "succeeded"
    # What the processing server stored stays: the workers sent no labels, no inputs.
    assert document["labels"] == SUBMITTED["labels"]
    assert document["inputs"] == SUBMITTED["inputs"]


def test_the_latest_tool_publishes_results_as_outputs(testbed: LocalTopics, tmp_path: Path) -> None:
    topic = testbed.standard
    results = {"class": "File", "location": "s3://bucket/jobs/unity-4/products.nc"}
    job = {
        "job_id": "unity-4",
        "update_results": True,
        "job_outputs": json.dumps(results),
        "jobs_data_sns_topic_arn": topic.topic_arn,
    }
    result = run(COMPAT_LATEST, job, tmp_path, topic)
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    assert delivery.message["status"] == "succeeded"
    assert delivery.message["outputs"] == {"products.nc": results["location"]}
    receipt = json.loads(Path(result.outputs["results"]["path"]).read_text())
    assert receipt["message"] == delivery.message


def test_the_latest_tool_with_neither_status_nor_results_fails_and_publishes_nothing(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    topic = testbed.standard
    job = {"job_id": "unity-5", "jobs_data_sns_topic_arn": topic.topic_arn}
    result = run(COMPAT_LATEST, job, tmp_path, topic)
    assert result.returncode != 0
    assert "exited with status: 2" in result.stderr
    # A failed tool's outputs are still collected: its log says why.
    errors = Path(result.outputs["errors"]["path"]).read_text()
    assert "no status" in errors
    assert "give --status or --exit-code" in errors
    assert topic.receive() == []


# ------------------------------------------------------------ auth_method: keys, Unity's way

# Unity's publish_job.py reads these for `keys`.
UNITY_KEYS = {"ACCESS_KEY": "unity-id", "SECRET_KEY": "unity-secret", "SESSION_TOKEN": "t"}
# The local settings, but no AWS_* keys: no credentials unless Unity's are taken.
NO_AWS_KEYS = {
    name: value
    for name, value in LOCAL_AWS_ENV.items()
    if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
}


def run_with_only_unitys_keys(
    cwl: Path, job: dict[str, Any], tmp_path: Path, topic: Subscription
) -> CwlRun:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **NO_AWS_KEYS,
        **UNITY_KEYS,
        "AWS_ENDPOINT_URL_SNS": topic.endpoint_url,
    }
    preserve = [*NO_AWS_KEYS, *UNITY_KEYS, "AWS_ENDPOINT_URL_SNS"]
    return run_cwl(cwl, job, tmp_path, preserve=preserve, env=env)


@pytest.mark.parametrize(
    ("cwl", "status_input"),
    [(COMPAT, "job_status"), (COMPAT_LATEST, "update_status")],
    ids=["publish-job-status", "publish-job-status-latest"],
)
def test_keys_takes_unitys_variables(
    testbed: LocalTopics, tmp_path: Path, cwl: Path, status_input: str
) -> None:
    topic = testbed.standard
    job = {
        "job_id": "unity-keys",
        status_input: "running",
        "jobs_data_sns_topic_arn": topic.topic_arn,
        "timeout": 5.0,
    }
    # With `iam`, Unity's variables are not AWS's: no credentials, nothing published.
    refused = run_with_only_unitys_keys(cwl, {**job, "auth_method": "iam"}, tmp_path / "iam", topic)
    assert refused.returncode != 0
    assert "exited with status: 1" in refused.stderr
    assert topic.receive() == []
    result = run_with_only_unitys_keys(cwl, {**job, "auth_method": "keys"}, tmp_path / "k", topic)
    assert result.returncode == 0, result.stderr
    assert topic.statuses() == ["running"]
    errors = Path(result.outputs["errors"]["path"]).read_text()
    assert "published running for job unity-keys" in errors
    assert UNITY_KEYS["SECRET_KEY"] not in errors


def test_keys_with_half_of_unitys_keys_is_refused(testbed: LocalTopics, tmp_path: Path) -> None:
    topic = testbed.standard
    env = {**os.environ, **UNITY_KEYS, "AWS_ENDPOINT_URL_SNS": topic.endpoint_url}
    del env["SECRET_KEY"]
    job = {
        "job_id": "unity-half-keys",
        "job_status": "running",
        "auth_method": "keys",
        "jobs_data_sns_topic_arn": topic.topic_arn,
    }
    preserve = [*LOCAL_AWS_ENV, "ACCESS_KEY", "AWS_ENDPOINT_URL_SNS"]
    result = run_cwl(COMPAT, job, tmp_path, preserve=preserve, env=env)
    assert result.returncode != 0
    assert "exited with status: 2" in result.stderr
    errors = Path(result.outputs["errors"]["path"]).read_text()
    assert "SECRET_KEY is not set" in errors
    assert topic.receive() == []
