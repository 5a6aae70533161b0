"""What a user sees in the jobs database: the document the consumer builds by applying the
updates it receives, in order, to the one the processing server stored."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

from localaws import Subscription
from tests.conftest import CLOSED_ENDPOINT, TESTS, LocalTopics, RunCommand, topic_args
from tests.consumer import MissingDocument, document_after

Invoke = Callable[..., Result]


def stored_by_the_processing_server(job_id: str) -> dict[str, Any]:
    submitted: dict[str, Any] = json.loads((TESTS / "messages" / "submitted.json").read_text())
    return {**submitted, "id": job_id}


def send(invoke: Invoke, topic: Subscription, *args: str) -> Result:
    return invoke(*args, *topic_args(topic))


def a_workflows_updates(invoke: Invoke, topic: Subscription, job_id: str) -> None:
    """The example workflow's start and middle updates."""
    for args in (
        ("--status", "running", "--start-time", "now", "--inputs", '{"granule_count": 3}'),
        ("--status", "running", "--progress", "50", "--message", "stage 1 of 2 done"),
    ):
        assert send(invoke, topic, "--job-id", job_id, *args).exit_code == 0


def test_a_succeeded_job_shows_100_and_a_final_message(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    a_workflows_updates(invoke, testbed.fifo, "doc-success")
    result = send(
        invoke, testbed.fifo, "--job-id", "doc-success", "--exit-code", "0",
        "--outputs", '{"summary": {"class": "File", "location": "s3://b/summary.json"}}',
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "running", "succeeded"]
    document = document_after(messages, stored_by_the_processing_server("doc-success"))
    assert document is not None
    assert document["status"] == "succeeded"
    assert document["progress"] == 100
    assert document["message"] == "succeeded"
    assert document["outputs"] == {"summary": "s3://b/summary.json"}
    # What the processing server stored is still there, merged with the start update's.
    assert document["labels"] == ["re-processing-3", "release23.3", "08-08-23"]
    assert document["inputs"]["input_collection_id"] == "SNDR_SNPP_ATMS_L1A___1"
    assert document["inputs"]["granule_count"] == 3
    assert {"start-time", "stop-time"} <= set(document)


def test_a_failed_job_says_its_exit_code_and_keeps_its_progress(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    a_workflows_updates(invoke, testbed.standard, "doc-failure")
    result = send(invoke, testbed.standard, "--job-id", "doc-failure", "--exit-code", "3")
    assert result.exit_code == 3
    messages = [delivery.message for delivery in testbed.standard.receive()]
    document = document_after(messages, stored_by_the_processing_server("doc-failure"))
    assert document is not None
    assert (document["status"], document["message"]) == ("failed", "failed with exit code 3")
    assert document["progress"] == 50  # how far it got
    assert document["exit-code"] == 3


def test_a_final_update_with_its_own_message_keeps_it(testbed: LocalTopics, invoke: Invoke) -> None:
    result = send(
        invoke, testbed.standard, "--job-id", "doc-own", "--status", "succeeded",
        "--message", "12 granules published",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["message"] == "12 granules published"
    assert delivery.message["progress"] == 100


@pytest.mark.parametrize("word", ["submitted", "Accepted"])
def test_submitted_from_a_step_warns_that_it_replaces_the_document(
    testbed: LocalTopics, invoke: Invoke, word: str
) -> None:
    result = send(invoke, testbed.standard, "--job-id", "doc-replaced", "--status", word)
    assert result.exit_code == 0, result.stderr
    assert "warning: status submitted makes the jobs database replace the job's whole" in (
        result.stderr
    )
    [delivery] = testbed.standard.receive()
    assert delivery.message["status"] == "submitted"
    # What the warning is about: the stored inputs and labels are gone.
    document = document_after([delivery.message], stored_by_the_processing_server("doc-replaced"))
    assert document is not None
    assert "inputs" not in document
    assert "labels" not in document


def test_other_statuses_do_not_warn(testbed: LocalTopics, invoke: Invoke) -> None:
    result = send(invoke, testbed.standard, "--job-id", "doc-quiet", "--status", "running")
    assert "warning" not in result.stderr
    testbed.standard.receive()


def test_an_update_for_a_job_the_consumer_never_saw_fails_there() -> None:
    # What operators must know: without the processing server's `submitted`, updates fail.
    with pytest.raises(MissingDocument):
        document_after([{"id": "j", "status": "running"}])


def test_a_deployments_own_status_through_the_environment(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    env = {**os.environ, "UPDATE_JOB_EXTRA_STATUSES": "Dismissed,paused"}
    topic = testbed.fifo
    args = ["--job-id", "doc-dismissed", *topic_args(topic)]
    assert update_job(*args, "--status", "DISMISSED", env=env).returncode == 0
    refused = update_job(*args, "--status", "dismissed")  # not without the deployment's words
    assert refused.returncode == 2
    assert "unknown status 'dismissed'" in refused.stderr
    assert "--extra-statuses or UPDATE_JOB_EXTRA_STATUSES" in refused.stderr
    typo = update_job(*args, "--status", "dismised", env=env)
    assert typo.returncode == 2
    assert "use one of submitted, running, succeeded, failed, dismissed, paused" in typo.stderr
    assert topic.statuses() == ["dismissed"]
    schema = json.loads(update_job("schema", env=env).stdout)
    assert "dismissed" in schema["$defs"]["Status"]["enum"]


def test_a_start_that_was_not_delivered_still_gives_the_document_its_start_fields(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Any
) -> None:
    # The start update could not be delivered and waits in its job's outbox; the end
    # update, made once SNS is back, sends it first, then itself: the consumer gets them in
    # the order they were made, each whole (docs/publishing.md).
    topic, spool = testbed.fifo, tmp_path / "spool"
    start = update_job(
        "--job-id", "doc-late-start", "--status", "running", "--start-time", "now",
        "--inputs", '{"granule_count": 3}', "--label", "late",
        *topic_args(topic, CLOSED_ENDPOINT), "--timeout", "3", "--spool", str(spool),
    )  # fmt: skip
    assert start.returncode == 1, start.stderr
    end = update_job(
        "--job-id", "doc-late-start", "--exit-code", "0", *topic_args(topic), "--spool", str(spool)
    )
    assert end.returncode == 0, end.stderr
    messages = [delivery.message for delivery in topic.receive()]
    assert [(m["status"], m["sequence"]) for m in messages] == [("running", 1), ("succeeded", 2)]
    document = document_after(messages, stored_by_the_processing_server("doc-late-start"))
    assert document is not None
    assert document["status"] == "succeeded" and document["progress"] == 100
    assert document["inputs"]["granule_count"] == 3
    assert document["labels"] == ["late"]
    assert document["start-time"] <= document["stop-time"]
