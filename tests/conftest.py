"""Fixtures: a real local SNS/SQS endpoint (moto_server on loopback) and ways to run update-job."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from click.testing import CliRunner, Result

from localaws import (
    LOCAL_AWS_ENV,
    UNSAFE_AWS_ENV,
    Delivery,
    MotoServer,
    Subscription,
    subscribe_queue,
)
from tests.container import harness
from tests.faultproxy import FaultProxy
from tests.slurm import SlurmCluster, ensure_slurm
from update_job.cli import cli
from update_job.envelope import parse_topic_arn
from update_job.message import JobUpdate, make_update
from update_job.outbox import Outbox, job_directories, open_spool

# Every AWS client the tests make, here or in a subprocess, stays on this machine; one that
# is not pointed at moto reaches a closed loopback port instead of AWS.
for name in (*UNSAFE_AWS_ENV, "AWS_ENDPOINT_URL_SNS", "UPDATE_JOB_TOPIC_ARN", "UPDATE_JOB_TIMEOUT"):
    os.environ.pop(name, None)
os.environ.update(LOCAL_AWS_ENV)
CLOSED_ENDPOINT = "http://127.0.0.1:9"
os.environ["AWS_ENDPOINT_URL"] = CLOSED_ENDPOINT

UPDATE_JOB = str(Path(sys.executable).with_name("update-job"))
# A topic nothing answers for: with CLOSED_ENDPOINT, every delivery to it fails.
UNREACHABLE_TOPIC = "arn:aws:sns:us-east-1:123456789012:jobs"
TESTS = Path(__file__).parent


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with MotoServer() as server:
        yield server.url


def unavailable(reason: str) -> NoReturn:
    """Skip a test this machine cannot run (the container or cluster tests: not root, no
    apt-get), with the reason; under CI (CI=true) that is a failure instead."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def announce_to_terminal(request: pytest.FixtureRequest, tests: str) -> Callable[[str], None]:
    """What the test harness says before it changes this machine (apt-get, image builds),
    printed past pytest's output capture: it is for whoever waits at the terminal."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def announce(message: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n[update-job {tests}] {message}", file=sys.stderr, flush=True)

    return announce


@pytest.fixture(scope="session")
def slurm_installed(request: pytest.FixtureRequest) -> None:
    """Slurm and munge, installed with apt-get the first time (root only, announced);
    skipped with the reason where this machine cannot."""
    if not harness.is_root():
        unavailable("the cluster tests run munged, slurmctld and slurmd as root; run them as root")
    harness.announce = announce_to_terminal(request, "cluster tests")
    try:
        ensure_slurm()
    except harness.HarnessUnavailableError as error:
        unavailable(str(error))


@pytest.fixture(scope="session")
def slurm_cluster(slurm_installed: None) -> Iterator[SlurmCluster]:
    """A private single-node Slurm cluster (tests/slurm.py), started for the session and
    stopped at its end."""
    with SlurmCluster.create() as cluster:
        yield cluster


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the local endpoint (tests/faultproxy.py)."""
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy


@pytest.fixture
def strict_fifo(moto_endpoint: str) -> Subscription:
    """A FIFO topic that does not deduplicate by content: an update sent twice arrives twice
    unless its deduplication ids match (moto never drops a repeated body anyway)."""
    return subscribe_queue(moto_endpoint, fifo=True, content_based_deduplication=False)


@dataclass
class LocalTopics:
    """A standard and a FIFO topic (content-based deduplication, as in production), each
    with its own new queue subscribed."""

    endpoint_url: str
    standard: Subscription
    fifo: Subscription


@pytest.fixture
def testbed(moto_endpoint: str) -> LocalTopics:
    return LocalTopics(
        moto_endpoint,
        subscribe_queue(moto_endpoint, fifo=False),
        subscribe_queue(moto_endpoint, fifo=True),
    )


def topic_args(topic: Subscription | str, endpoint: str | None = None) -> tuple[str, ...]:
    """update-job's `--topic-arn` and `--endpoint-url`: the topic's own endpoint unless
    another (a proxy, a closed port) is named."""
    if isinstance(topic, str):
        if endpoint is None:
            raise ValueError("a topic given by its ARN needs an endpoint")
        return ("--topic-arn", topic, "--endpoint-url", endpoint)
    return ("--topic-arn", topic.topic_arn, "--endpoint-url", endpoint or topic.endpoint_url)


RunCommand = Callable[..., subprocess.CompletedProcess[str]]


def run_update_job(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """The installed `update-job` command, as a workflow step runs it."""
    return subprocess.run(
        [UPDATE_JOB, *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def started_update_job(*args: str, stdin: int | None = None) -> Iterator[subprocess.Popen[str]]:
    """The installed `update-job`, started with its output piped, for a test to act on while
    it runs (signal it, hold its endpoint); killed if it still runs when the block ends, so a
    failing test leaves no process behind."""
    process = subprocess.Popen(
        [UPDATE_JOB, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def update_job() -> RunCommand:
    return run_update_job


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """update-job in this process, through click's CliRunner."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, prog_name="update-job")

    return invoke


def wait_for(topic: Subscription, count: int, within: float = 20.0) -> list[Delivery]:
    """The deliveries once `count` have arrived (or all there are after `within` seconds)."""
    deliveries: list[Delivery] = []
    deadline = time.monotonic() + within
    while len(deliveries) < count and time.monotonic() < deadline:
        deliveries += topic.receive()
        if len(deliveries) < count:
            time.sleep(0.1)
    return deliveries


def wait_until(
    condition: Callable[[], bool], what: str, within: float = 20.0, poll: float = 0.02
) -> None:
    """Return once `condition()` holds; fail the test, naming `what`, after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def spooled_files(spool_dir: Path) -> list[Path]:
    """Every update waiting in the spool's outboxes: job by job, each job's oldest first."""
    return [
        Outbox.at(directory).entry_path(sequence)
        for directory in job_directories(spool_dir)
        for sequence in Outbox.at(directory).pending()
    ]


def seed(spool_dir: Path, topic_arn: str, endpoint: str | None, job: str, status: str) -> Path:
    """An update queued in its job's outbox, as an undelivered one is left there."""
    open_spool(spool_dir)
    entry = Outbox(spool_dir, job).append(
        make_update(job, status), parse_topic_arn(topic_arn), endpoint
    )
    assert entry is not None
    return entry.path


def spool_update(spool_dir: Path, topic_arn: str, endpoint: str | None, **fields: Any) -> Path:
    """The update made of `fields` (wire names) queued in its job's outbox."""
    open_spool(spool_dir)
    update = JobUpdate.model_validate(fields)
    entry = Outbox(spool_dir, update.id).append(update, parse_topic_arn(topic_arn), endpoint)
    assert entry is not None
    return entry.path
