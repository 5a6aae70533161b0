"""`update-job replay`: every job's outbox in a spool directory sent, oldest first, each entry
deleted once SNS acknowledged it (see outbox), through one botocore client per endpoint."""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from update_job import interrupts
from update_job.endpoint import redact_url
from update_job.errors import InvalidUpdate
from update_job.outbox import (
    MARKER_NAME,
    Drained,
    LockBusy,
    NotAnEntry,
    Outbox,
    check_private,
    is_spool,
    job_directories,
)
from update_job.sender import Sender
from update_job.sns import DEFAULT_TIMEOUT, Clients


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
    for directory in job_directories(spool_dir):
        replay_job(Outbox.at(directory), sender, end, report)
        if report.interrupted is not None:
            break
    return report


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
            for directory in [spool_dir, *job_directories(spool_dir)]:
                check_private(directory)
                probe(directory)
    except OSError as error:
        raise InvalidUpdate(
            f"cannot use spool directory {spool_dir}: {error.strerror or error}"
        ) from error


def probe(directory: Path) -> None:
    """OSError unless a file can be made in `directory`: found out before anything is sent,
    so that no update is delivered and then kept, to be delivered again."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=".probe")
    os.close(fd)
    os.unlink(name)


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
    failed = drained.failed
    if drained.failure is not None and failed is not None:
        report.interrupted = getattr(drained.failure, "signum", report.interrupted)
        endpoint = sender.endpoint_url and redact_url(sender.endpoint_url)
        where = endpoint or failed.endpoint_url or "the default endpoint"
        report.left.append((failed.path, f"{drained.failure} (sent to {where})"))
        held = f"held behind an earlier update of job {failed.job_id}"
        report.left.extend((path, held) for path in pending_paths(outbox) if path != failed.path)
    elif drained.out_of_time:
        report.not_tried.extend(pending_paths(outbox))


def pending_paths(outbox: Outbox) -> list[Path]:
    try:
        return [outbox.entry_path(sequence) for sequence in outbox.pending()]
    except (OSError, NotAnEntry):
        return [outbox.entry_path(sequence) for sequence in outbox.sequences()]
