"""A job's updates leave in the order they were made, every one whole: each job's outbox in
the spool is sent oldest first, one Publish at a time. Time never goes back for a job, a
finished job stays finished, and the consumer orders by the outbox's sequence numbers,
never by comparing clocks of different hosts.

The jobs database is judged as the consumer builds it (tests/consumer.py): each message
merged into the job's document in the order the queue delivers them."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localaws import Subscription
from tests.conftest import (
    CLOSED_ENDPOINT,
    LocalTopics,
    RunCommand,
    spool_update,
    spooled_files,
    started_update_job,
    topic_args,
    wait_until,
)
from tests.consumer import document_after
from tests.faultproxy import FaultProxy
from update_job import message as message_module
from update_job.envelope import parse_topic_arn
from update_job.errors import DeliveryFailed
from update_job.message import JobUpdate, make_update
from update_job.outbox import Entry, Outbox, job_directories, locked, open_spool
from update_job.replay import ReplayReport, Round
from update_job.sender import Sender

PYTHON = sys.executable
TOPIC = parse_topic_arn("arn:aws:sns:us-east-1:123456789012:jobs.fifo")


def stamp(seconds: float) -> str:
    time = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return time.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def queued(spool_dir: Path, **fields: Any) -> dict[str, Any]:
    """The message of the update made of `fields`, as its job's outbox queued it."""
    path = spool_update(spool_dir, TOPIC.arn, None, **fields)
    return dict(json.loads(json.loads(path.read_text())["params"]["Message"]))


# -- Time never goes back for a job ------------------------------------------------------


def test_a_clock_stepped_back_gives_the_last_stamp_plus_one_millisecond(tmp_path: Path) -> None:
    first = queued(
        tmp_path, id="j", status="running", updated=stamp(10), **{"start-time": stamp(10)}
    )
    # Made 5 s "earlier": an NTP step, a VM resumed, another node's clock.
    second = queued(tmp_path, id="j", status="running", updated=stamp(5), progress=50)
    final = queued(
        tmp_path, id="j", status="succeeded", updated=stamp(4), **{"stop-time": stamp(4)}
    )
    assert [first["updated"], second["updated"], final["updated"]] == [
        stamp(10), stamp(10.001), stamp(10.002),
    ]  # fmt: skip
    assert [first["sequence"], second["sequence"], final["sequence"]] == [1, 2, 3]
    # The stop-time moved with it: never before the start-time.
    assert final["stop-time"] == stamp(10.002)


def test_stop_time_is_never_before_a_start_time_from_a_clock_an_hour_ahead(
    tmp_path: Path,
) -> None:
    # The start update came from a node whose clock is an hour ahead of this one.
    queued(tmp_path, id="j", status="running", updated=stamp(0), **{"start-time": stamp(3600)})
    final = queued(tmp_path, id="j", status="failed", updated=stamp(60), **{"stop-time": stamp(60)})
    assert final["stop-time"] == stamp(3600)
    assert final["updated"] == stamp(60)


def test_within_one_process_updated_only_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    # `run` without --spool: the clock steps back 5 s between the start and the final update.
    moments = iter(
        [datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)]
    )

    class SteppingClock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return next(moments)

    monkeypatch.setattr(message_module, "datetime", SteppingClock)
    start = make_update("j", "running", start_time="now")
    final = make_update("j", "succeeded", start_time=start.start_time)
    assert final.updated > start.updated
    assert final.stop_time is not None and start.start_time is not None
    assert final.stop_time >= start.start_time


# -- A finished job stays finished --------------------------------------------------------


