"""`update-job run`: a real command supervised, its updates read back from the local endpoint."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from localaws import Subscription
from tests.conftest import (
    CLOSED_ENDPOINT,
    UNREACHABLE_TOPIC,
    LocalTopics,
    RunCommand,
    spooled_files,
    started_update_job,
    topic_args,
    wait_for,
)

PYTHON = sys.executable


def run_args(topic: Subscription, *args: str) -> list[str]:
    return [
        "run", "--job-id", "job-1", *topic_args(topic), "--timeout", "10", *args,
    ]  # fmt: skip


def test_success_passes_output_through_and_reports_running_then_succeeded(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    child = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)"
    result = update_job(
        *run_args(testbed.fifo, "--label", "campaign-3", "--inputs", '{"n": 1}', "--user-id", "me"),
        "--", PYTHON, "-c", child,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "to stdout\n"
    assert "to stderr\n" in result.stderr
    assert "published running for job job-1" in result.stderr
    assert "published succeeded for job job-1" in result.stderr
    running, succeeded = (delivery.message for delivery in testbed.fifo.receive())
    assert running["status"] == "running"
    assert running["labels"] == ["campaign-3"]
    assert running["inputs"] == {"n": 1}
    assert running["user-id"] == "me"
    assert "start-time" in running
    assert "stop-time" not in running
    assert succeeded["status"] == "succeeded"
    assert succeeded["exit-code"] == 0
    assert succeeded["stop-time"] >= running["start-time"]
    assert succeeded["labels"] == ["campaign-3"]


def test_failure_exits_with_the_command_code_after_reporting_failed(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    result = update_job(
        *run_args(testbed.standard), "--", PYTHON, "-c", "raise SystemExit(3)"
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    running, failed = (delivery.message for delivery in testbed.standard.receive())
    assert running["status"] == "running"
    assert running["status"] == "running"
    assert failed["status"] == "failed"
    assert failed["exit-code"] == 3
    assert "exited with code 3" in failed["message"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_goes_to_the_command_and_the_failure_is_still_reported(
    testbed: LocalTopics, tmp_path: Path, signum: signal.Signals
) -> None:
    marker = tmp_path / "got-signal"
    child = (
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    signal.signal(signum, signal.SIG_DFL)\n"
        "    signal.raise_signal(signum)\n"
        f"signal.signal({int(signum)}, stop)\n"
        "time.sleep(60)\n"
    )
    with started_update_job(*run_args(testbed.fifo), "--", PYTHON, "-c", child) as process:
        [running] = wait_for(testbed.fifo, 1)
        assert running.message["status"] == "running"
        time.sleep(0.5)  # let the child install its handler
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    # The shell's convention for a command killed by signal N: 128 + N.
    assert process.returncode == 128 + signum, stderr
    assert marker.exists()
    [failed] = wait_for(testbed.fifo, 1)
    assert failed.message["status"] == "failed"
    assert failed.message["exit-code"] == 128 + signum
    assert f"terminated by {signum.name}" in failed.message["message"]
    assert "published failed for job job-1" in stderr
    assert "Traceback" not in stderr


def test_outputs_from_stdout_pass_through_byte_for_byte_and_become_outputs(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    output_object = {
        "report": {
            "class": "File",
            "location": "file:///data/out/report.txt",
            "basename": "report.txt",
            "size": 12,
            "checksum": "sha1$0123",
        },
        "count": 3,
    }
    # Like cwltool: some log-ish text first, then the pretty-printed output object.
    printed = "resolved inputs {not json\n\t tabs é\n" + json.dumps(output_object, indent=4) + "\n"
    child = f"import sys; sys.stdout.buffer.write({printed.encode()!r})"
    result = update_job(
        *run_args(testbed.fifo, "--outputs-from-stdout"), "--", PYTHON, "-c", child
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed
    _, succeeded = (delivery.message for delivery in testbed.fifo.receive())
    assert succeeded["status"] == "succeeded"
    assert succeeded["outputs"] == {"report": "file:///data/out/report.txt", "count": 3}


def test_heartbeats_come_between_start_and_final_update_in_order(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    result = update_job(
        *run_args(testbed.fifo, "--heartbeat", "0.5"), "--", PYTHON, "-c",
        "import time; time.sleep(2.5)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    statuses = [message["status"] for message in messages]
    assert statuses[0] == "running"
    assert "start-time" in messages[0]
    assert statuses[-1] == "succeeded"
    beats = messages[1:-1]
    assert len(beats) >= 1
    assert all(beat["status"] == "running" for beat in beats)
    assert all("running for" in beat["message"] for beat in beats)
    updated = [message["updated"] for message in messages]
    assert updated == sorted(updated)


def test_undeliverable_start_does_not_stop_the_command(
    update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    ran = tmp_path / "ran"
    child = f"open({str(ran)!r}, 'w').close(); raise SystemExit(4)"
    result = update_job(
        "run", "--job-id", "job-2", *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
        "--timeout", "1", "--spool", str(spool_dir),
        "--", PYTHON, "-c", child,
    )  # fmt: skip
    assert ran.exists()
    assert result.returncode == 4, result.stderr
    assert "update-job: warning: not delivered: could not publish" in result.stderr
    assert "final update not delivered" in result.stderr
    records = [json.loads(path.read_text()) for path in spooled_files(spool_dir)]
    assert [json.loads(r["params"]["Message"])["status"] for r in records] == [
        "running", "failed",
    ]  # fmt: skip


def test_undelivered_final_update_of_a_successful_command_exits_1_unless_best_effort(
    update_job: RunCommand,
) -> None:
    args = [
        "run", "--job-id", "job-3", *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
        "--timeout", "0.5",
    ]  # fmt: skip
    strict = update_job(*args, "--", PYTHON, "-c", "pass")
    assert strict.returncode == 1, strict.stderr
    lenient = update_job(*args, "--best-effort", "--", PYTHON, "-c", "pass")
    assert lenient.returncode == 0, lenient.stderr
    assert "no --spool: this update is lost" in lenient.stderr


def test_bad_options_and_missing_commands(testbed: LocalTopics, update_job: RunCommand) -> None:
    no_topic = update_job("run", "--job-id", "job-4", "--", PYTHON, "-c", "pass")
    assert no_topic.returncode == 2
    assert (
        no_topic.stderr
        == "update-job: error: no topic: give --topic-arn or set UPDATE_JOB_TOPIC_ARN\n"
    )
    bad_inputs = update_job(*run_args(testbed.standard, "--inputs", "[1]"), "--", "true")
    assert bad_inputs.returncode == 2
    assert bad_inputs.stderr.count("\n") == 1
    assert testbed.standard.receive() == []

    missing = update_job(*run_args(testbed.standard), "--", "no-such-command-here")
    assert missing.returncode == 127
    running, failed = (delivery.message for delivery in testbed.standard.receive())
    assert running["status"] == "running"
    assert failed["exit-code"] == 127
    assert "cannot run no-such-command-here" in failed["message"]
    assert "Traceback" not in missing.stderr


def test_command_options_are_not_taken_for_update_jobs(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    # Without `--`, everything from the command on is the command's.
    result = update_job(
        *run_args(testbed.standard), PYTHON, "-c", "import sys; print(sys.argv[1:])", "--job-id"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['--job-id']\n"
    assert os.path.basename(PYTHON) in testbed.standard.receive()[-1].message["message"]


def test_dry_run_shows_the_updates_on_stderr_and_needs_no_topic(update_job: RunCommand) -> None:
    result = update_job("run", "--job-id", "job-5", "--dry-run", "--", PYTHON, "-c", "print(1)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("update-job: dry run, would publish {") for line in lines)
    published = [json.loads(line.split("would publish ", 1)[1]) for line in lines]
    assert [update["status"] for update in published] == ["running", "succeeded"]
