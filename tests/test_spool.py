"""Nothing lost: undelivered updates are spooled, and `update-job replay` delivers them later."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from localaws import Subscription, subscribe_queue
from tests.conftest import CLOSED_ENDPOINT, UPDATE_JOB, LocalTopics, RunCommand
from update_job.spool import spool, spooled_files


def publish_down(update_job: RunCommand, topic: Subscription, spool_dir: Path, *args: str) -> str:
    """Publish while the endpoint is down; the stderr line."""
    result = update_job(
        *args, "--topic-arn", topic.topic_arn, "--endpoint-url", CLOSED_ENDPOINT,
        "--timeout", "1", "--spool", str(spool_dir),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    return line


def replay(
    update_job: RunCommand, spool_dir: Path, endpoint: str
) -> subprocess.CompletedProcess[str]:
    return update_job("replay", str(spool_dir), "--endpoint-url", endpoint, "--timeout", "5")


def test_undelivered_update_is_spooled_whole_and_replayed_in_order(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    lines = [
        publish_down(update_job, testbed.fifo, spool_dir, "--job-id", "job-1", "--status", status)
        for status in ("running", "running", "succeeded")
    ]
    files = spooled_files(spool_dir)
    assert len(files) == 3
    for line, path in zip(lines, files, strict=True):
        assert line.startswith(f"update-job: error: could not publish to SNS at {CLOSED_ENDPOINT}")
        assert line.endswith(f"; spooled to {path}")
    records = [json.loads(path.read_text()) for path in files]
    assert [json.loads(r["params"]["Message"])["status"] for r in records] == [
        "running", "running", "succeeded",
    ]  # fmt: skip
    assert all(r["params"]["MessageGroupId"] == "job-1" for r in records)
    assert [p.name for p in spool_dir.iterdir() if p.name.endswith(".partial")] == []
    assert testbed.fifo.receive() == []

    result = replay(update_job, spool_dir, testbed.endpoint_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"update-job: replayed 3, 0 left in {spool_dir}"
    deliveries = testbed.fifo.receive()
    assert [d.envelope["Message"] for d in deliveries] == [r["params"]["Message"] for r in records]
    assert [d.attributes["MessageDeduplicationId"] for d in deliveries] == [
        r["params"]["MessageDeduplicationId"] for r in records
    ]
    assert spooled_files(spool_dir) == []
    # Running it again finds nothing to send.
    again = replay(update_job, spool_dir, testbed.endpoint_url)
    assert again.returncode == 0
    assert again.stdout == ""
    assert testbed.fifo.receive() == []


def test_best_effort_exits_as_if_delivered_and_names_the_spooled_file(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    result = update_job(
        "--job-id", "job-2", "--exit-code", "0", "--best-effort", "--json",
        "--topic-arn", testbed.standard.topic_arn, "--endpoint-url", CLOSED_ENDPOINT,
        "--timeout", "1", "--spool", str(spool_dir),
    )  # fmt: skip
    assert result.returncode == 0
    [path] = spooled_files(spool_dir)
    [warning] = result.stderr.splitlines()
    assert warning.startswith("update-job: warning: not delivered: could not publish")
    assert warning.endswith(f"spooled to {path}")
    receipt = json.loads(result.stdout)
    assert receipt["message_id"] is None
    assert receipt["spooled"] == str(path)
    assert json.loads(path.read_text())["params"] == receipt["publish"]


def test_best_effort_keeps_the_workflow_exit_code(update_job: RunCommand, tmp_path: Path) -> None:
    result = update_job(
        "--job-id", "job-3", "--exit-code", "5", "--best-effort",
        "--topic-arn", "arn:aws:sns:us-east-1:123456789012:jobs", "--endpoint-url", CLOSED_ENDPOINT,
        "--timeout", "1", "--spool", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 5
    assert len(spooled_files(tmp_path)) == 1


def test_best_effort_without_a_spool_says_the_update_is_lost(update_job: RunCommand) -> None:
    result = update_job(
        "--job-id", "job-4", "--status", "running", "--best-effort",
        "--topic-arn", "arn:aws:sns:us-east-1:123456789012:jobs", "--endpoint-url", CLOSED_ENDPOINT,
        "--timeout", "1",
    )  # fmt: skip
    assert result.returncode == 0
    [warning] = result.stderr.splitlines()
    assert warning.startswith("update-job: warning: not delivered:")
    assert warning.endswith("no --spool: this update is lost")


def test_spool_directory_from_the_environment(update_job: RunCommand, tmp_path: Path) -> None:
    env = {**os.environ, "UPDATE_JOB_SPOOL_DIR": str(tmp_path / "from-env")}
    result = update_job(
        "--job-id", "job-5", "--status", "running",
        "--topic-arn", "arn:aws:sns:us-east-1:123456789012:jobs", "--endpoint-url", CLOSED_ENDPOINT,
        "--timeout", "1", env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert len(spooled_files(tmp_path / "from-env")) == 1


def test_a_failing_update_holds_back_its_job_but_not_others(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    missing = Subscription(
        "arn:aws:sns:us-east-1:123456789012:gone", "", testbed.endpoint_url, "us-east-1", False
    )
    publish_down(update_job, missing, tmp_path, "--job-id", "job-6", "--status", "running")
    publish_down(update_job, testbed.standard, tmp_path, "--job-id", "job-6", "--status", "failed")
    publish_down(update_job, testbed.standard, tmp_path, "--job-id", "job-7", "--status", "running")
    (tmp_path / "00000000000000000000-garbage.json").write_text("{not json")

    result = replay(update_job, tmp_path, testbed.endpoint_url)
    assert result.returncode == 1
    assert "00000000000000000000-garbage.json: unreadable" in result.stdout
    assert "topic arn:aws:sns:us-east-1:123456789012:gone does not exist" in result.stdout
    assert "held behind an earlier update of job job-6" in result.stdout
    assert result.stderr.strip() == f"update-job: replayed 1, 3 left in {tmp_path}"
    assert [(d.message["id"], d.message["status"]) for d in testbed.standard.receive()] == [
        ("job-7", "running")
    ]
    # The garbage file and both of job-6's updates stay for the next replay.
    assert len(spooled_files(tmp_path)) == 3


def test_concurrent_replays_send_each_update_once(
    moto_endpoint: str, update_job: RunCommand, tmp_path: Path
) -> None:
    # No content-based deduplication here, so a file sent twice would arrive twice.
    strict = subscribe_queue(moto_endpoint, fifo=True, content_based_deduplication=False)
    for index in range(6):
        publish_down(update_job, strict, tmp_path, "--job-id", f"job-{index % 2}", "--status",
                     "running", "--progress", str(index))  # fmt: skip
    replays = [
        subprocess.Popen(
            [UPDATE_JOB, "replay", str(tmp_path), "--endpoint-url", moto_endpoint],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60) for process in replays]
    assert [process.returncode for process in replays] == [0, 0, 0]
    sent = [
        line for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("sent")
    ]
    assert len(sent) == 6
    deliveries = strict.receive()
    assert sorted(d.message["progress"] for d in deliveries) == [0, 1, 2, 3, 4, 5]
    for job in ("job-0", "job-1"):
        progress = [d.message["progress"] for d in deliveries if d.message["id"] == job]
        assert progress == sorted(progress)


def test_spool_never_leaves_a_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"TopicArn": "arn:aws:sns:us-east-1:123456789012:jobs", "Message": "{}"}

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("update_job.spool.os.replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        spool(params, tmp_path, "endpoint down", None)
    assert list(tmp_path.iterdir()) == []


def test_replay_of_a_missing_directory_is_a_usage_error(update_job: RunCommand) -> None:
    result = update_job("replay", "/no/such/spool")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["update-job: error: no spool directory /no/such/spool"]