def test_no_update_after_the_final_one_is_published(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    end = update_job("--job-id", "late", "--exit-code", "3", *topic_args(testbed.fifo),
                     "--spool", str(tmp_path))  # fmt: skip
    assert end.returncode == 3, end.stderr
    # A heartbeat racing the end, or a step that reports late.
    late = update_job(
        "--job-id", "late", "--status", "running", "--message", "step 2",
        *topic_args(testbed.fifo), "--spool", str(tmp_path),
    )  # fmt: skip
    assert late.returncode == 0, late.stderr
    assert late.stderr.splitlines() == [
        "update-job: warning: not published: job late already finished: this running update "
        "is not published"
    ]
    [final] = [d.message for d in testbed.fifo.receive()]
    assert final["status"] == "failed"
    # A final update after it still goes (a correction of the outcome is the user's call).
    again = update_job("--job-id", "late", "--exit-code", "0", *topic_args(testbed.fifo),
                       "--spool", str(tmp_path))  # fmt: skip
    assert again.returncode == 0, again.stderr
    [corrected] = [d.message for d in testbed.fifo.receive()]
    assert corrected["sequence"] == final["sequence"] + 1


# -- Every update sent, whole, in order ---------------------------------------------------


def test_every_update_arrives_whole_so_no_field_is_lost(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # A middle update spooled during an outage, the end update made once SNS is back: the
    # end update sends the middle one first, then itself; outputs merge key by key.
    topic = testbed.fifo
    spool_dir = tmp_path / "spool"
    start = update_job(
        "--job-id", "whole", "--status", "running", "--inputs", '{"granule": "g1"}',
        *topic_args(topic), "--spool", str(spool_dir),
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    middle = update_job(
        "--job-id", "whole", "--status", "running", "--outputs", '{"stage1": "s3://b/1"}',
        *topic_args(topic, CLOSED_ENDPOINT), "--timeout", "3", "--spool", str(spool_dir),
    )  # fmt: skip
    assert middle.returncode == 1
    end = update_job(
        "--job-id", "whole", "--exit-code", "0", "--outputs", '{"summary": "s3://b/s"}',
        *topic_args(topic), "--spool", str(spool_dir),
    )  # fmt: skip
    assert end.returncode == 0, end.stderr
    assert "update-job: warning: job whole: 1 earlier update(s) sent first" in end.stderr
    messages = [delivery.message for delivery in topic.receive()]
    assert [m["sequence"] for m in messages] == [1, 2, 3]
    assert [m["status"] for m in messages] == ["running", "running", "succeeded"]
    assert spooled_files(spool_dir) == []
    document = document_after(messages, {"id": "whole", "status": "submitted"})
    assert document is not None
    assert document["status"] == "succeeded"
    assert document["inputs"] == {"granule": "g1"}
    assert document["outputs"] == {"stage1": "s3://b/1", "summary": "s3://b/s"}


def test_run_with_a_spooled_start_sends_it_before_the_final_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic, moto_endpoint = testbed.fifo, testbed.endpoint_url
    spool_dir = tmp_path / "spool"
    with FaultProxy(moto_endpoint) as proxy:
        proxy.pause_listening()
        command = ["run", "--job-id", "job-4", *topic_args(topic, proxy.url)]
        command += ["--timeout", "2", "--spool", str(spool_dir), "--heartbeat", "0.2"]
        command += ["--inputs", '{"n": 7}', "--user-id", "bob", "--label", "l1"]
        # The command (given update-job's stdin) lasts until the endpoint is back.
        stdin_reader = ["--", PYTHON, "-c", "import sys, time; sys.stdin.read(); time.sleep(1)"]
        with started_update_job(*command, *stdin_reader, stdin=subprocess.PIPE) as process:
            wait_until(lambda: bool(spooled_files(spool_dir)), "the queued start update")
            # Its --timeout passes; heartbeats come, and are not queued behind it.
            time.sleep(4)
            proxy.resume_listening()
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "heartbeat not queued: 1 earlier update(s) of job job-4 wait" in stderr
    messages = [delivery.message for delivery in topic.receive()]
    assert (messages[0]["status"], messages[-1]["status"]) == ("running", "succeeded")
    assert [m["sequence"] for m in messages] == list(range(1, len(messages) + 1))
    assert spooled_files(spool_dir) == []
    document = document_after(messages, {"id": "job-4", "status": "submitted"})
    assert document is not None
    assert document["status"] == "succeeded"
    assert document["inputs"] == {"n": 7}
    assert document["start-time"] <= document["stop-time"]


@pytest.mark.parametrize("trial", range(2))
def test_concurrent_publishes_of_one_job_leave_in_the_order_they_were_made(
    moto_endpoint: str, strict_fifo: Subscription, tmp_path: Path, trial: int
) -> None:
    # No content-based deduplication: an update sent twice would arrive twice.
    count = 12
    args = ["--job-id", f"busy-{trial}", "--status", "running", "--spool", str(tmp_path)]
    args += topic_args(strict_fifo, moto_endpoint)
    with contextlib.ExitStack() as running:
        processes = [
            running.enter_context(started_update_job(*args, "--progress", str(index)))
            for index in range(count)
        ]
        results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * count, results
    messages = [delivery.message for delivery in strict_fifo.receive()]
    assert len(messages) == count
    assert [m["sequence"] for m in messages] == list(range(1, count + 1))
    assert [m["updated"] for m in messages] == sorted({m["updated"] for m in messages})
    assert sorted(m["progress"] for m in messages) == list(range(count))
    assert spooled_files(tmp_path) == []


def test_one_jobs_stuck_outbox_never_delays_another_job(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    open_spool(tmp_path)
    stuck = Outbox(tmp_path, "stuck")
    stuck.directory.mkdir(mode=0o700)
    with locked(stuck.directory / ".lock", time.monotonic()):  # a sender stopped mid-way
        started = time.monotonic()
        result = update_job(
            "--job-id", "free", "--status", "running", *topic_args(testbed.standard),
            "--timeout", "30", "--spool", str(tmp_path),
        )  # fmt: skip
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert took < 20  # far from the 30 s a wait for the other job's lock would take
    assert [d.message["id"] for d in testbed.standard.receive()] == ["free"]


# -- The consumer never compares clocks of different hosts --------------------------------


@pytest.mark.parametrize("server_clock", [timedelta(seconds=5), timedelta(hours=-1)])
def test_a_processing_server_clock_ahead_or_behind_drops_no_worker_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, server_clock: timedelta
) -> None:
    # The processing server stored `submitted` stamped by its own clock.
    server_now = datetime.now(UTC) + server_clock
    submitted = {
        "id": "skewed", "status": "submitted", "inputs": {"a": 1},
        "updated": server_now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }  # fmt: skip
    for spool in ([], ["--spool", str(tmp_path)]):
        result = update_job(
            "run", "--job-id", "skewed", *topic_args(testbed.fifo), *spool,
            "--", PYTHON, "-c", "pass",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        messages = [delivery.message for delivery in testbed.fifo.receive()]
        assert [m["status"] for m in messages] == ["running", "succeeded"]
        document = document_after(messages, submitted)
        assert document is not None
        assert document["status"] == "succeeded", (server_clock, messages)
        assert document["inputs"] == {"a": 1}
        assert document["message"] == messages[-1]["message"]


def test_the_consumer_drops_an_earlier_outbox_update_and_a_late_non_final_one() -> None:
    # A standard topic keeps no order: what the consumer contract does with that.
    job = {"id": "j", "status": "submitted"}
    running = {"id": "j", "status": "running", "updated": stamp(1), "sequence": 1}
    progress = {"id": "j", "status": "running", "updated": stamp(2), "sequence": 2,
                "progress": 50}  # fmt: skip
    final = {"id": "j", "status": "succeeded", "updated": stamp(3), "sequence": 3,
             "progress": 100}  # fmt: skip
    in_order = document_after([running, progress, final], job)
    late_progress = document_after([running, final, progress], job)
    late_start = document_after([progress, running, final], job)
    assert in_order == late_progress == late_start
    assert in_order is not None and in_order["progress"] == 100
    # Without a sequence (no spool), a heartbeat after the end does not reopen the job.
    heartbeat = {"id": "j", "status": "running", "updated": stamp(9), "progress": 60}
    assert document_after([final, heartbeat], job) == document_after([final], job)


# -- The outbox under any interleaving of appends, crashes and replays -------------------

JOBS = ["job-a", "job-b", "job-c"]
STATUSES = ["running", "succeeded"]


class Crash(BaseException):
    """The process dies here (SIGKILL): nothing after it runs, its locks are released."""


class Topic:
    """A FIFO topic as SNS keeps one: a repeated deduplication id is dropped."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.delivered: list[dict[str, Any]] = []

    def publisher(self, mode: str) -> Any:
        def publish(entry: Entry, deadline: float) -> str:
            if mode == "crash-before":
                raise Crash
            if mode == "down":
                raise DeliveryFailed("endpoint down")
            dedup = str(entry.params["MessageDeduplicationId"])
            if dedup not in self.seen:
                self.seen.add(dedup)
                self.delivered.append(json.loads(entry.params["Message"]))
            if mode == "crash-after":
                raise Crash  # delivered, but killed before the outbox knew
            return dedup

        return publish

    def take(self, entry: Entry) -> str:
        return str(self.publisher("ok")(entry, 0.0))


class BatchSender:
    """What replay's rounds ask of a Sender, sending to `topic` in PublishBatch calls that
    go as `mode` says; "partial": SNS takes every other entry of a call, fails the rest."""

    def __init__(self, topic: Topic, mode: str) -> None:
        self.topic, self.mode = topic, mode
        self.timeout, self.endpoint_url = 1.0, None

    def endpoint_for(self, entry: Entry) -> None:
        return None

    def publish(self, entry: Entry, deadline: float) -> str:
        return str(self.topic.publisher(self.mode.replace("partial", "ok"))(entry, deadline))

    def publish_batch(self, entries: list[Entry], deadline: float) -> dict[str, Any]:
        if self.mode in ("down", "crash-before"):
            self.publish(entries[0], deadline)
        answer: dict[str, list[dict[str, Any]]] = {"Successful": [], "Failed": []}
        for index, entry in enumerate(entries):
            if self.mode == "partial" and index % 2:
                answer["Failed"].append({"Id": str(index), "Code": "InternalError"})
            else:
                answer["Successful"].append({"Id": str(index), "MessageId": self.topic.take(entry)})
        if self.mode == "crash-after":
            raise Crash
        return answer


def batch_replay(spool_dir: Path, topic: Topic, mode: str) -> None:
    """`update-job replay`'s rounds of PublishBatch calls, until done, failed or killed."""
    sender = cast(Sender, BatchSender(topic, mode))
    outboxes = [Outbox.at(directory) for directory in job_directories(spool_dir)]
    with contextlib.suppress(Crash):
        while outboxes:
            outboxes = Round(sender, math.inf, ReplayReport()).run(outboxes)


MODES = st.sampled_from(["ok", "down", "crash-before", "crash-after"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("append"), st.sampled_from(JOBS), st.sampled_from(["running", "succeeded"])
        ),
        st.tuples(st.just("send"), st.sampled_from(JOBS), MODES),
        st.tuples(st.just("replay"), st.just(""), MODES),
        st.tuples(st.just("batch-replay"), st.just(""), st.one_of(MODES, st.just("partial"))),
        st.tuples(st.just("partial"), st.sampled_from(JOBS), st.just("")),
    ),
    max_size=25,
)


def drain(outbox: Outbox, publish: Any) -> None:
    with contextlib.suppress(Crash):
        outbox.send(publish, time.monotonic() + 5, 1.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_any_interleaving_delivers_each_jobs_updates_once_in_creation_order(
    operations: list[tuple[str, str, str]],
) -> None:
    topic = Topic()
    made: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS}
    with tempfile.TemporaryDirectory() as directory:
        spool_dir = Path(directory)
        open_spool(spool_dir)
        for operation, job, mode in operations:
            if operation == "append":  # then killed before sending (or sent below)
                entry = Outbox(spool_dir, job).append(make_update(job, mode), TOPIC, None)
                if entry is not None:
                    made[job].append(json.loads(entry.params["Message"]))
            elif operation == "send":
                drain(Outbox(spool_dir, job), topic.publisher(mode))
            elif operation == "replay":
                for job_dir in job_directories(spool_dir):
                    drain(Outbox.at(job_dir), topic.publisher(mode))
            elif operation == "batch-replay":
                batch_replay(spool_dir, topic, mode)
            else:  # killed while writing an entry: its temporary file stays
                job_dir = Outbox(spool_dir, job).directory
                job_dir.mkdir(mode=0o700, exist_ok=True)
                (job_dir / ".tmp-killed.partial").write_text('{"half": ')
        for job_dir in job_directories(spool_dir):  # the last replay, SNS back
            drain(Outbox.at(job_dir), topic.publisher("ok"))
        assert spooled_files(spool_dir) == []
        assert not (spool_dir / "rejected").exists()
    for job in JOBS:
        arrived = [message for message in topic.delivered if message["id"] == job]
        assert arrived == made[job]  # all, once, whole, in the order they were made
        assert [m["sequence"] for m in arrived] == list(range(1, len(arrived) + 1))
        times = [m["updated"] for m in arrived]
        assert times == sorted(set(times))
        statuses = [m["status"] for m in arrived]
        if "succeeded" in statuses:  # nothing but final updates after the first final one
            assert set(statuses[statuses.index("succeeded") :]) == {"succeeded"}


def test_a_finished_jobs_outbox_takes_no_non_final_update(tmp_path: Path) -> None:
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "done")
    assert outbox.append(make_update("done", "failed"), TOPIC, None) is not None
    assert outbox.append(make_update("done", "running"), TOPIC, None) is None
    assert len(outbox.pending()) == 1
    update = JobUpdate.model_validate({"id": "done", "status": "running", "updated": stamp(0)})
    assert outbox.append(update, TOPIC, None) is None


class RefusingBatchSender(BatchSender):
    """A replay's PublishBatch that SNS answers with every entry refused for good."""

    def publish_batch(self, entries: list[Entry], deadline: float) -> dict[str, Any]:
        failed = [
            {"Id": str(index), "Code": "InvalidParameter", "SenderFault": True, "Message": "no"}
            for index in range(len(entries))
        ]
        return {"Successful": [], "Failed": failed}


@pytest.mark.parametrize("how", ["refused-for-good", "damaged", "refused-in-a-batch"])
def test_a_number_set_aside_is_never_given_again(tmp_path: Path, how: str) -> None:
    """The consumer orders by sequence: a job's newest entry set aside (refused for good,
    alone or in a replay's batch, or not readable) keeps its number taken, so the next
    update is never numbered like one the consumer may already have seen."""
    open_spool(tmp_path)
    outbox = Outbox(tmp_path, "job-7")
    sent: list[int] = []

    def accept(entry: Entry, deadline: float) -> str:
        sent.append(entry.sequence)
        return f"id-{entry.sequence}"

    def refuse(entry: Entry, deadline: float) -> str:
        raise DeliveryFailed("InvalidParameter", permanent=True)

    first = outbox.append(make_update("job-7", "running"), TOPIC, None)
    assert first is not None
    outbox.send(accept, time.monotonic() + 5, 5)
    second = outbox.append(make_update("job-7", "running", progress=50), TOPIC, None)
    assert second is not None
    report = ReplayReport()
    if how == "refused-in-a-batch":
        sender = cast(Sender, RefusingBatchSender(Topic(), "ok"))
        Round(sender, math.inf, report).run([outbox])
    else:
        if how == "damaged":
            second.path.write_text("{not json")
        drained = outbox.send(refuse, time.monotonic() + 5, 5)
        assert [sequence for sequence, _, _ in drained.rejected] == [second.sequence]
    assert outbox.pending() == []
    third = outbox.append(make_update("job-7", "succeeded"), TOPIC, None)
    assert third is not None
    assert third.sequence > second.sequence > first.sequence
    outbox.send(accept, time.monotonic() + 5, 5)
    assert sent == [first.sequence, third.sequence]
