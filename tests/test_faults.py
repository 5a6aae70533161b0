"""Faults between update-job and SNS, injected by a proxy in front of moto: no update lost,
none doubled on a FIFO topic, and no workflow hung."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from localaws import Subscription
from tests.conftest import RunCommand, spooled_files, started_update_job, topic_args, wait_until
from tests.faultproxy import FaultMode, FaultProxy
from update_job.aws import TOTAL_ATTEMPTS


def publish(
    update_job: RunCommand, topic: Subscription, endpoint: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return update_job(
        "--job-id", "job-1", *topic_args(topic, endpoint), *args
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "count"),
    [
        (FaultMode.HTTP_500, 2),
        (FaultMode.HTTP_503, 4),
        (FaultMode.THROTTLE, 2),
        (FaultMode.REFUSE, 3),
    ],
)
def test_transient_faults_are_retried_and_delivered_exactly_once(
    proxy: FaultProxy,
    strict_fifo: Subscription,
    update_job: RunCommand,
    mode: FaultMode,
    count: int,
) -> None:
    assert count < TOTAL_ATTEMPTS
    proxy.fail_next(count, mode)
    result = publish(update_job, strict_fifo, proxy.url, "--status", "running")
    assert result.returncode == 0, result.stderr
    assert proxy.requests_seen == count + 1
    assert proxy.forwarded == 1
    assert strict_fifo.statuses() == ["running"]


def test_client_errors_are_not_retried(proxy: FaultProxy, update_job: RunCommand) -> None:
    missing = Subscription("arn:aws:sns:us-east-1:123456789012:gone", "", "", "us-east-1", False)
    result = publish(update_job, missing, proxy.url, "--status", "running")
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert proxy.requests_seen == 1


@pytest.mark.parametrize("mode", [FaultMode.HTTP_503, FaultMode.REFUSE, FaultMode.THROTTLE])
def test_persistent_faults_fail_in_time_spool_and_replay_once(
    proxy: FaultProxy,
    strict_fifo: Subscription,
    update_job: RunCommand,
    tmp_path: Path,
    mode: FaultMode,
) -> None:
    proxy.set_fault(mode)
    started = time.monotonic()
    result = publish(
        update_job, strict_fifo, proxy.url, "--status", "succeeded", "--timeout", "2.5",
        "--spool", str(tmp_path),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 2.5 + 5  # the deadline, plus the interpreter's start and exit
    [path] = spooled_files(tmp_path)
    assert result.stderr.strip().endswith(f"spooled to {path}")
    assert proxy.requests_seen > 1  # retried, up to the deadline or the attempts
    assert strict_fifo.receive() == []

    proxy.clear_faults()
    for _ in range(2):  # the second replay finds nothing left to send
        replay = update_job("replay", str(tmp_path), "--endpoint-url", proxy.url)
        assert replay.returncode == 0, replay.stdout + replay.stderr
    assert strict_fifo.statuses() == ["succeeded"]
    assert spooled_files(tmp_path) == []


def test_an_endpoint_that_never_answers_is_bounded_by_the_timeout(
    proxy: FaultProxy, strict_fifo: Subscription, update_job: RunCommand
) -> None:
    proxy.set_fault(FaultMode.HANG)
    started = time.monotonic()
    result = publish(update_job, strict_fifo, proxy.url, "--status", "running", "--timeout", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"update-job: error: no answer from SNS at {proxy.url} within 1 s"
    )
    assert 1 <= elapsed < 1 + 5


def test_a_response_cut_off_after_delivery_is_not_doubled_by_replay(
    proxy: FaultProxy, strict_fifo: Subscription, update_job: RunCommand, tmp_path: Path
) -> None:
    # SNS took the update but the answer was lost: update-job cannot know, so it spools, and
    # the replay's repeat of the same deduplication id is dropped by the FIFO topic.
    proxy.set_fault(FaultMode.DROP_MID_RESPONSE)
    result = publish(
        update_job, strict_fifo, proxy.url, "--status", "running", "--spool", str(tmp_path)
    )
    assert result.returncode == 1
    assert proxy.forwarded >= 1
    proxy.clear_faults()
    replay = update_job("replay", str(tmp_path), "--endpoint-url", proxy.url)
    assert replay.returncode == 0, replay.stdout
    assert strict_fifo.statuses() == ["running"]


def test_an_endpoint_back_within_the_timeout_gets_the_update(
    proxy: FaultProxy, strict_fifo: Subscription
) -> None:
    proxy.pause_listening()
    args = ["--job-id", "job-1", "--status", "running", *topic_args(strict_fifo, proxy.url)]
    with started_update_job(*args, "--timeout", "20") as process:
        time.sleep(0.5)
        proxy.resume_listening()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert strict_fifo.statuses() == ["running"]


def terminate_while_publishing(
    proxy: FaultProxy, strict_fifo: Subscription, *args: str
) -> tuple[subprocess.Popen[str], str]:
    """Send SIGTERM to update-job once its request hangs at the proxy; the process and its
    stderr."""
    proxy.set_fault(FaultMode.HANG)
    command = [
        "--job-id",
        "job-1",
        "--status",
        "failed",
        *args,
        *topic_args(strict_fifo, proxy.url),
    ]
    with started_update_job(*command, "--timeout", "20") as process:
        wait_until(lambda: proxy.requests_seen >= 1, "the request", within=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    return process, stderr


def test_sigterm_during_a_publish_spools_the_update(
    proxy: FaultProxy, strict_fifo: Subscription, update_job: RunCommand, tmp_path: Path
) -> None:
    process, stderr = terminate_while_publishing(proxy, strict_fifo, "--spool", str(tmp_path))
    assert process.returncode == 128 + signal.SIGTERM
    [path] = spooled_files(tmp_path)
    assert stderr.splitlines() == [
        f"update-job: error: SIGTERM before SNS acknowledged the update; spooled to {path}"
    ]
    proxy.clear_faults()
    replay = update_job("replay", str(tmp_path), "--endpoint-url", proxy.url)
    assert replay.returncode == 0, replay.stdout
    assert strict_fifo.statuses() == ["failed"]


def test_sigterm_without_a_spool_says_the_update_was_not_delivered(
    proxy: FaultProxy, strict_fifo: Subscription
) -> None:
    process, stderr = terminate_while_publishing(proxy, strict_fifo)
    assert process.returncode == 128 + signal.SIGTERM
    assert stderr.splitlines() == ["update-job: error: SIGTERM before SNS acknowledged the update"]


# Replies botocore cannot read as SNS's: a 5xx is retried like any 5xx, anything else fails
# at once; either way one line, exit 1, and the update kept or let pass as asked.
# The 5xx are retried until --timeout, which the test keeps short but long enough for a
# second attempt on a loaded machine (the first retry waits up to 1 s).
TIMEOUT = "2"
RETRIED_5XX = f"could not publish to SNS at {{url}} within {TIMEOUT} s: 503: Service Unavailable"
UNREADABLE_REPLIES = [
    (FaultMode.HTML_503, RETRIED_5XX),
    (FaultMode.TEXT_503, RETRIED_5XX),
    (
        FaultMode.HTML_404,
        "unreadable reply from SNS at {url} (HTTP 404, text/html: the page says 'Not Found')",
    ),
    (FaultMode.TEXT_404, "unreadable reply from SNS at {url} (HTTP 404, text/plain: b'404 page"),
    (FaultMode.EMPTY_200, "unreadable reply from SNS at {url} (HTTP 200, text/xml: b'')"),
    (FaultMode.GARBAGE_200, "unreadable reply from SNS at {url} (HTTP 200, text/xml: b'\\x00"),
    (FaultMode.NO_MESSAGE_ID, "SNS at {url} answered without a message id (HTTP 200"),
]


@pytest.mark.parametrize(("mode", "expected"), UNREADABLE_REPLIES, ids=lambda v: str(v)[:12])
def test_unreadable_replies_are_delivery_failures(
    proxy: FaultProxy,
    strict_fifo: Subscription,
    update_job: RunCommand,
    tmp_path: Path,
    mode: FaultMode,
    expected: str,
) -> None:
    proxy.set_fault(mode)
    line = "update-job: error: " + expected.format(url=proxy.url)

    plain = publish(update_job, strict_fifo, proxy.url, "--status", "running", "--timeout", TIMEOUT)
    assert plain.returncode == 1
    [error] = plain.stderr.splitlines()
    assert error.startswith(line), error
    assert plain.stdout == ""
    retried = mode in (FaultMode.HTML_503, FaultMode.TEXT_503)
    assert (proxy.requests_seen > 1) is retried, proxy.requests_seen

    # Only that it warns and lets the update pass: any failure within 1 s will do.
    best_effort = publish(
        update_job, strict_fifo, proxy.url, "--status", "running", "--timeout", "1", "--best-effort"
    )
    assert best_effort.returncode == 0
    [warning] = best_effort.stderr.splitlines()
    assert warning.startswith("update-job: warning: not delivered: ")
    assert warning.endswith("no --spool: this update is lost")

    spooling = publish(
        update_job, strict_fifo, proxy.url, "--status", "succeeded", "--timeout", TIMEOUT,
        "--spool", str(tmp_path),
    )  # fmt: skip
    assert spooling.returncode == 1
    [path] = spooled_files(tmp_path)
    [error] = spooling.stderr.splitlines()
    assert error.startswith(line) and error.endswith(f"; spooled to {path}")
    assert strict_fifo.receive() == []

    proxy.clear_faults()
    replay = update_job("replay", str(tmp_path), "--endpoint-url", proxy.url)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert strict_fifo.statuses() == ["succeeded"]


@pytest.mark.parametrize("mode", [FaultMode.HTML_503, FaultMode.TEXT_503])
def test_a_server_error_of_any_body_is_retried_and_delivered_once(
    proxy: FaultProxy, strict_fifo: Subscription, update_job: RunCommand, mode: FaultMode
) -> None:
    proxy.fail_next(2, mode)
    result = publish(update_job, strict_fifo, proxy.url, "--status", "running")
    assert result.returncode == 0, result.stderr
    assert proxy.requests_seen == 3
    assert strict_fifo.statuses() == ["running"]


def test_an_unforeseen_error_in_the_transport_is_a_delivery_failure(
    strict_fifo: Subscription, update_job: RunCommand, tmp_path: Path
) -> None:
    # An endpoint in the AWS config file, malformed: botocore raises a plain ValueError
    # (not one of its errors) while making the client. (The same URL in an endpoint
    # variable is bad input, refused before sending: see test_bad_input.py.)
    config = tmp_path / "aws-config"
    config.write_text("[default]\nendpoint_url = http://[::1\n")
    spool = tmp_path / "spool"
    env = {**os.environ, "AWS_CONFIG_FILE": str(config)}
    env.pop("AWS_ENDPOINT_URL")
    result = update_job(
        "--job-id", "job-1", "--status", "running", "--topic-arn", strict_fifo.topic_arn,
        "--spool", str(spool), "--timeout", "5", env=env,
    )  # fmt: skip
    assert result.returncode == 1
    [path] = spooled_files(spool)
    assert result.stderr.splitlines() == [
        "update-job: error: could not publish to SNS in us-east-1: ValueError: Invalid IPv6 URL; "
        f"spooled to {path}"
    ]


def test_server_errors_for_a_region_botocore_does_not_know_hint_at_a_typo(
    proxy: FaultProxy, update_job: RunCommand
) -> None:
    """An endpoint that answers 5xx until the timeout, for a topic whose region botocore
    does not list: the line says what the endpoint answered, and that the region may be a
    typo (a region botocore lists gets no such hint: test_faults' other 5xx tests)."""
    proxy.set_fault(FaultMode.HTTP_500)
    arn = "arn:aws:sns:us-est-1:123456789012:jobs.fifo"
    result = update_job(
        "--job-id", "job-1", "--status", "running", *topic_args(arn, proxy.url),
        "--timeout", TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"update-job: error: could not publish to SNS at {proxy.url} within {TIMEOUT} s: "
        "InternalFailure: Injected fault: internal failure; region us-est-1, from the topic "
        "ARN, is not one botocore knows: a typo?"
    ]
