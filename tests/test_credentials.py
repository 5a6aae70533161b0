"""Credentials that AWS refuses (against a moto server that checks IAM, as AWS does) or
that cannot be had at all: exit 1, one line, nothing published, the update kept with
--spool, and never a wait past --timeout."""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localaws import MotoServer, client
from tests.conftest import LocalTopics, RunCommand, run_update_job, spooled_files, topic_args

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
        *topic_args(topic_arn, endpoint), env=env,
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
        *topic_args(topic_arn, endpoint),
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: AWS rejected the credentials (InvalidClientTokenId)")


# ------------------------------------------------------------------ broken credential chains


@dataclass
class CredentialsEndpoint:
    """A container-credentials endpoint on loopback (AWS_CONTAINER_CREDENTIALS_FULL_URI)
    that answers 404, or never answers."""

    url: str
    requests: int = 0


@pytest.fixture
def credentials_endpoint(request: pytest.FixtureRequest) -> Iterator[CredentialsEndpoint]:
    hang = request.param == "hang"
    release = threading.Event()
    endpoint = CredentialsEndpoint("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.requests += 1
            if hang:
                release.wait(60)
                return
            body = b'{"message": "no such role"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_port}/v2/credentials/role"
    try:
        yield endpoint
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def chain_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment with no keys in it, an empty AWS config unless given, and these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env["AWS_CONFIG_FILE"] = os.devnull
    env.update(settings)
    return env


def write_config(tmp_path: Path, text: str) -> str:
    config = tmp_path / "aws-config"
    config.write_text(text)
    return str(config)


def publish_with(
    testbed: LocalTopics, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = run_update_job(
        "--job-id", "job-1", "--status", "running", *topic_args(testbed.fifo), *args, env=env,
    )  # fmt: skip
    return result, time.monotonic() - started


def hanging_credential_process(tmp_path: Path) -> tuple[str, Path]:
    """A credential_process that never ends (its pid in a file, to stop it afterwards)."""
    script = tmp_path / "hang.sh"
    pid_file = tmp_path / "hang.pid"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 120\n")
    script.chmod(0o755)
    return str(script), pid_file


BROKEN_CHAINS: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "no-such-profile": (
        lambda tmp: {
            "AWS_PROFILE": "nope",
            "AWS_CONFIG_FILE": write_config(tmp, "[default]\nregion = us-east-1\n"),
        },
        "could not get AWS credentials: The config profile (nope) could not be found",
    ),
    "partial-keys": (
        lambda tmp: {"AWS_ACCESS_KEY_ID": "AKIDONLY"},
        "could not get AWS credentials: Partial credentials found in env, missing: "
        "AWS_SECRET_ACCESS_KEY",
    ),
    "broken-config": (
        lambda tmp: {"AWS_CONFIG_FILE": write_config(tmp, "[default\nregion = = =\n[[")},
        "could not get AWS credentials: Unable to parse config file:",
    ),
    "failing-credential-process": (
        lambda tmp: {
            "AWS_CONFIG_FILE": write_config(
                tmp, "[default]\ncredential_process = sh -c 'echo denied >&2; exit 3'\n"
            )
        },
        "could not get AWS credentials: Error when retrieving credentials from custom-process: "
        "denied",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_CHAINS))
def test_a_broken_credential_chain_is_a_delivery_failure(
    testbed: LocalTopics, tmp_path: Path, case: str
) -> None:
    settings, expected = BROKEN_CHAINS[case]
    env = chain_env(tmp_path, **settings(tmp_path))
    result, _ = publish_with(testbed, env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"update-job: error: {expected}"), line
    assert result.stdout == ""

    result, _ = publish_with(testbed, env, "--best-effort")
    assert result.returncode == 0
    [line] = result.stderr.splitlines()
    assert line.startswith(f"update-job: warning: not delivered: {expected}"), line

    spool = tmp_path / "spool"
    result, _ = publish_with(testbed, env, "--spool", str(spool))
    assert result.returncode == 1
    [path] = spooled_files(spool)
    assert result.stderr.strip().endswith(f"; spooled to {path}")
    assert testbed.fifo.receive() == []


@pytest.mark.parametrize("credentials_endpoint", ["404"], indirect=True)
def test_a_container_credentials_endpoint_answering_404(
    testbed: LocalTopics, tmp_path: Path, credentials_endpoint: CredentialsEndpoint
) -> None:
    env = chain_env(tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=credentials_endpoint.url)
    result, _ = publish_with(testbed, env, "--spool", str(tmp_path / "spool"))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: could not get AWS credentials: ")
    assert "404" in line
    assert credentials_endpoint.requests >= 1
    assert len(spooled_files(tmp_path / "spool")) == 1
    assert testbed.fifo.receive() == []


@pytest.mark.parametrize("credentials_endpoint", ["hang"], indirect=True)
def test_credentials_that_never_come_are_bounded_by_the_timeout(
    testbed: LocalTopics, tmp_path: Path, credentials_endpoint: CredentialsEndpoint
) -> None:
    env = chain_env(tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=credentials_endpoint.url)
    result, elapsed = publish_with(testbed, env, "--timeout", "1.5", "--spool", str(tmp_path))
    assert result.returncode == 1
    [path] = spooled_files(tmp_path)
    assert result.stderr.splitlines() == [
        "update-job: error: could not publish to SNS within 1.5 s: still resolving AWS "
        "credentials (a credential_process or credentials endpoint that does not answer?); "
        f"spooled to {path}"
    ]
    assert credentials_endpoint.requests >= 1
    # botocore alone would wait 2 s x 3 attempts for this endpoint.
    assert elapsed < 1.5 + 4  # the deadline, plus the interpreter's start and exit


def test_a_hanging_credential_process_is_bounded_by_the_timeout(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    command, pid_file = hanging_credential_process(tmp_path)
    config = write_config(tmp_path, f"[default]\ncredential_process = {command}\n")
    env = chain_env(tmp_path, AWS_CONFIG_FILE=config)
    try:
        result, elapsed = publish_with(testbed, env, "--timeout", "1.5", "--best-effort")
        assert result.returncode == 0
        assert result.stderr.splitlines() == [
            "update-job: warning: not delivered: could not publish to SNS within 1.5 s: still "
            "resolving AWS credentials (a credential_process or credentials endpoint that does "
            "not answer?); no --spool: this update is lost"
        ]
        assert elapsed < 1.5 + 4
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_run_whose_start_update_waits_on_credentials_still_delivers_its_final_update(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    """The credential chain hangs past --timeout for the start update (and goes on hanging
    in the abandoned delivery), then answers: the final update gets a client of its own and
    is delivered; the abandoned delivery sends nothing."""
    first_call = tmp_path / "first-call-done"
    script = tmp_path / "creds.sh"
    keys = '{"Version": 1, "AccessKeyId": "testing", "SecretAccessKey": "testing"}'
    script.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {first_call} ]; then touch {first_call}; sleep 3; fi\n"
        f"echo '{keys}'\n"
    )
    script.chmod(0o755)
    env = chain_env(
        tmp_path,
        AWS_CONFIG_FILE=write_config(tmp_path, f"[default]\ncredential_process = {script}\n"),
    )
    result = run_update_job(
        "run", "--job-id", "job-c", *topic_args(testbed.fifo), "--timeout", "1",
        "--", "sleep", "4", env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "still resolving AWS credentials" in result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["succeeded"]
