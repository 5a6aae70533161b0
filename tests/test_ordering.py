"""No update sets its job back: stale updates sent through a spool directory lose only the
fields newer updates set, and a newer update that overtook an older one is restated.

The jobs database is judged as the consumer builds it: each message merged into the job's
document in the order the queue delivers them (`submitted` replacing it)."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    LocalTopics,
    RunCommand,
    run_update_job,
    started_update_job,
    topic_args,
    wait_for,
    wait_until,
)
from tests.consumer import document_after
from tests.faultproxy import FaultProxy
from update_job.envelope import make_envelope, parse_topic_arn
from update_job.jobstate import JobRecord, JobState
from update_job.message import JobUpdate
from update_job.spool import replay_lock, spooled_files, store

PYTHON = sys.executable


def consumer_document(messages: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    """The job's document as the consumer leaves it: it exists (the processing server
    created it); `submitted` indexes, every other status merges; a message older than the
    document is not applied, one with the same `updated` is (docs/consumer.md)."""
    document = document_after(messages, {"id": job_id, "status": "submitted"})
    assert document is not None
    return document


def stamp(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000Z"


def spool_update(spool_dir: Path, topic: Any, endpoint: str, **fields: Any) -> Path:
    """Seed the spool with an update, as a failed delivery leaves it."""
    update = JobUpdate.model_validate(fields)
    params = make_envelope(update, parse_topic_arn(topic.topic_arn))
    return store(params, spool_dir, "endpoint down", endpoint)


START_FIELDS = {
    "inputs": {"granule": "s3://bucket/g1"},
    "labels": ["campaign-3"],
    "user-id": "alice",
    "start-time": stamp(1),
    "message": "started",
}


def test_a_start_replayed_after_the_end_was_delivered_keeps_the_job_finished(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic, moto_endpoint = testbed.fifo, testbed.endpoint_url
    spool_dir = tmp_path / "spool"
    spool_update(
        spool_dir, topic, moto_endpoint, id="job-1", status="running", updated=stamp(1),
        **START_FIELDS,
    )  # fmt: skip
    end = update_job(
        "--job-id", "job-1", "--exit-code", "0", "--message", "done", "--label", "campaign-3",
        *topic_args(topic),
        "--spool", str(spool_dir),
    )  # fmt: skip
    assert end.returncode == 0, end.stderr

    result = update_job("replay", str(spool_dir), "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert "without the fields newer updates set" in result.stdout
    assert spooled_files(spool_dir) == []
    deliveries = topic.receive()
    messages = [delivery.message for delivery in deliveries]
    assert [message["status"] for message in messages] == ["succeeded", "succeeded"]
    replayed = messages[1]
    # What only the start update knew still arrives; what the end set is left alone.
    assert replayed["inputs"] == START_FIELDS["inputs"]
    assert replayed["user-id"] == "alice"
    assert replayed["start-time"] == stamp(1)
    assert "labels" not in replayed
    assert "message" not in replayed
    assert replayed["updated"] == messages[0]["updated"]
    # A rewritten body gets its own deduplication id, derived from that body.
    dedup = deliveries[1].attributes["MessageDeduplicationId"]
    assert dedup == hashlib.sha256(deliveries[1].envelope["Message"].encode()).hexdigest()
    assert deliveries[1].envelope["MessageAttributes"]["status"]["Value"] == "succeeded"

    document = consumer_document(messages, "job-1")
    assert document["status"] == "succeeded"
    assert document["exit-code"] == 0
    assert document["message"] == "done"
    assert document["inputs"] == START_FIELDS["inputs"]
    assert document["labels"] == ["campaign-3"]
    assert document["user-id"] == "alice"
    assert document["start-time"] == stamp(1)


def test_an_update_with_nothing_left_of_its_own_is_not_sent(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    topic = testbed.standard
    spool_dir = tmp_path / "spool"
    spool_update(
        spool_dir, topic, testbed.endpoint_url, id="job-2", status="running", updated=stamp(2),
        message="running for 60 s",
    )  # fmt: skip
    end = update_job(
        "--job-id", "job-2", "--status", "failed", "--message", "out of memory",
        *topic_args(topic),
        "--spool", str(spool_dir),
    )  # fmt: skip
    assert end.returncode == 0, end.stderr
    result = update_job("replay", str(spool_dir))
    assert result.returncode == 0, result.stderr
    assert "superseded" in result.stdout
    assert [delivery.message["status"] for delivery in topic.receive()] == ["failed"]
    assert spooled_files(spool_dir) == []


def test_an_end_update_that_overtakes_a_replay_in_progress_is_restated(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # The replay's start update is held up on its way (a slow endpoint) while the end
    # update goes straight through: SNS takes the end first, then the stale start.
    topic, moto_endpoint = testbed.fifo, testbed.endpoint_url
    spool_dir = tmp_path / "spool"
    with FaultProxy(moto_endpoint) as slow:
        spool_update(
            spool_dir, topic, slow.url, id="job-3", status="running", updated=stamp(3),
            **START_FIELDS,
        )  # fmt: skip
        slow.fail_next(1, "delay", delay=4.0)
        with started_update_job("replay", str(spool_dir), "--timeout", "20") as replay:
            wait_until(lambda: slow.requests_seen >= 1, "the replay's request")
            assert slow.requests_seen == 1
            end = update_job(
                "--job-id", "job-3", "--exit-code", "2", "--message", "done", "--label", "l",
                *topic_args(topic),
                "--spool", str(spool_dir),
            )  # fmt: skip
            assert end.returncode == 2, end.stderr
            stdout, stderr = replay.communicate(timeout=60)
    assert replay.returncode == 0, stderr
    assert "1 correction(s) sent" in stdout
    messages = [delivery.message for delivery in wait_for(topic, 3)]
    # The order SNS took them in: the end, the stale start, then the end's status again.
    assert [message["status"] for message in messages] == ["failed", "running", "failed"]
    document = consumer_document(messages, "job-3")
    assert document["status"] == "failed"
    assert document["exit-code"] == 2
    assert document["updated"] == messages[0]["updated"]
    assert document["inputs"] == START_FIELDS["inputs"]
    assert document["user-id"] == "alice"
    assert document["start-time"] == stamp(1)
    assert document["labels"] == ["l"]
    assert document["message"] == "done"


def test_run_with_a_spooled_start_ends_finished_with_the_start_fields(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # The start update is spooled (the endpoint is down as the command starts), the final
    # one delivered; a later replay brings the inputs without setting the job back.
    topic, moto_endpoint = testbed.fifo, testbed.endpoint_url
    spool_dir = tmp_path / "spool"
    with FaultProxy(moto_endpoint) as proxy:
        proxy.pause_listening()
        command = ["run", "--job-id", "job-4", *topic_args(topic, proxy.url)]
        command += ["--timeout", "1", "--spool", str(spool_dir)]
        command += ["--inputs", '{"n": 7}', "--user-id", "bob", "--label", "l1"]
        # The command (given update-job's stdin) lasts until the endpoint is back.
        stdin_reader = ["--", PYTHON, "-c", "import sys; sys.stdin.read()"]
        with started_update_job(*command, *stdin_reader, stdin=subprocess.PIPE) as process:
            wait_until(lambda: bool(spooled_files(spool_dir)), "the spooled start update")
            proxy.resume_listening()
            _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    [final] = topic.receive()
    assert final.message["status"] == "succeeded"
    assert len(spooled_files(spool_dir)) == 1

    result = update_job("replay", str(spool_dir), "--endpoint-url", moto_endpoint)
    assert result.returncode == 0, result.stderr
    messages = [final.message, *(delivery.message for delivery in topic.receive())]
    assert [message["status"] for message in messages] == ["succeeded", "succeeded"]
    document = consumer_document(messages, "job-4")
    assert document["status"] == "succeeded"
    assert document["inputs"] == {"n": 7}
    assert document["user-id"] == "bob"
    assert document["labels"] == ["l1"]
    assert document["start-time"] == final.message["start-time"]
    assert document["stop-time"] == final.message["stop-time"]


# The ordering rules themselves, on every interleaving: each update claims its fields,
# reaches SNS at some later moment (or fails, and is replayed later), and is acknowledged.

OPTIONAL_FIELDS = ["inputs", "labels", "user-id", "start-time", "message", "progress", "outputs"]


FINAL = ("succeeded", "failed")


@st.composite
def histories(
    draw: st.DrawFn, after_final: bool = False
) -> tuple[list[dict[str, Any]], list[int], list[bool]]:
    """A job's updates in `updated` order; a final status is followed only by final ones
    (a job does not run again once it ended), unless `after_final`."""
    count = draw(st.integers(min_value=2, max_value=6))
    updates = []
    ended = False
    for index in range(count):
        names = draw(st.lists(st.sampled_from(OPTIONAL_FIELDS), unique=True))
        # `submitted` (which replaces the document) as the first update, as the
        # processing server sends it.
        choices = ["running", *FINAL, *(["submitted"] * (index == 0))]
        status = draw(st.sampled_from(FINAL if ended and not after_final else choices))
        ended = ended or status in FINAL
        update: dict[str, Any] = {"id": "job-p", "status": status, "updated": stamp(10 + index)}
        for name in names:
            update[name] = f"{name} of update {index}"
        updates.append(update)
    # Each update appears twice: claimed at its first appearance, acknowledged at its second.
    schedule = draw(st.permutations([index for index in range(count) for _ in range(2)]))
    fails = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return updates, list(schedule), fails


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories())
def test_any_interleaving_ends_as_if_in_order(
    history: tuple[list[dict[str, Any]], list[int], list[bool]], tmp_path_factory: Any
) -> None:
    updates, _, _ = history
    arrived = play(history, tmp_path_factory)
    assert consumer_document(arrived, "job-p") == consumer_document(updates, "job-p")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories(after_final=True))
def test_no_interleaving_takes_a_job_out_of_a_final_status(
    history: tuple[list[dict[str, Any]], list[int], list[bool]], tmp_path_factory: Any
) -> None:
    # Even when a clock put a non-final update after a final one.
    updates, _, _ = history
    arrived = play(history, tmp_path_factory)
    document = document_after(arrived, {"id": "job-p", "status": "submitted"})
    assert document is not None
    if any(update["status"] in FINAL for update in updates):
        assert document["status"] in FINAL, arrived


def play(
    history: tuple[list[dict[str, Any]], list[int], list[bool]], tmp_path_factory: Any
) -> list[dict[str, Any]]:
    """The messages that reach the consumer, in order, when `history` is played."""
    updates, schedule, fails = history
    state = JobState(tmp_path_factory.mktemp("spool"), "job-p")
    arrived: list[dict[str, Any]] = []
    claims: dict[int, Any] = {}
    spooled: list[int] = []

    def acknowledge(outgoing: Any) -> None:
        arrived.append(outgoing.message)
        fix = state.delivered(outgoing)
        while fix is not None:
            arrived.append(fix.message)
            fix = state.correction(fix)

    for index in schedule:
        if index not in claims:
            claims[index] = state.prepare(updates[index])
            continue
        outgoing = claims[index]
        if outgoing is None:
            continue  # superseded: nothing to send
        if fails[index]:
            state.withdraw(outgoing)  # not delivered: spooled, replayed below
            spooled.append(index)
        else:
            acknowledge(outgoing)
    for index in spooled:  # the replay, oldest spooled first
        outgoing = state.prepare(updates[index])
        if outgoing is not None:
            acknowledge(outgoing)
    return arrived


def test_stale_submitted_is_merged_not_indexed(tmp_path: Path) -> None:
    # Replayed after the job ran, a `submitted` would replace the whole document.
    state = JobState(tmp_path, "job-s")
    running = {"id": "job-s", "status": "running", "updated": stamp(5), "labels": ["x"]}
    submitted = {"id": "job-s", "status": "submitted", "updated": stamp(4), "inputs": {"a": 1}}
    first = state.prepare(running)
    assert first is not None
    assert state.delivered(first) is None
    stale = state.prepare(submitted)
    assert stale is not None
    assert stale.message == {
        "id": "job-s", "status": "running", "updated": stamp(5), "inputs": {"a": 1},
    }  # fmt: skip
    assert json.loads(json.dumps(stale.message))["status"] == "running"


def test_run_never_waits_for_a_replay_in_progress(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    # A replay of the same spool holds its lock for as long as this test needs it.
    with replay_lock(spool_dir):
        result = update_job(
            "run", "--job-id", "job-5", *topic_args(testbed.standard), "--spool", str(spool_dir),
            "--", PYTHON, "-c", "pass", timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    statuses = [delivery.message["status"] for delivery in testbed.standard.receive()]
    assert statuses == ["running", "succeeded"]


@pytest.mark.parametrize("trial", range(6))
def test_replays_racing_direct_updates_end_as_if_in_order(
    testbed: LocalTopics, tmp_path: Path, trial: int
) -> None:
    # Stale updates replayed through a slow endpoint while the job's newer updates go
    # straight to SNS, at random moments: whatever the interleaving, the document ends as
    # if every update had arrived in order.
    rng = random.Random(trial)  # noqa: S311 - timing, not secrets
    topic, moto_endpoint = testbed.fifo, testbed.endpoint_url
    spool_dir = tmp_path / "spool"
    job = f"job-race-{trial}"
    with FaultProxy(moto_endpoint) as slow:
        slow.set_fault("delay", delay=rng.uniform(1.0, 2.5))
        stale: list[dict[str, Any]] = [
            {"id": job, "status": "running", "updated": stamp(1), **START_FIELDS},
            {"id": job, "status": "running", "updated": stamp(2), "message": "step 2",
             "progress": 50},
        ]  # fmt: skip
        for update in stale:
            spool_update(spool_dir, topic, slow.url, **update)
        newer: list[dict[str, Any]] = []
        with started_update_job("replay", str(spool_dir), "--timeout", "20") as replay:
            for args in (["--status", "running", "--progress", "90", "--message", "step 3"],
                         ["--exit-code", "0", "--message", "done", "--label", "l"]):  # fmt: skip
                time.sleep(rng.uniform(0, 1.5))
                result = run_update_job(
                    "--job-id", job, *args, *topic_args(topic), "--spool", str(spool_dir), "--json",
                )  # fmt: skip
                assert result.returncode == 0, result.stderr
                newer.append(json.loads(result.stdout)["message"])
            stdout, stderr = replay.communicate(timeout=90)
    assert replay.returncode == 0, stdout + stderr
    arrived = [delivery.message for delivery in topic.receive()]
    expected = consumer_document([*stale, *newer], job)
    assert consumer_document(arrived, job) == expected
    assert expected["status"] == "succeeded"
    assert expected["inputs"] == START_FIELDS["inputs"]


FAR_FUTURE = "2999-01-01T00:00:00.000Z"


def record_of(spool_dir: Path, job: str, fields: dict[str, tuple[str, Any]]) -> Path:
    """The job's record in the spool as another node (or a clock) left it."""
    state = JobState(spool_dir, job)
    JobRecord(job, fields, {}).save(state.path)
    return state.path


