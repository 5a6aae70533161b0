"""What update-job writes can fail (a closed pipe, a full disk) without changing what its
exit status says: whether the update was delivered. And a wait for stdin ends at a signal."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.conftest import UPDATE_JOB, LocalTopics, started_update_job, topic_args

REDIRECTS = {
    "stdout closed": "exec 1>&-",
    "stdout full": "exec 1>/dev/full",
    "stderr full": "exec 2>/dev/full",
    "both closed": "exec 1>&- 2>&-",
}


def exit_status_of(redirect: str, *args: str) -> int:
    """The exit status of update-job with its outputs broken, read through a descriptor the
    redirect leaves alone."""
    quoted = " ".join(f"'{arg}'" for arg in (UPDATE_JOB, *args))
    result = subprocess.run(
        ["bash", "-c", f'exec 3>&1; ( {redirect}; {quoted} ); echo "status=$?" >&3'],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("status=")]
    return int(line.removeprefix("status="))


@pytest.mark.parametrize("redirect", REDIRECTS.values(), ids=REDIRECTS.keys())
def test_a_delivered_update_exits_0_whatever_became_of_its_outputs(
    testbed: LocalTopics, redirect: str
) -> None:
    topic = testbed.fifo
    status = exit_status_of(
        redirect, "--job-id", "out-1", "--status", "running", *topic_args(topic)
    )
    assert status == 0
    assert topic.statuses() == ["running"]


@pytest.mark.parametrize("redirect", REDIRECTS.values(), ids=REDIRECTS.keys())
def test_a_final_update_exits_with_its_code_whatever_became_of_its_outputs(
    testbed: LocalTopics, redirect: str
) -> None:
    topic = testbed.standard
    status = exit_status_of(redirect, "--job-id", "out-2", "--exit-code", "3", *topic_args(topic))
    assert status == 3
    assert topic.statuses() == ["failed"]


def test_run_with_stdout_closed_still_reports_the_command_and_its_outputs(
    testbed: LocalTopics,
) -> None:
    topic = testbed.fifo
    status = exit_status_of(
        "exec 1>&-",
        "run", "--job-id", "out-3", *topic_args(topic), "--outputs-from-stdout", "--",
        "echo", '{"result": "s3://bucket/out.nc"}',
    )  # fmt: skip
    assert status == 0
    running, succeeded = (delivery.message for delivery in topic.receive())
    assert running["status"] == "running"
    assert succeeded["status"] == "succeeded"
    assert succeeded["outputs"] == {"result": "s3://bucket/out.nc"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_wait_for_stdin_ends_at_a_signal_and_publishes_nothing(
    testbed: LocalTopics, signum: int
) -> None:
    topic = testbed.standard
    # stdin is a pipe nobody writes to or closes: the input never ends.
    args = ["--job-id", "in-1", "--status", "running", "--inputs", "@-", *topic_args(topic)]
    with started_update_job(*args, stdin=subprocess.PIPE) as process:
        assert process.stdin is not None and process.stderr is not None
        time.sleep(1.0)  # long enough to be waiting for stdin (start-up takes a fraction of it)
        process.send_signal(signum)
        # Waited for without closing stdin: only the signal can end the wait.
        assert process.wait(timeout=20) == 128 + signum
        stderr = process.stderr.read()
        process.stdin.close()
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines() == [
        f"update-job: error: {name} while reading stdin: nothing published"
    ]
    assert topic.receive() == []


def test_a_late_stdin_is_still_read(testbed: LocalTopics) -> None:
    """A runner may pipe its output object only when it is done: no time limit on stdin."""
    topic = testbed.standard
    result = subprocess.run(
        ["bash", "-c", f"(sleep 3; echo '{{\"n\": 1}}') | '{UPDATE_JOB}' --job-id in-2 "
         f"--status running --inputs @- --timeout 2 {' '.join(topic_args(topic))}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    assert delivery.message["inputs"] == {"n": 1}
