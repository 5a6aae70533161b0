"""update-job publishing to a real local SNS endpoint, read back from the subscribed SQS queue."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result

from localaws import Subscription, client, subscribe_queue
from tests.conftest import CLOSED_ENDPOINT, LocalTopics, RunCommand, topic_args

Invoke = Callable[..., Result]


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def test_every_option_arrives_on_the_fifo_topic(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"static_dir": {"class": "Directory", "path": "/tmp/static"}}))
    before = datetime.now(UTC)
    result = update_job(
        "--job-id", "job-1",
        "--status", "running",
        "--label", "campaign-3",
        "--label", "test",
        "--inputs", f"@{inputs}",
        "--outputs", '{"granules": 3}',
        "--message", "stage 1 of 2 done",
        "--progress", "50",
        "--user-id", "scientist",
        "--start-time", "2016-01-14T08:00:00+02:00",
        *topic_args(testbed.fifo),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.fifo.receive()
    message = delivery.message
    updated = message.pop("updated")
    assert before <= parse_time(updated) <= datetime.now(UTC)
    assert message == {
        "id": "job-1",
        "status": "running",
        "inputs": {"static_dir": {"class": "Directory", "path": "/tmp/static"}},
        "outputs": {"granules": 3},
        "labels": ["campaign-3", "test"],
        "user-id": "scientist",
        "start-time": "2016-01-14T06:00:00.000Z",
        "message": "stage 1 of 2 done",
        "progress": 50,
    }
    # stdout is the SNS message id; the log line goes to stderr.
    assert result.stdout.strip() == delivery.envelope["MessageId"]
    assert "published running for job job-1" in result.stderr
    assert delivery.attributes["MessageGroupId"] == "job-1"
    body = delivery.envelope["Message"]
    assert (
        delivery.attributes["MessageDeduplicationId"] == hashlib.sha256(body.encode()).hexdigest()
    )
    assert delivery.envelope["MessageAttributes"] == {
        "job_id": {"Type": "String", "Value": "job-1"},
        "status": {"Type": "String", "Value": "running"},
    }


def test_standard_topic_gets_the_message_without_fifo_ids(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    result = invoke(
        "--job-id", "job-2", "--status", "submitted",
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [delivery] = testbed.standard.receive()
    assert delivery.envelope["Type"] == "Notification"
    assert delivery.envelope["TopicArn"] == testbed.standard.topic_arn
    assert set(delivery.message) == {"id", "status", "updated"}
    assert "MessageGroupId" not in delivery.attributes
    assert "MessageDeduplicationId" not in delivery.attributes


@pytest.mark.parametrize(
    ("given", "published"),
    [
        ("running", "running"),
        ("RUNNING", "running"),
        ("Succeeded", "succeeded"),
        ("FAILED", "failed"),
        ("submitted", "submitted"),
        ("accepted", "submitted"),
        ("Successful", "succeeded"),
    ],
)
def test_status_is_normalised(
    testbed: LocalTopics, invoke: Invoke, given: str, published: str
) -> None:
    result = invoke(
        "--job-id", "job-3", "--status", given,
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [delivery] = testbed.standard.receive()
    assert delivery.message["status"] == published
    assert delivery.envelope["MessageAttributes"]["status"]["Value"] == published


def test_final_status_sets_stop_time_and_running_does_not(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    for status in ("running", "succeeded"):
        result = invoke(
            "--job-id", "job-4", "--status", status, "--start-time", "now",
            *topic_args(testbed.fifo),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    running, succeeded = (delivery.message for delivery in testbed.fifo.receive())
    assert "stop-time" not in running
    assert succeeded["stop-time"] == succeeded["updated"]
    assert abs(parse_time(running["start-time"]) - parse_time(running["updated"])) < timedelta(
        seconds=1
    )


def test_updates_arrive_in_order_and_identical_ones_are_both_delivered(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    # The real topic deduplicates identical bodies; update-job's own deduplication ids
    # must keep two identical updates (same job, same status) distinct.
    args = ["--job-id", "job-5", *topic_args(testbed.fifo)]
    for status in ("running", "running", "running", "failed"):
        assert update_job(*args, "--status", status).returncode == 0
    deliveries = testbed.fifo.receive()
    assert [delivery.message["status"] for delivery in deliveries] == [
        "running", "running", "running", "failed",
    ]  # fmt: skip
    dedup_ids = {delivery.attributes["MessageDeduplicationId"] for delivery in deliveries}
    assert len(dedup_ids) == 4
    updated = [parse_time(delivery.message["updated"]) for delivery in deliveries]
    assert updated == sorted(updated)


def test_fifo_topic_without_content_deduplication_takes_the_explicit_ids(
    moto_endpoint: str, strict_fifo: Subscription, invoke: Invoke
) -> None:
    # This topic refuses any publish that lacks a deduplication id...
    sns = client("sns", moto_endpoint)
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=strict_fifo.topic_arn, Message="{}", MessageGroupId="g")
    # ...and takes update-job's.
    for _ in range(2):
        result = invoke(
            "--job-id", "job-6", "--status", "running",
            *topic_args(strict_fifo),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    deliveries = strict_fifo.receive()
    assert len(deliveries) == 2
    for delivery in deliveries:
        body = delivery.envelope["Message"].encode()
        assert delivery.attributes["MessageDeduplicationId"] == hashlib.sha256(body).hexdigest()


def test_region_comes_from_the_topic_arn(moto_endpoint: str, update_job: RunCommand) -> None:
    elsewhere = subscribe_queue(moto_endpoint, fifo=False, region="eu-west-1")
    assert ":eu-west-1:" in elsewhere.topic_arn
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    result = update_job(
        "--job-id", "job-7", "--status", "running",
        *topic_args(elsewhere), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert elsewhere.statuses() == ["running"]


def test_endpoint_and_topic_come_from_the_environment(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_SNS": testbed.endpoint_url,
        "UPDATE_JOB_TOPIC_ARN": testbed.standard.topic_arn,
    }
    result = update_job("--job-id", "job-8", "--status", "running", env=env)
    assert result.returncode == 0, result.stderr
    assert testbed.standard.statuses() == ["running"]


@pytest.mark.parametrize(
    ("exit_code", "status", "process_exit"),
    [("0", "succeeded", 0), ("3", "failed", 3), ("300", "failed", 1), ("-15", "failed", 1)],
)
def test_exit_code_sets_the_status_and_the_exit_status(
    testbed: LocalTopics, update_job: RunCommand, exit_code: str, status: str, process_exit: int
) -> None:
    result = update_job(
        "--job-id", "job-9", "--exit-code", exit_code,
        *topic_args(testbed.fifo),
    )  # fmt: skip
    assert result.returncode == process_exit, result.stderr
    [delivery] = testbed.fifo.receive()
    assert delivery.message["status"] == status
    assert delivery.message["exit-code"] == int(exit_code)
    assert "stop-time" in delivery.message


def test_explicit_status_wins_over_the_exit_code(testbed: LocalTopics, invoke: Invoke) -> None:
    result = invoke(
        "--job-id", "job-10", "--status", "running", "--exit-code", "4",
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert result.exit_code == 4
    [delivery] = testbed.standard.receive()
    assert (delivery.message["status"], delivery.message["exit-code"]) == ("running", 4)


def test_cwl_output_object_becomes_urls(testbed: LocalTopics, update_job: RunCommand) -> None:
    cwl_output = (Path(__file__).parent / "data" / "cwl.output.json").read_text()
    result = update_job(
        "--job-id", "job-11", "--exit-code", "0", "--outputs", "@-",
        *topic_args(testbed.standard),
        input=cwl_output,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["outputs"] == {
        "report": "file:///data/out/report.txt",
        "granules": ["file:///data/out/g1.nc", "file:///data/out/g2.nc"],
        "stage_dir": "s3://bucket/run-42/stage",
        "count": 2,
        "summary": {"ok": True, "log": "file:///data/out/log.txt"},
    }


def test_json_receipt_names_the_delivered_message(testbed: LocalTopics, invoke: Invoke) -> None:
    result = invoke(
        "--job-id", "job-12", "--status", "running", "--json",
        *topic_args(testbed.fifo),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.stdout)
    [delivery] = testbed.fifo.receive()
    assert receipt["message_id"] == delivery.envelope["MessageId"]
    assert receipt["dry_run"] is False
    assert receipt["message"] == delivery.message
    assert (
        receipt["publish"]["MessageDeduplicationId"]
        == delivery.attributes["MessageDeduplicationId"]
    )


def test_dry_run_needs_no_credentials_and_sends_nothing(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    bare = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    bare.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    bare.update(AWS_EC2_METADATA_DISABLED="true")
    result = update_job(
        "--job-id", "job-13", "--status", "succeeded", "--label", "x", "--dry-run",
        *topic_args(testbed.fifo), env=bare,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    receipt = json.loads(result.stdout)
    assert receipt["dry_run"] is True
    assert receipt["message_id"] is None
    assert receipt["message"]["labels"] == ["x"]
    params = receipt["publish"]
    assert params["TopicArn"] == testbed.fifo.topic_arn
    assert json.loads(params["Message"]) == receipt["message"]
    assert params["MessageGroupId"] == "job-13"
    assert testbed.fifo.receive() == []


def test_dry_run_without_a_topic_shows_the_message(invoke: Invoke) -> None:
    result = invoke("--job-id", "job-14", "--status", "running", "--dry-run")
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["publish"]
    assert "TopicArn" not in params
    assert "MessageGroupId" not in params
    assert json.loads(params["Message"])["id"] == "job-14"


def test_no_credentials_is_a_delivery_failure(testbed: LocalTopics, update_job: RunCommand) -> None:
    bare = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    bare.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    bare.update(AWS_EC2_METADATA_DISABLED="true")
    result = update_job(
        "--job-id", "job-15", "--status", "running",
        *topic_args(testbed.standard),
        env=bare,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "update-job: error: no AWS credentials found: use an instance role, AWS_PROFILE "
        "or AWS_ACCESS_KEY_ID"
    ]
    assert testbed.standard.receive() == []


def test_missing_topic_is_a_delivery_failure(moto_endpoint: str, update_job: RunCommand) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    result = update_job(
        "--job-id", "job-16", "--status", "running",
        *topic_args(arn, moto_endpoint),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"update-job: error: topic {arn} does not exist in region us-east-1 "
        f"(SNS at {moto_endpoint})"
    ]
    assert result.stdout == ""


def test_a_topic_in_another_region_says_where_it_was_looked_for(
    moto_endpoint: str, strict_fifo: Subscription, update_job: RunCommand
) -> None:
    arn = strict_fifo.topic_arn.replace(":us-east-1:", ":us-west-2:")
    result = update_job(
        "--job-id", "job-16", "--status", "running", *topic_args(arn, moto_endpoint)
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"update-job: error: topic {arn} does not exist in region us-west-2 "
        f"(SNS at {moto_endpoint})"
    ]


def test_a_region_typo_says_what_the_endpoint_answered_and_that_the_region_is_unknown(
    moto_endpoint: str, strict_fifo: Subscription, update_job: RunCommand
) -> None:
    """A region no endpoint serves: the local endpoint answers an HTML error page (AWS
    would not resolve the host); the line says what the page says, and that botocore does
    not know the region, rather than quoting markup."""
    arn = strict_fifo.topic_arn.replace(":us-east-1:", ":us-est-1:")
    result = update_job(
        "--job-id", "job-16", "--status", "running", *topic_args(arn, moto_endpoint),
        "--timeout", "10",
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"update-job: error: unreadable reply from SNS at {moto_endpoint} ")
    assert "the page says '" in line and "doctype" not in line.lower()
    assert line.endswith(
        "; region us-est-1, from the topic ARN, is not one botocore knows: a typo?"
    ), line
    assert strict_fifo.receive() == []


def test_endpoint_down_fails_within_the_timeout(update_job: RunCommand) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:jobs"
    started = time.monotonic()
    result = update_job(
        "--job-id", "job-17", "--status", "running",
        *topic_args(arn, CLOSED_ENDPOINT), "--timeout", "1",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("update-job: error: ")
    assert CLOSED_ENDPOINT in line
    assert elapsed < 1 + 5  # the deadline, plus the interpreter's start and exit


def test_schema_describes_the_message(invoke: Invoke) -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert set(schema["required"]) == {"id", "status", "updated"}
    assert schema["$defs"]["Status"]["enum"] == [
        "submitted", "running", "succeeded", "failed",
    ]  # fmt: skip
    assert {"user-id", "start-time", "stop-time", "exit-code"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_python_m_runs_the_command(update_job: RunCommand) -> None:
    import subprocess
    import sys

    from update_job import __version__

    result = subprocess.run(
        [sys.executable, "-m", "update_job", "--version"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.strip() == f"update-job, version {__version__}"
