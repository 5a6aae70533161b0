"""cwl/compat/publish-job-status.cwl: Unity SPS's publish step, running update-job, so that a
Unity workflow switches by changing only `run:`. Run with cwltool --no-container against the
local SNS -> SQS endpoint; also the status vocabulary of cwl/update-job.cwl."""

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
from tests.cwlrun import CwlRun, run_cwl
from tests.test_cwl import TOOL, load

ROOT = TESTS.parent
COMPAT = ROOT / "cwl" / "compat" / "publish-job-status.cwl"
UNITY_SHAPED = TESTS / "workflows" / "unity" / "unity-shaped.cwl"

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


def run(cwl: Path, job: dict[str, Any], tmp_path: Path, topic: Subscription) -> CwlRun:
    """cwltool on `cwl`, the step's SNS endpoint the local one, as a deployment would set
    AWS_ENDPOINT_URL_SNS for a VPC endpoint: Unity's interface has no input for it."""
    env = {**os.environ, "AWS_ENDPOINT_URL_SNS": topic.endpoint_url}
    return run_cwl(cwl, job, tmp_path, preserve=[*LOCAL_AWS_ENV, "AWS_ENDPOINT_URL_SNS"], env=env)


def test_the_interface_is_unitys() -> None:
    tool = load(COMPAT)
    inputs = {
        name: (spec["type"], spec.get("default"))
        for name, spec in tool["inputs"].items()
        if name in UNITY_INPUTS
    }
    assert inputs == UNITY_INPUTS
    # Anything more is optional, so a Unity workflow's steps need not give it.
    extra = {name: spec for name, spec in tool["inputs"].items() if name not in UNITY_INPUTS}
    assert all(str(spec["type"]).endswith("?") for spec in extra.values()), extra
    assert {name: spec["type"] for name, spec in tool["outputs"].items()} == UNITY_OUTPUTS
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
