"""`update-job replay`: every job's outbox in a spool directory sent, oldest first, each entry
deleted once SNS acknowledged it (see outbox), through one botocore client per endpoint."""

from __future__ import annotations

import math
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from update_job import interrupts
from update_job.endpoint import redact_url
from update_job.envelope import MAX_MESSAGE_BYTES, message_size
from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.interrupts import signal_name
from update_job.outbox import (
    MARKER_NAME,
    MIN_PUBLISH,
    Drained,
    Entry,
    LockBusy,
    NotAnEntry,
    Outbox,
    adopt_legacy,
    check_private,
    is_spool,
    job_directories,
    probe_writable,
)
from update_job.sender import Sender
from update_job.sns import DEFAULT_TIMEOUT, PERMANENT_CODES, Clients

# SNS takes at most 10 entries in a PublishBatch call.
BATCH_SIZE = 10


@dataclass
class ReplayReport:
    sent: list[tuple[Path, str]] = field(default_factory=list)  # entry, what became of it
    left: list[tuple[Path, str]] = field(default_factory=list)  # entry, why it is still there
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # file in rejected/, why
    not_tried: list[Path] = field(default_factory=list)  # left: the deadline had passed
    # The signal that stopped the replay (the entries not sent stay).
    interrupted: int | None = None


def replay(
    spool_dir: Path,
    endpoint_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
) -> ReplayReport:
    """Send every job's outbox in `spool_dir`, oldest first; an update that is not
    delivered holds back the later ones of its job only. Starts no update after
    `deadline` seconds, and waits for no job's lock longer than `timeout`."""
    check_spool(spool_dir)
    report = ReplayReport()
    sender = Sender(None, endpoint_url, timeout, spool_dir, clients=Clients())
    end = math.inf if deadline is None else time.monotonic() + deadline
    try:
        adopt_old_files(spool_dir, min(end, time.monotonic() + timeout), report)
        outboxes = [Outbox.at(directory) for directory in job_directories(spool_dir)]
        while outboxes and report.interrupted is None:
            outboxes = Round(sender, end, report).run(outboxes)
    except interrupts.Interrupted as interrupted:
        report.interrupted = interrupts.take() or interrupted.signum
    if report.interrupted is not None:
        # Every update not yet accounted for stays: the report counts it as left.
        told = {path for path, _ in report.left} | set(report.not_tried)
        for directory in job_directories(spool_dir):
            for path in pending_paths(Outbox.at(directory)):
                if path not in told:
                    report.left.append((path, f"{signal_name(report.interrupted)}: not sent"))
    return report


def adopt_old_files(spool_dir: Path, deadline: float, report: ReplayReport) -> None:
    """Updates an older update-job spooled, one file each, moved into their outboxes."""
    try:
        report.left.extend(adopt_legacy(spool_dir, deadline))
    except LockBusy:
        report.left.append((spool_dir, "another replay still moves its old files"))


@dataclass
class Round:
    """The oldest update of every job, sent ten jobs to a PublishBatch call: one update
    per job per call, so each job's order holds whatever SNS does with the others. A job
    with anything out of the ordinary (a busy lock, an entry that is not one, a batch
    botocore refuses) is sent on its own instead (replay_job), to its end."""

    sender: Sender
    end: float
    report: ReplayReport
    more: list[Outbox] = field(default_factory=list)  # jobs with updates for the next round

    def run(self, outboxes: list[Outbox]) -> list[Outbox]:
        """Send one round; the jobs that have updates left to send."""
        groups: dict[tuple[str, str | None], list[tuple[Outbox, Entry]]] = {}
        for outbox in outboxes:
            head = self.head(outbox)
            if head is not None:
                key = (head.params["TopicArn"], self.sender.endpoint_for(head))
                groups.setdefault(key, []).append((outbox, head))
        for heads in groups.values():
            for batch in batches(heads):
                if self.report.interrupted is None:
                    self.batch(batch)
        return self.more

    def head(self, outbox: Outbox) -> Entry | None:
        """The job's oldest update, if it can go in a batch; else the job is replayed alone."""
        if time.monotonic() >= self.end - MIN_PUBLISH:
            self.report.not_tried.extend(pending_paths(outbox))
            return None
        try:
            pending = outbox.pending()
            if not pending:
                return None
            entry = outbox.read(pending[0])
            self.sender.endpoint_for(entry)
            message_size(entry.params)  # what batches() needs of it
        except (OSError, NotAnEntry, DeliveryFailed, LookupError, TypeError, AttributeError):
            replay_job(outbox, self.sender, self.end, self.report)
            return None
        return entry

    def batch(self, heads: list[tuple[Outbox, Entry]]) -> None:
        if time.monotonic() >= self.end - MIN_PUBLISH:
            for outbox, _ in heads:
                self.report.not_tried.extend(pending_paths(outbox))
            return
        alone: list[Outbox] = []
        with ExitStack() as locks:
            held = []
            for outbox, entry in heads:
                try:
                    locks.enter_context(outbox.lock(time.monotonic()))  # no wait here
                except (LockBusy, OSError, NotAnEntry):
                    alone.append(outbox)
                    continue
                if outbox.pending()[:1] == [entry.sequence]:
                    held.append((outbox, entry))
                else:
                    self.more.append(outbox)  # sent meanwhile by another process
            if held:
                alone += self.send(held)
        for outbox in alone:
            if self.report.interrupted is None:
                replay_job(outbox, self.sender, self.end, self.report)

    def send(self, held: list[tuple[Outbox, Entry]]) -> list[Outbox]:
        """Publish the held heads in one call; the jobs to replay alone."""
        try:
            answer = self.sender.publish_batch([entry for _, entry in held], self.end)
        except DeliveryFailed as failure:
            if failure.permanent:
                return [outbox for outbox, _ in held]  # one of them refused: find which
            self.report.interrupted = getattr(failure, "signum", None)
            for outbox, entry in held:
                left_behind(outbox, entry, failure, self.sender, self.report)
            return []
        for result in answer.get("Successful", []):
            outbox, entry = held[int(result["Id"])]
            outbox.mark_sent(entry)
            self.report.sent.append((entry.path, f"message id {result.get('MessageId')}"))
            self.more.append(outbox)
        for result in answer.get("Failed", []):
            outbox, entry = held[int(result["Id"])]
            code = result.get("Code")
            refusal = DeliveryFailed(
                f"SNS refused the update ({code}): {result.get('Message')}",
                permanent=bool(result.get("SenderFault")) and code in PERMANENT_CODES,
            )
            if refusal.permanent:
                reason = f"refused for good: {refusal}"
                self.report.rejected.append((outbox.set_aside(entry.sequence, reason), reason))
                self.more.append(outbox)
            else:
                left_behind(outbox, entry, refusal, self.sender, self.report)
        return []