def test_a_clock_ahead_never_makes_a_finished_job_running(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # A `running` sent from a node whose clock was far ahead (or before the clock was stepped
    # back): its `updated` is later than the job's real end.
    running = {"status": (FAR_FUTURE, "running"), "updated": (FAR_FUTURE, FAR_FUTURE),
               "progress": (FAR_FUTURE, 50)}  # fmt: skip
    record_of(tmp_path, "skew", running)
    result = update_job(
        "--job-id", "skew", "--exit-code", "0", *topic_args(testbed.fifo),
        "--spool", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.fifo.receive()
    assert delivery.message["status"] == "succeeded"
    assert delivery.message["progress"] == 100
    assert delivery.message["updated"] > FAR_FUTURE  # just after: it stands at the consumer
    assert delivery.envelope["MessageAttributes"]["status"]["Value"] == "succeeded"
    # The log line and the receipt say what went out.
    assert result.stderr.splitlines()[0].startswith("update-job: published succeeded for job skew")
    receipt = json.loads(result.stdout)
    assert receipt["sent"]["message"] == delivery.message
    after = document_after([delivery.message], {"id": "skew", "status": "running",
                                                "updated": FAR_FUTURE, "progress": 50})  # fmt: skip
    assert after is not None and after["status"] == "succeeded" and after["progress"] == 100


def test_no_update_after_a_final_one_sets_another_status_whatever_its_time(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    end = update_job("--job-id", "late", "--exit-code", "3", *topic_args(testbed.fifo),
                     "--spool", str(tmp_path))  # fmt: skip
    assert end.returncode == 3, end.stderr
    # A `running` stamped later (a node whose clock is ahead, a heartbeat racing the end).
    late = update_job(
        "--job-id", "late", "--status", "running", "--message", "step 2", "--label", "x",
        *topic_args(testbed.fifo), "--spool", str(tmp_path),
    )  # fmt: skip
    assert late.returncode == 0, late.stderr
    assert late.stderr.splitlines()[0].startswith("update-job: published failed for job late")
    final, extra = [d.message for d in testbed.fifo.receive()]
    assert final["status"] == "failed"
    # Its own fields go, without the status or anything the final update set.
    assert extra == {"id": "late", "status": "failed", "updated": final["updated"],
                     "labels": ["x"]}  # fmt: skip
    document = document_after([final, extra], {"id": "late", "status": "submitted"})
    assert document is not None
    assert document["status"] == "failed" and document["message"] == final["message"]


def test_a_final_status_is_never_replaced_by_another_in_any_order(tmp_path: Path) -> None:
    # Whatever the `updated` times say, once a final update is recorded a non-final one
    # carries the final status, and a final one after a non-final one keeps its own.
    for final_first in (True, False):
        for final_time, other_time in ((stamp(5), stamp(9)), (stamp(9), stamp(5))):
            job = f"job-{final_first}-{final_time[-7:-5]}"
            state = JobState(tmp_path, job)
            final = {"id": job, "status": "succeeded", "updated": final_time, "progress": 100}
            other = {"id": job, "status": "running", "updated": other_time, "progress": 50}
            sent = []
            for message in (final, other) if final_first else (other, final):
                outgoing = state.prepare(message)
                if outgoing is not None:
                    sent.append(outgoing.message)
                    state.delivered(outgoing)
            assert sent[-1]["status"] == "succeeded" or sent[0]["status"] == "succeeded"
            document = document_after(sent, {"id": job, "status": "submitted"})
            assert document is not None
            assert (document["status"], document["progress"]) == ("succeeded", 100), sent
