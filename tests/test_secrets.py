"""Credentials in an endpoint URL (`http://user:password@host`) are never shown nor stored:
not in any message, not in the spool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from localaws import Subscription
from tests.conftest import CLOSED_ENDPOINT, RunCommand, spooled_files, topic_args
from tests.faultproxy import FaultMode, FaultProxy

USER, PASSWORD = "jobs-user", "s3cret-Pa55"


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@", 1)


def masked(url: str) -> str:
    return url.replace("http://", "http://***@", 1)


def publish(update_job: RunCommand, topic: Subscription, endpoint: str, *args: str) -> str:
    result = update_job(
        "--job-id", "job-1", "--status", "running", *topic_args(topic, endpoint), *args,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert PASSWORD not in output and USER not in output, output
    return result.stderr


def test_an_endpoint_with_credentials_is_used_and_never_shown(
    update_job: RunCommand, strict_fifo: Subscription, proxy: FaultProxy
) -> None:
    publish(update_job, strict_fifo, with_credentials(proxy.url))
    assert strict_fifo.statuses() == ["running"]


# Each waits out its --timeout: 1 s where any answer comes at once or never, 2 s where a
# first answer must come before it (on a loaded machine too).
@pytest.mark.parametrize(
    ("endpoint", "mode", "timeout", "expected"),
    [
        (
            CLOSED_ENDPOINT,
            None,
            "1",
            "could not publish to SNS at {url} within 1 s: Could not connect",
        ),
        ("proxy", FaultMode.HANG, "1", "no answer from SNS at {url} within 1 s"),
        ("proxy", FaultMode.TEXT_404, "2", "unreadable reply from SNS at {url} (HTTP 404"),
        ("proxy", FaultMode.HTTP_503, "2", "could not publish to SNS at {url} within 2 s: "),
    ],
    ids=["closed", "hang", "unreadable", "5xx"],
)
def test_credentials_are_masked_in_failures_and_kept_out_of_the_spool(
    update_job: RunCommand,
    strict_fifo: Subscription,
    proxy: FaultProxy,
    tmp_path: Path,
    endpoint: str,
    mode: FaultMode | None,
    timeout: str,
    expected: str,
) -> None:
    base = proxy.url if endpoint == "proxy" else endpoint
    if mode is not None:
        proxy.set_fault(mode)
    stderr = publish(
        update_job,
        strict_fifo,
        with_credentials(base),
        "--timeout",
        timeout,
        "--spool",
        str(tmp_path),
    )
    [line] = stderr.splitlines()
    assert line.startswith("update-job: error: " + expected.format(url=masked(base))), line
    [path] = spooled_files(tmp_path)
    text = path.read_text()
    assert PASSWORD not in text and USER not in text
    assert json.loads(text)["endpoint_url"] == masked(base)


def test_a_malformed_endpoint_with_credentials_is_refused_masked(
    update_job: RunCommand, strict_fifo: Subscription
) -> None:
    stderr = publish(update_job, strict_fifo, f"http://{USER}:{PASSWORD}@127.0.0.1:99999")
    assert stderr.splitlines() == [
        "update-job: error: Invalid value for '--endpoint-url': invalid endpoint URL "
        "'http://***@127.0.0.1:99999': its port is not a number from 1 to 65535 "
        "(see 'update-job publish --help')"
    ]


# A password with a URL's delimiter in it, not percent-encoded: the URL's host part ends at
# the delimiter, so that the password is no longer seen as one.
DELIMITED_PASSWORDS = ["s3cr#et-Pa55", "s3cr?et-Pa55", "s3cr/et-Pa55", "p4ss#w0rd?x9z/Pa55"]
HINT = "(a user name or password in a URL writes # ? / as %23 %3F %2F)"


def assert_masked(stderr: str, password: str) -> str:
    [line] = stderr.splitlines()
    for part in (password, *password.replace("?", "#").replace("/", "#").split("#")):
        assert part not in line, line
    assert USER not in line
    return line


@pytest.mark.parametrize("password", DELIMITED_PASSWORDS)
def test_a_password_with_a_url_delimiter_is_masked_in_the_usage_error(
    update_job: RunCommand, strict_fifo: Subscription, password: str
) -> None:
    url = f"http://{USER}:{password}@127.0.0.1:4566"
    result = update_job(
        "--job-id", "job-1", "--status", "running", *topic_args(strict_fifo, url)
    )  # fmt: skip
    assert result.returncode == 2
    line = assert_masked(result.stderr, password)
    assert line.startswith(
        "update-job: error: Invalid value for '--endpoint-url': invalid endpoint URL "
        "'http://***@127.0.0.1:4566': "
    ), line
    assert HINT in line
    assert strict_fifo.receive() == []


@pytest.mark.parametrize("password", DELIMITED_PASSWORDS)
def test_a_password_with_a_url_delimiter_in_an_endpoint_variable_is_masked(
    update_job: RunCommand, strict_fifo: Subscription, password: str
) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL_SNS": f"http://{USER}:{password}@127.0.0.1:4566"}
    result = update_job(
        "--job-id", "job-1", "--status", "running", "--topic-arn", strict_fifo.topic_arn, env=env
    )
    assert result.returncode == 2
    line = assert_masked(result.stderr, password)
    assert line.startswith(
        "update-job: error: AWS_ENDPOINT_URL_SNS: invalid endpoint URL 'http://***@127.0.0.1:4566'"
    ), line
    assert HINT in line
