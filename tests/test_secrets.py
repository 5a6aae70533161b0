"""Credentials in an endpoint URL (`http://user:password@host`) are never shown nor stored:
not in any message, not in the spool."""

from __future__ import annotations

import json
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
        "'http://***@127.0.0.1:99999': Port out of range 0-65535 (see 'update-job publish --help')"
    ]
