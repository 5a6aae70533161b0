"""Every bad input: one line on stderr, exit 2, and nothing published."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import LocalTopics, RunCommand

Invoke = Callable[..., Result]
RUNNING = ("--job-id", "job-1", "--status", "running")

BAD_INPUTS: list[tuple[tuple[str, ...], str]] = [
    (("--status", "running"), "Missing option '--job-id'"),
    (("--job-id", "", "--status", "running"), "invalid job id: must not be empty"),
    (("--job-id", "   ", "--status", "running"), "invalid job id: must not be empty"),
    (("--job-id", "a\nb", "--status", "running"), "invalid job id: must not contain control"),
    (("--job-id", "x" * 513, "--status", "running"), "invalid job id: must be at most 512 bytes"),
    (("--job-id", "job-1", "--status", "done"), "unknown status 'done': use one of submitted"),
    (("--job-id", "job-1"), "no status: give --status or --exit-code"),
    (("--job-id", "job-1", "--exit-code", "three"), "'three' is not a valid integer"),
    ((*RUNNING, "--inputs", '{"a":'), "--inputs: not valid JSON (Expecting value at line 1"),
    ((*RUNNING, "--inputs", "[1, 2]"), "--inputs must be a JSON object, not an array"),
    ((*RUNNING, "--outputs", '"text"'), "--outputs: a string; expected a JSON object"),
    ((*RUNNING, "--outputs", "null"), "--outputs: null; expected a JSON object"),
    ((*RUNNING, "--inputs", '{"a": NaN}'), "--inputs: NaN is not valid JSON"),
    ((*RUNNING, "--outputs", "@/no/such/file.json"), "--outputs: cannot read /no/such/file.json"),
    ((*RUNNING, "--inputs", "@/"), "--inputs: cannot read /: Is a directory"),
    (
        (*RUNNING, "--progress", "150"),
        "invalid progress: input should be less than or equal to 100",
    ),
    (
        (*RUNNING, "--progress", "-1"),
        "invalid progress: input should be greater than or equal to 0",
    ),
    ((*RUNNING, "--progress", "half"), "invalid progress:"),
    ((*RUNNING, "--progress", "nan"), "invalid progress:"),
    ((*RUNNING, "--start-time", "yesterday"), "invalid start-time:"),
    ((*RUNNING, "--label", ""), "invalid labels: string should have at least 1 character"),
    ((*RUNNING, "--user-id", "me\x07"), "invalid user-id: must not contain control characters"),
    ((*RUNNING, "--timeout", "0"), "Invalid value for '--timeout'"),
    ((*RUNNING, "--colour", "red"), "No such option '--colour'"),
]


@pytest.mark.parametrize(("args", "error"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_published(
    testbed: LocalTopics, invoke: Invoke, args: tuple[str, ...], error: str
) -> None:
    for topic in (testbed.standard, testbed.fifo):
        result = invoke(
            *args, "--topic-arn", topic.topic_arn, "--endpoint-url", testbed.endpoint_url
        )
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: ")
        assert error in line
        assert result.stdout == ""
        assert topic.receive() == []


@pytest.mark.parametrize(
    "arn",
    [
        "jobs",
        "arn:aws:sqs:us-east-1:123456789012:jobs",
        "arn:aws:sns::123456789012:jobs",
        "arn:aws:sns:us-east-1:1234:jobs",
        "arn:aws:sns:us-east-1:123456789012:",
        "arn:aws:sns:us-east-1:123456789012:bad name",
        "arn:aws:sns:us-east-1:123456789012:jobs.fifo.fifo",
    ],
)
def test_malformed_topic_arn(invoke: Invoke, arn: str) -> None:
    result = invoke(*RUNNING, "--topic-arn", arn)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: invalid topic ARN {arn!r}: expected arn:aws:sns:REGION:ACCOUNT:TOPIC"
    ]


def test_no_topic_outside_a_dry_run(invoke: Invoke) -> None:
    result = invoke(*RUNNING)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "update-job: error: no topic: give --topic-arn or set UPDATE_JOB_TOPIC_ARN"
    ]


def test_oversize_message_names_its_size_and_the_limit(
    testbed: LocalTopics, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"blob": "' + "x" * 262_144 + '"}')
    result = invoke(
        *RUNNING, "--inputs", f"@{inputs}",
        "--topic-arn", testbed.fifo.topic_arn, "--endpoint-url", testbed.endpoint_url,
    )  # fmt: skip
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: message too large: 262,")
    assert "over the SNS limit of 262,144 bytes" in line
    assert testbed.fifo.receive() == []


def test_message_just_under_the_limit_is_delivered(testbed: LocalTopics, invoke: Invoke) -> None:
    probe = invoke(*RUNNING, "--dry-run", "--inputs", '{"blob": ""}')
    assert probe.exit_code == 0
    # The size without the blob tells how much blob fits: updated's digits never change length.
    import json

    from update_job.publish import message_size

    base = message_size(json.loads(probe.stdout)["publish"])
    blob = "x" * (262_144 - base)
    ok = invoke(
        *RUNNING, "--inputs", f'{{"blob": "{blob}"}}',
        "--topic-arn", testbed.standard.topic_arn, "--endpoint-url", testbed.endpoint_url,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    [delivery] = testbed.standard.receive()
    assert delivery.message["inputs"]["blob"] == blob
    over = invoke(*RUNNING, "--dry-run", "--inputs", f'{{"blob": "{blob}x"}}')
    assert over.exit_code == 2


def test_unicode_job_id_works_on_a_standard_topic_but_not_as_a_fifo_group(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    args = (
        "--job-id",
        "jöb-ünïcode",
        "--status",
        "running",
        "--endpoint-url",
        testbed.endpoint_url,
    )
    assert invoke(*args, "--topic-arn", testbed.standard.topic_arn).exit_code == 0
    assert [d.message["id"] for d in testbed.standard.receive()] == ["jöb-ünïcode"]
    result = invoke(*args, "--topic-arn", testbed.fifo.topic_arn)
    assert result.exit_code == 2
    assert "invalid job id for a FIFO topic" in result.stderr
    assert testbed.fifo.receive() == []


def test_no_traceback_from_the_installed_command(update_job: RunCommand) -> None:
    result = update_job("--job-id", "job-1", "--status", "nope", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "update-job: error: invalid status: unknown status 'nope': use one of submitted, "
        "running, succeeded, failed (a deployment adds its own with --extra-statuses or "
        "UPDATE_JOB_EXTRA_STATUSES)"
    ]


def test_no_arguments_shows_the_help(update_job: RunCommand) -> None:
    result = update_job()
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: update-job [OPTIONS] COMMAND [ARGS]...\n")
    assert "  publish  Publish one update of a job" in result.stderr
