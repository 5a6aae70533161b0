"""Nothing lost: every update goes through its job's outbox in the spool; one that is not
delivered waits there (with every later one of its job), and `update-job replay` sends them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
    run_update_job,
    seed,
    spool_update,
    spooled_files,
    started_update_job,
    topic_args,
    wait_until,
)
from tests.faultproxy import FaultProxy
from update_job.envelope import make_envelope, parse_topic_arn
from update_job.message import make_update
from update_job.outbox import Outbox, locked, open_spool


def publish_down(update_job: RunCommand, topic: Subscription, spool_dir: Path, *args: str) -> str:
    """Publish while the endpoint is down; the stderr line."""
    result = update_job(
        *args, *topic_args(topic, CLOSED_ENDPOINT),
        "--timeout", "3", "--spool", str(spool_dir),
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
    assert lines[0].startswith(f"update-job: error: could not publish to SNS at {CLOSED_ENDPOINT}")
    for line in lines[1:]:
        # A newer update never overtakes an older one: it waits behind it, and says so.
        assert line.startswith("update-job: error: an earlier update of job job-1 is not delivered")
    for line, path in zip(lines, files, strict=True):
        assert line.endswith(f"spooled to {path}")
    records = [json.loads(path.read_text()) for path in files]
    messages = [json.loads(r["params"]["Message"]) for r in records]
    assert [m["status"] for m in messages] == ["running", "running", "succeeded"]
    assert [m["sequence"] for m in messages] == [1, 2, 3]
    assert [m["updated"] for m in messages] == sorted({m["updated"] for m in messages})
    assert all(r["params"]["MessageGroupId"] == "job-1" for r in records)
    assert [p.name for p in spool_dir.rglob("*.partial")] == []
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


def test_a_failing_update_holds_back_its_job_but_not_others(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard.topic_arn
    seed(tmp_path, topic, CLOSED_ENDPOINT, "job-6", "running")  # still down
    seed(tmp_path, topic, testbed.endpoint_url, "job-6", "failed")
    seed(tmp_path, topic, testbed.endpoint_url, "job-7", "running")

    result = update_job("replay", str(tmp_path), "--timeout", "3")
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
    "other-format": b'{"format": 99, "sequence": 1, "params": {}}',
    "no-params": b'{"format": 1, "sequence": 1}',
    "no-message": b'{"format": 1, "params": {"TopicArn": "arn:aws:sns:us-east-1:1:t"}}',
    "deep": b'{"format": 1, "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


def test_malformed_entries_are_set_aside_and_the_rest_replays(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "job-8")
    outbox.directory.mkdir(mode=0o700)
    for sequence, content in enumerate(MALFORMED.values(), start=1):
        outbox.entry_path(sequence).write_bytes(content)
    # Appended after them, as the job's newest update.
    seed(tmp_path, testbed.standard.topic_arn, testbed.endpoint_url, "job-8", "running")

    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-8"]
    rejected = tmp_path / "rejected"
    for sequence, content in enumerate(MALFORMED.values(), start=1):
        name = f"{outbox.directory.name}-{sequence:010d}.json"
        assert f"rejected {name}, moved to {rejected}: malformed" in result.stdout
        assert (rejected / name).read_bytes() == content
        assert (rejected / f"{name}.reason").read_text().startswith("malformed: ")
        assert (rejected / f"{name}.reason").stat().st_mode & 0o777 == 0o600
    assert spooled_files(tmp_path) == []
    assert result.stderr.strip().endswith(f"0 left in {tmp_path}, {len(MALFORMED)} rejected")
    # Set aside, they no longer stand in the way.
    again = update_job("replay", str(tmp_path))
    assert again.returncode == 0, again.stdout


def edit_params(path: Path, **changes: object) -> None:
    record = json.loads(path.read_text())
    record["params"].update(changes)
    for name, value in changes.items():
        if value is None:
            del record["params"][name]
    path.write_text(json.dumps(record))


def test_a_missing_parameter_is_set_aside_as_refused(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    path = seed(tmp_path, testbed.fifo.topic_arn, testbed.endpoint_url, "job-14", "running")
    edit_params(path, MessageGroupId=None)  # a FIFO topic refuses a message without one
    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1
    assert "refused for good: SNS refused the update (" in result.stdout
    assert spooled_files(tmp_path) == []
    assert testbed.fifo.receive() == []


def test_parameters_botocore_refuses_are_set_aside_and_the_job_goes_on(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard.topic_arn
    path = seed(tmp_path, topic, testbed.endpoint_url, "job-15", "running")
    edit_params(path, NoSuchParameter=1)  # refused before anything is sent
    seed(tmp_path, topic, testbed.endpoint_url, "job-15", "succeeded")
    result = update_job("replay", str(tmp_path), "--timeout", "5")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [rejected] = [line for line in result.stdout.splitlines() if line.startswith("rejected")]
    assert "refused for good" in rejected and "NoSuchParameter" in rejected
    assert result.stderr.strip() == f"update-job: replayed 1, 0 left in {tmp_path}, 1 rejected"
    # The job's later update is not held back by it.
    assert [d.message["status"] for d in testbed.standard.receive()] == ["succeeded"]
    assert spooled_files(tmp_path) == []


def test_a_topic_not_found_keeps_the_spool_and_names_the_endpoint(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # A mistyped --endpoint-url or region: every topic "not found". A typo costs nothing.
    gone = "arn:aws:sns:us-east-1:123456789012:gone"
    for job in ("job-9", "job-10"):
        seed(tmp_path, gone, CLOSED_ENDPOINT, job, "running")
    before = sorted(path.read_bytes() for path in spooled_files(tmp_path))
    result = update_job("replay", str(tmp_path), "--endpoint-url", testbed.endpoint_url)
    assert result.returncode == 1
    left = [line for line in result.stdout.splitlines() if line.startswith("left")]
    assert len(left) == 2
    for line in left:
        assert f"topic {gone} does not exist" in line
        assert f"sent to {testbed.endpoint_url}" in line
    assert sorted(path.read_bytes() for path in spooled_files(tmp_path)) == before
    assert not (tmp_path / "rejected").exists()


def test_concurrent_replays_send_each_update_once(
    moto_endpoint: str, strict_fifo: Subscription, tmp_path: Path
) -> None:
    # No content-based deduplication here, so an update sent twice would arrive twice.
    for index in range(6):
        spool_update(
            tmp_path, strict_fifo.topic_arn, CLOSED_ENDPOINT,
            id=f"job-{index % 2}", status="running", progress=index,
            updated=f"2026-01-01T00:00:{index:02d}.000Z",
        )  # fmt: skip
    with contextlib.ExitStack() as running:
        replay = ("replay", str(tmp_path), "--endpoint-url", moto_endpoint)
        replays = [running.enter_context(started_update_job(*replay)) for _ in range(3)]
        outputs = [process.communicate(timeout=60) for process in replays]
    assert [process.returncode for process in replays] == [0, 0, 0], outputs
    sent = [
        line for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("sent")
    ]
    assert len(sent) == 6
    deliveries = strict_fifo.receive()
    assert sorted(d.message["progress"] for d in deliveries) == [0, 1, 2, 3, 4, 5]
    for job in ("job-0", "job-1"):
        progress = [d.message["progress"] for d in deliveries if d.message["id"] == job]
        assert progress == sorted(progress)


def test_a_full_disk_leaves_no_partial_entry_and_says_spooling_failed(
    update_job: RunCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("update_job.outbox.os.link", disk_full)
    with pytest.raises(OSError, match="No space left"):
        seed(tmp_path, UNREACHABLE_TOPIC, CLOSED_ENDPOINT, "job-f", "running")
    assert spooled_files(tmp_path) == []
    assert [path for path in tmp_path.rglob("*") if path.suffix == ".partial"] == []


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
    [entry] = spooled_files(spool_dir)
    directories = [tmp_path / "deep", spool_dir, spool_dir / "outbox", entry.parent]
    for directory in directories:
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    files = [path for path in spool_dir.rglob("*") if path.is_file()]
    assert len(files) >= 3  # the marker, the update, its job's lock
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o757])
def test_a_spool_others_can_write_is_refused(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, mode: int
) -> None:
    # As ssh refuses a key file others can write: another user could plant an update that
    # replay would publish with this user's credentials.
    spool_dir = tmp_path / "shared"
    spool_dir.mkdir()
    spool_dir.chmod(mode)
    refusal = f"spool directory {spool_dir} refused: writable by others (mode {mode:o})"
    publish = update_job(
        "--job-id", "job-o", "--status", "running", *topic_args(testbed.standard),
        "--spool", str(spool_dir),
    )  # fmt: skip
    assert publish.returncode == 2
    assert publish.stderr.splitlines() == [f"update-job: error: {refusal}"]
    replayed = update_job("replay", str(spool_dir))
    assert replayed.returncode == 2
    assert len(replayed.stderr.splitlines()) == 1 and "Traceback" not in replayed.stderr
    ran = tmp_path / "ran"
    run = update_job(
        "run", "--job-id", "job-o", *topic_args(testbed.standard), "--spool", str(spool_dir),
        "--", sys.executable, "-c", f"open({str(ran)!r}, 'w').close()",
    )  # fmt: skip
    # The command still runs (without the spool); its success then exits 2, for the spool.
    assert ran.exists()
    assert run.returncode == 2, run.stderr
    assert refusal in run.stderr
    assert list(spool_dir.iterdir()) == []
    statuses = [d.message["status"] for d in testbed.standard.receive()]
    assert statuses == ["running", "succeeded"]


def test_a_spool_owned_by_another_user_is_refused(update_job: RunCommand, tmp_path: Path) -> None:
    spool_dir = tmp_path / "theirs"
    spool_dir.mkdir(mode=0o700)
    other = 65534 if os.geteuid() == 0 else None  # nobody
    if other is None:
        pytest.skip("only root can give a directory to another user")
    os.chown(spool_dir, other, other)
    result = update_job(
        "--job-id", "job-u", "--status", "running",
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT), "--spool", str(spool_dir),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: spool directory {spool_dir} refused: owned by another user "
        f"(uid {other})"
    ]


@pytest.mark.parametrize("kind", ["fifo", "symlink-to-dev-zero", "directory", "dangling"])
def test_a_hostile_lock_file_never_hangs_and_is_never_followed(
    update_job: RunCommand, tmp_path: Path, kind: str
) -> None:
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "job-k")
    outbox.directory.mkdir(mode=0o700)
    lock = outbox.directory / ".lock"
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "symlink-to-dev-zero":
        lock.symlink_to("/dev/zero")
    elif kind == "directory":
        lock.mkdir()
    else:
        lock.symlink_to(target)
    started = time.monotonic()
    result = update_job(
        "--job-id", "job-k", "--status", "running",
        *topic_args(UNREACHABLE_TOPIC, CLOSED_ENDPOINT), "--timeout", "2",
        "--spool", str(tmp_path), timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert "Traceback" not in line
    assert f"spooled to {outbox.entry_path(1)}" in line
    assert not target.exists()
    replayed = update_job("replay", str(tmp_path), "--deadline", "2", timeout=60)
    assert replayed.returncode == 1
    assert "Traceback" not in replayed.stderr
    assert len(spooled_files(tmp_path)) == 1
    assert not target.exists()


def test_a_stuck_lock_holder_never_holds_a_publish_past_its_timeout(
    update_job: RunCommand, testbed: LocalTopics, tmp_path: Path
) -> None:
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "job-b")
    outbox.directory.mkdir(mode=0o700)
    with locked(outbox.directory / ".lock", time.monotonic()):  # held here all along
        started = time.monotonic()
        result = update_job(
            "--job-id", "job-b", "--status", "running", *topic_args(testbed.standard),
            "--timeout", "1", "--spool", str(tmp_path),
        )  # fmt: skip
        took = time.monotonic() - started
        replayed = update_job("replay", str(tmp_path), "--timeout", "30", "--deadline", "1")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "another process still sends job job-b's updates after 1 s" in line
    assert took < 15  # the process's own start-up aside, 1 s: loose, the machine may be loaded
    assert replayed.returncode == 1
    assert "another process still sends this job's updates" in replayed.stdout
    assert testbed.standard.receive() == []
    # Once the holder is gone, the update goes.
    again = update_job("replay", str(tmp_path))
    assert again.returncode == 0, again.stdout
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-b"]


def test_replay_deadline_bounds_a_long_outage(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    with FaultProxy(testbed.endpoint_url) as hanging:
        hanging.set_fault("hang")
        for index in range(15):
            seed(tmp_path, testbed.standard.topic_arn, hanging.url, f"job-{index}", "running")
        started = time.monotonic()
        result = update_job("replay", str(tmp_path), "--timeout", "30", "--deadline", "1")
        took = time.monotonic() - started
    assert result.returncode == 1
    # One PublishBatch of ten jobs' updates tried for what was left of the deadline, the
    # others not at all (without the deadline: 2 x 30 s). Loose: the machine may be loaded.
    assert took < 25
    assert result.stdout.count("not tried: --deadline reached") == 5
    assert len(spooled_files(tmp_path)) == 15
    assert result.stderr.strip() == f"update-job: replayed 0, 15 left in {tmp_path}"


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


@pytest.mark.parametrize("kind", ["fifo", "huge", "link-to-dev-zero", "directory"])
def test_replay_reads_only_small_regular_files_and_still_sends_the_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, kind: str
) -> None:
    spool_dir = tmp_path / "spool"
    open_spool(spool_dir)
    outbox = Outbox(spool_dir, "job-h")
    outbox.directory.mkdir(mode=0o700)
    hostile = outbox.entry_path(1)
    if kind == "fifo":
        os.mkfifo(hostile)  # an open() for reading would wait for a writer forever
    elif kind == "huge":
        with hostile.open("wb") as file:
            file.truncate(3 * 1024**3)  # sparse: 3 GiB that must never be read whole
    elif kind == "link-to-dev-zero":
        hostile.symlink_to("/dev/zero")
    else:
        hostile.mkdir()
    seed(spool_dir, testbed.standard.topic_arn, CLOSED_ENDPOINT, "job-h", "running")
    result = update_job(
        "replay", str(spool_dir), "--endpoint-url", testbed.endpoint_url, "--deadline", "20",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # 1: an entry was rejected
    assert "Traceback" not in result.stderr
    rejected = spool_dir / "rejected"
    name = f"{outbox.directory.name}-{hostile.name}"
    assert f"rejected {name}, moved to {rejected}: malformed: " in result.stdout
    assert (rejected / f"{name}.reason").exists()
    assert not hostile.exists() and not hostile.is_symlink()
    # The real update was still tried, and sent.
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-h"]
    assert spooled_files(spool_dir) == []


def test_replay_touches_no_file_that_update_job_did_not_write(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    seed(spool_dir, testbed.standard.topic_arn, CLOSED_ENDPOINT, "job-n", "running")
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
    (tmp_path / "outbox").mkdir()  # a user's own directory of that name is no sign of a spool
    for where in (str(tmp_path), "."):
        result = update_job("replay", where, cwd=tmp_path)
        assert result.returncode == 2
        [line] = result.stderr.splitlines()
        assert line.startswith(f"update-job: error: {where} is not a spool directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cwl.output.json", "outbox"]


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


def test_replay_of_a_spool_it_cannot_use_is_one_line_exit_2(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    seed(tmp_path, testbed.standard.topic_arn, CLOSED_ENDPOINT, "job-l", "running")
    [entry] = spooled_files(tmp_path)
    job_dir = entry.parent
    job_dir.rename(tmp_path / "aside")
    job_dir.symlink_to(tmp_path / "aside")  # never followed
    result = update_job("replay", str(tmp_path), "--endpoint-url", testbed.endpoint_url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: spool directory {job_dir} refused: a symbolic link"
    ]
    for proc in ("/proc", "/"):
        result = update_job("replay", proc)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert testbed.standard.receive() == []


def test_replay_in_batches_delivers_every_update_once_in_each_jobs_order(
    moto_endpoint: str, strict_fifo: Subscription, update_job: RunCommand, tmp_path: Path
) -> None:
    # 36 updates of 12 jobs: PublishBatch calls of ten jobs' oldest updates, three rounds.
    # No content-based deduplication: an update sent twice would arrive twice.
    jobs = [f"batch-{index}" for index in range(12)]
    for _ in range(3):
        for job in jobs:
            seed(tmp_path, strict_fifo.topic_arn, CLOSED_ENDPOINT, job, "running")
    result = update_job("replay", str(tmp_path), "--endpoint-url", moto_endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == f"update-job: replayed 36, 0 left in {tmp_path}"
    messages = [delivery.message for delivery in strict_fifo.receive()]
    assert len(messages) == 36
    for job in jobs:
        assert [m["sequence"] for m in messages if m["id"] == job] == [1, 2, 3]
    assert spooled_files(tmp_path) == []


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL"])
def test_the_endpoint_from_the_environment_is_recorded_without_its_password(
    update_job: RunCommand, tmp_path: Path, variable: str
) -> None:
    env = {**os.environ, variable: "http://jobs-user:pa55%20word@127.0.0.1:9"}
    result = update_job(
        "--job-id", "job-env", "--status", "running", "--topic-arn", UNREACHABLE_TOPIC,
        "--timeout", "3", "--spool", str(tmp_path), env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    [path] = spooled_files(tmp_path)
    text = path.read_text()
    assert json.loads(text)["endpoint_url"] == "http://***@127.0.0.1:9"
    assert "pa55" not in text and "jobs-user" not in text
    # Never sent elsewhere (AWS) for want of its password: replay asks for the endpoint.
    replayed = update_job("replay", str(tmp_path))
    assert replayed.returncode == 1
    assert "whose password is never stored: give --endpoint-url again" in replayed.stdout
    assert spooled_files(tmp_path) == [path]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_ends_a_wait_for_a_jobs_lock_and_the_update_stays(
    testbed: LocalTopics, tmp_path: Path, signum: int
) -> None:
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "job-w")
    outbox.directory.mkdir(mode=0o700)
    args = ["--job-id", "job-w", "--status", "running", *topic_args(testbed.standard)]
    with (
        locked(outbox.directory / ".lock", time.monotonic()),  # a stuck sender
        started_update_job(*args, "--timeout", "60", "--spool", str(tmp_path)) as process,
    ):
        wait_until(lambda: bool(spooled_files(tmp_path)), "the queued update")
        time.sleep(0.5)  # waiting for the lock by now
        started = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        took = time.monotonic() - started
    assert process.returncode == 128 + signum, stderr
    assert took < 10  # at once, not after --timeout 60
    [path] = spooled_files(tmp_path)
    name = signal.Signals(signum).name
    assert stderr.splitlines() == [
        f"update-job: error: {name} before the update was sent; spooled to {path}"
    ]
    replayed = run_update_job("replay", str(tmp_path))
    assert replayed.returncode == 0, replayed.stdout
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-w"]


def test_updates_an_older_update_job_spooled_are_moved_into_outboxes_and_sent(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # One file per update, as update-job spooled before outboxes (and without a marker).
    topic = parse_topic_arn(testbed.fifo.topic_arn)
    for second, status in enumerate(["running", "succeeded"]):
        update = make_update("job-old", status)
        record = {
            "spool_format": 1, "spooled_at": "2026-01-01T00:00:00.000Z", "reason": "down",
            "endpoint_url": CLOSED_ENDPOINT, "params": make_envelope(update, topic),
        }  # fmt: skip
        (tmp_path / f"{second:020d}-old{second}.json").write_text(json.dumps(record))
        (tmp_path / f"{second:020d}-old{second}.json").chmod(0o600)
    (tmp_path / f"{9:020d}-other.json").write_text('{"spool_format": 7}')
    tmp_path.chmod(0o700)
    result = update_job("replay", str(tmp_path), "--endpoint-url", testbed.endpoint_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"left {9:020d}-other.json: not an update an older update-job spooled" in result.stdout
    assert result.stderr.strip() == f"update-job: replayed 2, 1 left in {tmp_path}"
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]  # whole, in order
    assert "sequence" not in messages[0]
    assert sorted(path.name for path in tmp_path.glob("*.json")) == [f"{9:020d}-other.json"]


def test_a_job_directory_its_user_cannot_write_stops_a_replay_before_anything_is_sent(
    testbed: LocalTopics,
) -> None:
    """As an ordinary user (root writes anywhere): one job's directory not writable is one
    line, exit 2, nothing sent; once it is writable again, each update goes once."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user (setpriv)")
    nobody = 65534
    # Outside pytest's temporary root, which is private to root.
    parent = Path(tempfile.mkdtemp(prefix="update-job-as-nobody-"))
    parent.chmod(0o755)
    try:
        replay_as_another_user(testbed, parent / "spool", nobody)
    finally:
        shutil.rmtree(parent)


def replay_as_another_user(testbed: LocalTopics, spool_dir: Path, nobody: int) -> None:
    topic = testbed.fifo
    for job in ("job-a", "job-b"):
        seed(spool_dir, topic.topic_arn, testbed.endpoint_url, job, "running")
    for path in [spool_dir, *spool_dir.rglob("*")]:
        os.chown(path, nobody, nobody, follow_symlinks=False)
    locked_out = spooled_files(spool_dir)[0].parent
    locked_out.chmod(0o500)
    as_nobody = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"]

    def replay_as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_nobody, UPDATE_JOB, "replay", str(spool_dir)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    refused = replay_as_nobody()
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        f"update-job: error: cannot use spool directory {spool_dir}: {locked_out} is not writable"
    ]
    assert topic.receive() == []
    assert len(spooled_files(spool_dir)) == 2
    locked_out.chmod(0o700)
    replayed = replay_as_nobody()
    assert replayed.returncode == 0, replayed.stderr
    assert sorted(delivery.message["id"] for delivery in topic.receive()) == ["job-a", "job-b"]
    assert spooled_files(spool_dir) == []