def batches(heads: list[tuple[Outbox, Entry]]) -> list[list[tuple[Outbox, Entry]]]:
    """`heads` in PublishBatch calls SNS takes: at most 10 entries, and at most 256 KiB of
    messages and attributes in all."""
    calls: list[list[tuple[Outbox, Entry]]] = [[]]
    size = 0
    for head in heads:
        entry_size = message_size(head[1].params)
        if len(calls[-1]) == BATCH_SIZE or (calls[-1] and size + entry_size > MAX_MESSAGE_BYTES):
            calls.append([])
            size = 0
        calls[-1].append(head)
        size += entry_size
    return [call for call in calls if call]


def check_spool(spool_dir: Path) -> None:
    """InvalidUpdate (exit 2, one line) unless `spool_dir` is a spool this user may replay:
    a directory with update-job's marker (or empty), private, writable."""
    if not str(spool_dir):
        raise InvalidUpdate("the spool directory is an empty path")
    if not spool_dir.is_dir():
        raise InvalidUpdate(f"no spool directory {spool_dir}")
    try:
        spool = is_spool(spool_dir)
        if spool is False:
            raise InvalidUpdate(
                f"{spool_dir} is not a spool directory (no {MARKER_NAME}): nothing replayed"
            )
        check_private(spool_dir)
        if spool:
            probe_writable(spool_dir)  # a file made there: a read-only file system shows
            for directory in job_directories(spool_dir):
                check_private(directory)
                # One system call a job, not a file made in each: a backlog of many jobs.
                if not os.access(directory, os.W_OK | os.X_OK):
                    raise InvalidUpdate(
                        f"cannot use spool directory {spool_dir}: {directory} is not writable"
                    )
    except OSError as error:
        raise InvalidUpdate(
            f"cannot use spool directory {spool_dir}: {error.strerror or error}"
        ) from error


def replay_job(outbox: Outbox, sender: Sender, end: float, report: ReplayReport) -> None:
    """Send one job's outbox into the report: whatever goes wrong is this job's alone."""
    try:
        drained = outbox.send(sender.publish, end, sender.timeout)
    except LockBusy:
        reason = f"another process still sends this job's updates after {sender.timeout:g} s"
        report.left.extend((path, reason) for path in pending_paths(outbox))
    except interrupts.Interrupted as interrupted:
        report.interrupted = interrupts.take() or interrupted.signum
        reason = f"{interrupted}: not sent"
        report.left.extend((path, reason) for path in pending_paths(outbox))
    except (OSError, NotAnEntry) as error:
        reason = f"cannot use its outbox: {getattr(error, 'strerror', None) or error}"
        report.left.extend((path, reason) for path in pending_paths(outbox))
    else:
        report_drained(outbox, sender, drained, report)


def report_drained(outbox: Outbox, sender: Sender, drained: Drained, report: ReplayReport) -> None:
    report.sent.extend((entry.path, f"message id {sent_id}") for entry, sent_id in drained.sent)
    report.rejected.extend((target, reason) for _, target, reason in drained.rejected)
    if drained.failure is not None and drained.failed is not None:
        report.interrupted = getattr(drained.failure, "signum", report.interrupted)
        left_behind(outbox, drained.failed, drained.failure, sender, report)
    elif drained.out_of_time:
        report.not_tried.extend(pending_paths(outbox))


def left_behind(
    outbox: Outbox, failed: Entry, failure: DeliveryFailed, sender: Sender, report: ReplayReport
) -> None:
    """`failed` was not delivered: it stays, and the job's later updates behind it."""
    endpoint = sender.endpoint_url and redact_url(sender.endpoint_url)
    where = endpoint or failed.endpoint_url or "the default endpoint"
    report.left.append((failed.path, f"{failure} (sent to {where})"))
    held = f"held behind an earlier update of job {failed.job_id}"
    report.left.extend((path, held) for path in pending_paths(outbox) if path != failed.path)


def pending_paths(outbox: Outbox) -> list[Path]:
    try:
        return [outbox.entry_path(sequence) for sequence in outbox.pending()]
    except (OSError, NotAnEntry):
        return [outbox.entry_path(sequence) for sequence in outbox.sequences()]
