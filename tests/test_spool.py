"""Nothing lost: undelivered updates are spooled, and `update-job replay` delivers them later."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from localaws import Subscription
from tests.conftest import (
    CLOSED_ENDPOINT,
    UNREACHABLE_TOPIC,
    UPDATE_JOB,
    LocalTopics,
    RunCommand,
    started_update_job,
    topic_args,
    wait_until,
)
from tests.faultproxy import FaultProxy
from update_job.envelope import make_envelope, parse_topic_arn
from update_job.message import JobUpdate, make_update
from update_job.spool import replay_lock, spooled_files, store


def publish_down(update_job: RunCommand, topic: Subscription, spool_dir: Path, *args: str) -> str:
    """Publish while the endpoint is down; the stderr line."""
    result = update_job(
        *args, *topic_args(topic, CLOSED_ENDPOINT),
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
        *topic_args(testbed.standard, CLOSED_ENDPOINT),
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
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
        "--timeout", "1", "--spool", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 5
    assert len(spooled_files(tmp_path)) == 1


def test_best_effort_without_a_spool_says_the_update_is_lost(update_job: RunCommand) -> None:
    result = update_job(
        "--job-id", "job-4", "--status", "running", "--best-effort",
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
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
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
        "--timeout", "1", env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert len(spooled_files(tmp_path / "from-env")) == 1


def seed(spool_dir: Path, topic_arn: str, endpoint: str, job: str, status: str) -> Path:
    """An update in the spool, as a failed delivery to `endpoint` leaves it."""
    params = make_envelope(make_update(job, status), parse_topic_arn(topic_arn))
    return store(params, spool_dir, "endpoint down", endpoint)


def test_a_failing_update_holds_back_its_job_but_not_others(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard.topic_arn
    seed(tmp_path, topic, CLOSED_ENDPOINT, "job-6", "running")  # still down
    seed(tmp_path, topic, testbed.endpoint_url, "job-6", "failed")
    seed(tmp_path, topic, testbed.endpoint_url, "job-7", "running")

    result = update_job("replay", str(tmp_path), "--timeout", "1")
    assert result.returncode == 1
    assert f"could not publish to SNS at {CLOSED_ENDPOINT}" in result.stdout
    assert "held behind an earlier update of job job-6" in result.stdout
    assert result.stderr.strip() == f"update-job: replayed 1, 2 left in {tmp_path}"
    assert [(d.message["id"], d.message["status"]) for d in testbed.standard.receive()] == [
        ("job-7", "running")
    ]
    # Both of job-6's updates stay for the next replay, in their order.
    assert len(spooled_files(tmp_path)) == 2


MALFORMED = {
    "not-json": b"{not json",
    "not-utf8": b"\xff\xfe{}",
    "a-list": b"[1, 2]",
    "other-format": b'{"spool_format": 99, "params": {}}',
    "no-params": b'{"spool_format": 1}',
    "no-message": b'{"spool_format": 1, "params": {"TopicArn": "arn:aws:sns:us-east-1:1:t"}}',
    "message-not-an-update": (
        b'{"spool_format": 1, "params": {"TopicArn": "arn:aws:sns:us-east-1:1:t", '
        b'"Message": "[1]"}}'
    ),
    "deep": b'{"spool_format": 1, "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


def test_malformed_entries_are_set_aside_and_the_rest_replays(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    for index, (name, content) in enumerate(MALFORMED.items()):
        (tmp_path / f"{index:020d}-{name}.json").write_bytes(content)
    seed(tmp_path, testbed.standard.topic_arn, testbed.endpoint_url, "job-8", "running")

    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-8"]
    rejected = tmp_path / "rejected"
    for index, name in enumerate(MALFORMED):
        file = f"{index:020d}-{name}.json"
        assert f"rejected {file}, moved to {rejected}: malformed" in result.stdout
        assert (rejected / file).read_bytes() == MALFORMED[name]
        assert (rejected / f"{file}.reason").read_text().startswith("malformed: ")
    assert spooled_files(tmp_path) == []
    assert result.stderr.strip().endswith(f"0 left in {tmp_path}, {len(MALFORMED)} rejected")
    # Set aside, they no longer stand in the way.
    again = update_job("replay", str(tmp_path))
    assert again.returncode == 0, again.stdout


def test_a_missing_parameter_is_set_aside_as_refused(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    params = make_envelope(
        make_update("job-14", "running"), parse_topic_arn(testbed.fifo.topic_arn)
    )
    del params["MessageGroupId"]  # a FIFO topic refuses a message without one
    store(params, tmp_path, "endpoint down", testbed.endpoint_url)
    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1
    assert "refused for good: SNS refused the update (MissingParameter)" in result.stdout
    assert spooled_files(tmp_path) == []
    assert testbed.fifo.receive() == []


def test_a_permanent_refusal_is_set_aside_not_retried_forever(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    gone = "arn:aws:sns:us-east-1:123456789012:gone"
    seed(tmp_path, gone, testbed.endpoint_url, "job-9", "running")
    seed(tmp_path, testbed.standard.topic_arn, testbed.endpoint_url, "job-10", "running")
    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1
    assert f"refused for good: topic {gone} does not exist" in result.stdout
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-10"]
    assert spooled_files(tmp_path) == []
    assert len(list((tmp_path / "rejected").glob("*.json"))) == 1


def test_concurrent_replays_send_each_update_once(
    moto_endpoint: str, strict_fifo: Subscription, tmp_path: Path
) -> None:
    # No content-based deduplication here, so a file sent twice would arrive twice.
    for index in range(6):  # seeded as failed deliveries leave them (test above)
        update = JobUpdate.model_validate(
            {"id": f"job-{index % 2}", "status": "running", "progress": index,
             "updated": f"2026-01-01T00:00:{index:02d}.000Z"}
        )  # fmt: skip
        params = make_envelope(update, parse_topic_arn(strict_fifo.topic_arn))
        store(params, tmp_path, "endpoint down", CLOSED_ENDPOINT)
    with contextlib.ExitStack() as running:
        replay = ("replay", str(tmp_path), "--endpoint-url", moto_endpoint)
        replays = [running.enter_context(started_update_job(*replay)) for _ in range(3)]
        outputs = [process.communicate(timeout=60) for process in replays]
    assert [process.returncode for process in replays] == [0, 0, 0]
    sent = [
        line for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("sent")
    ]
    assert len(sent) == 6
    deliveries = strict_fifo.receive()
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
        store(params, tmp_path, "endpoint down", None)
    assert list(tmp_path.iterdir()) == []


def test_replay_of_a_missing_directory_is_a_usage_error(update_job: RunCommand) -> None:
    result = update_job("replay", "/no/such/spool")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["update-job: error: no spool directory /no/such/spool"]


def test_a_spool_directory_that_cannot_be_written_stops_before_publishing(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = update_job(
        "--job-id", "job-11", "--status", "running", *topic_args(testbed.standard),
        "--spool", str(blocker / "spool"),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: cannot write to spool directory {blocker / 'spool'}: Not a directory"
    ]
    # Nothing went out: a rerun with a good spool cannot publish this update twice.
    assert testbed.standard.receive() == []


def test_spool_directories_and_files_are_private_whatever_the_umask(
    update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "deep" / "spool"
    result = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", UPDATE_JOB,
         "--job-id", "job-12", "--status", "running",
         *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
         "--timeout", "1", "--spool", str(spool_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    for directory in (tmp_path / "deep", spool_dir, spool_dir / "jobs"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    files = [path for path in spool_dir.rglob("*") if path.is_file()]
    assert len(files) >= 3  # the update, its job's record and the record's lock
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, path


def test_replay_deadline_bounds_a_long_outage(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    with FaultProxy(testbed.endpoint_url) as hanging:
        hanging.set_fault("hang")
        for index in range(5):
            seed(tmp_path, testbed.standard.topic_arn, hanging.url, f"job-{index}", "running")
        started = time.monotonic()
        result = update_job("replay", str(tmp_path), "--timeout", "30", "--deadline", "1")
        took = time.monotonic() - started
    assert result.returncode == 1
    # One update tried for what was left of the deadline, the others not at all (without
    # the deadline: 5 x 30 s). The bound is loose: the machine may be loaded.
    assert took < 25
    assert result.stdout.count("not tried: --deadline reached") >= 3
    assert len(spooled_files(tmp_path)) == 5


def test_replay_deadline_also_bounds_waiting_for_another_replay(
    update_job: RunCommand, tmp_path: Path
) -> None:
    seed(tmp_path, "arn:aws:sns:us-east-1:123456789012:jobs", CLOSED_ENDPOINT, "job-13", "running")
    with replay_lock(tmp_path):
        result = update_job("replay", str(tmp_path), "--deadline", "1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"update-job: error: another replay of {tmp_path} still runs after --deadline 1 s"
    ]
    assert len(spooled_files(tmp_path)) == 1


def test_an_update_goes_even_when_its_jobs_record_cannot_be_kept(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    (tmp_path / "jobs").write_text("in the way")  # where the per-job records go
    seed(tmp_path, testbed.standard.topic_arn, testbed.endpoint_url, "job-15", "running")
    direct = update_job(
        "--job-id", "job-15", "--status", "succeeded", *topic_args(testbed.standard),
        "--spool", str(tmp_path),
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    replayed = update_job("replay", str(tmp_path))
    assert replayed.returncode == 0, replayed.stderr
    assert "without its job's record" in replayed.stdout
    # Delivered rather than lost, but without the record nothing keeps them in order: the
    # stale `running` goes as it was (and the replay says so).
    assert [d.message["status"] for d in testbed.standard.receive()] == ["succeeded", "running"]


def test_a_signal_stops_a_replay_and_leaves_the_files_not_sent(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    with FaultProxy(testbed.endpoint_url) as hanging:
        hanging.set_fault("hang")
        for index in range(3):
            seed(tmp_path, testbed.standard.topic_arn, hanging.url, f"job-s{index}", "running")
        with started_update_job("replay", str(tmp_path), "--timeout", "30") as process:
            wait_until(lambda: hanging.requests_seen >= 1, "the replay's request", within=30)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    # Killed by it, or (where update-job handles the signal) exiting 128 + 15: either way
    # at once, not after trying the other files, and without a traceback.
    assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), stderr
    assert "Traceback" not in stderr
    assert hanging.requests_seen == 1
    assert len(spooled_files(tmp_path)) == 3
    again = update_job("replay", str(tmp_path), "--endpoint-url", testbed.endpoint_url)
    assert again.returncode == 0, again.stdout
    assert len(testbed.standard.receive()) == 3


def spool_with_one_update(testbed: LocalTopics, spool_dir: Path, job: str) -> Path:
    """A spool directory as a failed delivery leaves it: its marker and one update."""
    return seed(spool_dir, testbed.standard.topic_arn, CLOSED_ENDPOINT, job, "running")


@pytest.mark.parametrize("kind", ["fifo", "huge", "link-to-dev-zero", "directory"])
def test_replay_reads_only_small_regular_files_and_still_sends_the_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, kind: str
) -> None:
    spool_dir = tmp_path / "spool"
    spool_with_one_update(testbed, spool_dir, "job-h")
    hostile = spool_dir / f"{0:020d}-{kind}.json"
    if kind == "fifo":
        os.mkfifo(hostile)  # an open() for reading would wait for a writer forever
    elif kind == "huge":
        with hostile.open("wb") as file:
            file.truncate(3 * 1024**3)  # sparse: 3 GiB that must never be read whole
    elif kind == "link-to-dev-zero":
        hostile.symlink_to("/dev/zero")
    else:
        hostile.mkdir()
    result = update_job(
        "replay", str(spool_dir), "--endpoint-url", testbed.endpoint_url, "--deadline", "20",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # 1: an entry was rejected
    assert "Traceback" not in result.stderr
    rejected = spool_dir / "rejected"
    assert f"rejected {hostile.name}, moved to {rejected}: malformed: " in result.stdout
    assert (rejected / f"{hostile.name}.reason").exists()
    assert not hostile.exists() and not hostile.is_symlink()
    # The real update was still tried, and sent.
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-h"]
    assert spooled_files(spool_dir) == []


def test_replay_touches_no_file_that_store_did_not_name(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_with_one_update(testbed, spool_dir, "job-n")
    users_file = spool_dir / "cwl.output.json"
    users_file.write_text("{}")
    result = update_job("replay", str(spool_dir), "--endpoint-url", testbed.endpoint_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert users_file.read_text() == "{}"
    assert not (spool_dir / "rejected").exists()
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-n"]


def test_replay_of_a_directory_that_is_not_a_spool_moves_nothing(
    update_job: RunCommand, tmp_path: Path
) -> None:
    (tmp_path / "cwl.output.json").write_text("{}")
    (tmp_path / "jobs").mkdir()  # a user's own directory of that name is no sign of a spool
    for where in (str(tmp_path), "."):
        result = update_job("replay", where, cwd=tmp_path)
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        assert line.startswith(f"update-job: error: {where} is not a spool directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cwl.output.json", "jobs"]


def test_replay_of_an_empty_directory_has_nothing_to_replay(
    update_job: RunCommand, tmp_path: Path
) -> None:
    result = update_job("replay", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"update-job: replayed 0, 0 left in {tmp_path}"
    assert list(tmp_path.iterdir()) == []


def test_an_empty_spool_path_is_a_usage_error(update_job: RunCommand, tmp_path: Path) -> None:
    publish = (
        "--job-id",
        "job-e",
        "--status",
        "running",
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
    )
    runs = [
        (("replay", ""), None),
        ((*publish, "--spool", ""), None),
        ((*publish,), {**os.environ, "UPDATE_JOB_SPOOL_DIR": ""}),
        (("run", "--job-id", "job-e", *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT),
          "--spool", "", "--", "true"), None),
    ]  # fmt: skip
    for args, env in runs:
        result = update_job(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        [line] = result.stderr.splitlines()
        assert "empty path" in line, line
    assert list(tmp_path.iterdir()) == []  # nothing spooled into the current directory


def test_replay_of_a_spool_it_cannot_lock_is_one_line_exit_2(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_with_one_update(testbed, tmp_path, "job-l")
    (tmp_path / ".replay.lock").mkdir()  # as unusable as a read-only directory, even as root
    result = update_job("replay", str(tmp_path), "--endpoint-url", testbed.endpoint_url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: cannot use spool directory {tmp_path}: Is a directory"
    ]
    for proc in ("/proc", "/"):
        result = update_job("replay", proc)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert testbed.standard.receive() == []


def test_a_time_without_a_zone_is_malformed_and_never_poisons_the_job(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard
    path = seed(tmp_path, topic.topic_arn, testbed.endpoint_url, "job-z", "running")
    record = json.loads(path.read_text())
    message = json.loads(record["params"]["Message"])
    message["updated"] = message["updated"].removesuffix("Z")  # no zone
    record["params"]["Message"] = json.dumps(message)
    path.write_text(json.dumps(record))
    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1
    assert f"rejected {path.name}, moved to {tmp_path / 'rejected'}: malformed: " in result.stdout
    assert "has no zone" in result.stdout
    assert topic.receive() == []
    # The job's later updates go as ever.
    later = update_job(
        "--job-id", "job-z", "--exit-code", "0", *topic_args(topic), "--spool", str(tmp_path)
    )
    assert later.returncode == 0, later.stderr
    assert [d.message["status"] for d in topic.receive()] == ["succeeded"]


def test_a_jobs_record_with_a_time_without_a_zone_is_ignored_with_a_warning(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard
    first = update_job("--job-id", "job-r", "--status", "running", *topic_args(topic),
                       "--spool", str(tmp_path))  # fmt: skip
    assert first.returncode == 0, first.stderr
    [record_path] = (tmp_path / "jobs").glob("*.json")
    record = json.loads(record_path.read_text())
    for entry in record["fields"].values():
        entry["updated"] = entry["updated"].removesuffix("Z")
    record_path.write_text(json.dumps(record))
    later = update_job("--job-id", "job-r", "--exit-code", "0", *topic_args(topic),
                       "--spool", str(tmp_path))  # fmt: skip
    assert later.returncode == 0, later.stderr
    assert "Traceback" not in later.stderr and "TypeError" not in later.stderr
    warning, published = later.stderr.splitlines()
    assert warning.startswith(
        f"update-job: warning: job job-r: its record {record_path} is damaged"
    )
    assert "has no zone" in warning and warning.endswith(", ignored")
    assert published.startswith("update-job: published succeeded for job job-r")
    assert [d.message["status"] for d in topic.receive()] == ["running", "succeeded"]
