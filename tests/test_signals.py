"""Terminating signals at any moment keep the update: TERM, INT and HUP while update-job
starts up (imports, parsing), at any moment up to SNS's answer (botocore's import and
client included), while the request waits at SNS, and after SNS answered; a second signal
while it spools. Each case runs several times with random delays: whatever the moment,
the update is delivered or spooled (never lost, never doubled after a replay), the exit
status is 128 + N, and stderr holds update-job's lines only, never a traceback."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localaws import Subscription
from tests.conftest import RunCommand, spooled_files, started_update_job, topic_args, wait_until
from tests.faultproxy import FaultMode, FaultProxy
from update_job.outbox import Outbox

SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
RUNS = 3
# How long the proxy holds each request in the "delivery" phase: the signal comes within it.
HOLD = 0.8


def handlers_installed(pid: int) -> bool:
    """Whether update-job catches SIGHUP yet, which the interpreter alone does not: from
    then on every terminating signal is update-job's to handle."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    match = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.MULTILINE)
    return match is not None and bool(int(match[1], 16) >> (signal.SIGHUP - 1) & 1)


def wait_closely(condition: Callable[[], bool], what: str) -> None:
    # Polled every millisecond: the signal's moment is what these tests are about.
    wait_until(condition, what, poll=0.001)


@contextlib.contextmanager
def started(
    proxy: FaultProxy, strict_fifo: Subscription, job_id: str, spool: Path
) -> Iterator[subprocess.Popen[str]]:
    """update-job publishing `job_id`'s final update, once it handles signals."""
    with started_update_job(
        "--job-id", job_id, "--status", "succeeded", *topic_args(strict_fifo, proxy.url),
        "--spool", str(spool), "--timeout", "20",
    ) as process:  # fmt: skip
        wait_closely(lambda: handlers_installed(process.pid), "the signal handlers")
        yield process


def assert_only_own_lines(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("update-job: ") for line in stderr.splitlines()), stderr


def replay_and_count(
    update_job: RunCommand, proxy: FaultProxy, strict_fifo: Subscription, spool: Path
) -> dict[str, int]:
    """Replay what is spooled; how many times each job's update arrived in all."""
    proxy.clear_faults()
    time.sleep(0.1)  # a killed process's last bytes reach the proxy...
    wait_closely(lambda: proxy.busy == 0, "the held requests")  # ...which it sends on to SNS first
    if spool.exists():
        replay = update_job("replay", str(spool), "--endpoint-url", proxy.url)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert spooled_files(spool) == []
    counts: dict[str, int] = {}
    for delivery in strict_fifo.receive():
        counts[delivery.message["id"]] = counts.get(delivery.message["id"], 0) + 1
    return counts


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("phase", ["start-up", "any", "delivery", "late"])
def test_a_signal_at_any_moment_keeps_the_update(
    proxy: FaultProxy,
    strict_fifo: Subscription,
    update_job: RunCommand,
    tmp_path: Path,
    signum: int,
    phase: str,
) -> None:
    rng = random.Random(f"{phase}-{signum}")  # noqa: S311 - delays, not secrets
    spool = tmp_path / "spool"
    jobs = [f"job-{phase}-{run}" for run in range(RUNS)]
    for job_id in jobs:
        if phase in ("delivery", "any"):
            proxy.set_fault(FaultMode.DELAY, delay=HOLD if phase == "delivery" else 0.2)
        seen, forwarded = proxy.requests_seen, proxy.forwarded
        spooled_before = len(spooled_files(spool)) if spool.exists() else 0
        with started(proxy, strict_fifo, job_id, spool) as process:
            if phase == "start-up":  # importing, parsing, building the update
                time.sleep(rng.uniform(0, 0.1))
            elif phase == "any":  # from start-up through botocore's client to SNS's answer
                time.sleep(rng.uniform(0, 0.8))
            elif phase == "delivery":  # the request is at the (holding) endpoint
                wait_closely(lambda: proxy.requests_seen > seen, "the request")  # noqa: B023
                time.sleep(rng.uniform(0, HOLD / 2))
            else:  # SNS has answered; update-job reports and exits
                wait_closely(lambda: proxy.forwarded > forwarded, "SNS's answer")  # noqa: B023
                time.sleep(rng.uniform(0, 0.02))
            process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=30)
        assert_only_own_lines(stderr)
        spooled = len(spooled_files(spool)) if spool.exists() else 0
        if phase == "start-up":
            # Nothing sent at all: the update went straight to the spool.
            assert process.returncode == 128 + signum, stderr
            assert proxy.requests_seen == seen
            assert spooled == spooled_before + 1
        elif process.returncode == 0:
            # The signal came as the process ended: it had delivered, and kept nothing.
            assert stdout.strip(), stderr
            assert spooled == spooled_before
        else:
            assert process.returncode == 128 + signum, stderr
            delivered = bool(stdout.strip())  # SNS's message id printed
            assert delivered or spooled == spooled_before + 1, stderr
    assert replay_and_count(update_job, proxy, strict_fifo, spool) == dict.fromkeys(jobs, 1)


def test_a_second_signal_while_spooling_still_keeps_the_update(
    proxy: FaultProxy, strict_fifo: Subscription, update_job: RunCommand, tmp_path: Path
) -> None:
    rng = random.Random("second signal")  # noqa: S311 - delays, not secrets
    spool = tmp_path / "spool"
    jobs = [f"job-twice-{run}" for run in range(6)]

    def outbox_of(job_id: str) -> Path:
        return Outbox(spool, job_id).directory

    for job_id in jobs:
        proxy.set_fault(FaultMode.DELAY, delay=HOLD)
        seen = proxy.requests_seen
        first, second = rng.sample(SIGNALS, 2)
        with started(proxy, strict_fifo, job_id, spool) as process:
            wait_closely(lambda: proxy.requests_seen > seen, "the request")  # noqa: B023 - now
            process.send_signal(first)
            time.sleep(rng.uniform(0, 0.01))
            process.send_signal(second)
            _, stderr = process.communicate(timeout=30)
        # Both may be pending before Python runs a handler, which it does lowest number first.
        assert process.returncode in (128 + first, 128 + second), stderr
        name = signal.Signals(process.returncode - 128).name
        [path] = [path for path in spooled_files(spool) if path.parent == outbox_of(job_id)]
        assert stderr.splitlines() == [
            f"update-job: error: {name} before SNS acknowledged the update; spooled to {path}"
        ]
    assert replay_and_count(update_job, proxy, strict_fifo, spool) == dict.fromkeys(jobs, 1)
