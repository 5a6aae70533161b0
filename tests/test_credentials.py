"""Credentials that AWS refuses: exit 1, one line, nothing published. Run against a moto
server that checks IAM, as AWS does."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localaws import MotoServer, client
from tests.conftest import RunCommand

# moto lets the first N requests through unauthenticated: its own warm-up (2) and the setup
# below (3). Every request after that needs an IAM identity allowed to make it.
UNCHECKED_REQUESTS = 5


@pytest.fixture(scope="module")
def iam_checked_endpoint() -> Iterator[tuple[str, str, dict[str, str]]]:
    """The endpoint, a topic, and the keys of an IAM user with no permissions."""
    with MotoServer(env={"INITIAL_NO_AUTH_ACTION_COUNT": str(UNCHECKED_REQUESTS)}) as server:
        topic_arn = client("sns", server.url).create_topic(Name="jobs")["TopicArn"]
        iam = client("iam", server.url)
        iam.create_user(UserName="worker")
        key = iam.create_access_key(UserName="worker")["AccessKey"]
        keys = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        yield server.url, topic_arn, keys


def test_access_denied(
    iam_checked_endpoint: tuple[str, str, dict[str, str]], update_job: RunCommand
) -> None:
    endpoint, topic_arn, keys = iam_checked_endpoint
    env = {**os.environ, **keys}
    env.pop("AWS_SESSION_TOKEN")
    result = update_job(
        "--job-id", "job-1", "--status", "running",
        "--topic-arn", topic_arn, "--endpoint-url", endpoint, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"update-job: error: access denied to topic {topic_arn}: User: "
        "arn:aws:iam::123456789012:user/worker is not authorized to perform: sns:Publish"
    ]
    assert result.stdout == ""


def test_unknown_credentials(
    iam_checked_endpoint: tuple[str, str, dict[str, str]], update_job: RunCommand
) -> None:
    endpoint, topic_arn, _ = iam_checked_endpoint
    result = update_job(
        "--job-id", "job-1", "--status", "running",
        "--topic-arn", topic_arn, "--endpoint-url", endpoint,
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: AWS rejected the credentials (InvalidClientTokenId)")
