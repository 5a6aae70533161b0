"""`update-job replay`: the spooled updates sent again, oldest first, each through the same
policy as a direct send (its job's record, corrections), each file removed once sent."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from update_job.envelope import parse_topic_arn
from update_job.errors import DeliveryFailed, DeliveryInterrupted, InvalidUpdate, ReplayBusy
from update_job.sender import Sent, send_in_order
from update_job.sns import DEFAULT_TIMEOUT, Channel
from update_job.spool import (
    MARKER_NAME,
    LockBusy,
    check_spool_path,
    is_spool,
    job_of,
    mark,
    read_spooled,
    remove,
    replay_lock,
    set_aside,
    spooled_files,
    sync_directory,
)

# SNS error codes that no retry can change: the topic is gone or the request is invalid.
PERMANENT_CODES = frozenset(
    {"NotFound", "InvalidParameter", "InvalidParameterValue", "MissingParameter"}
)
# The same, as the transport words them (its DeliveryFailed carries no code).
PERMANENT_WORDING = re.compile(
    r"^topic arn:\S+ does not exist|^SNS refused the update \((?:"
    + "|".join(sorted(PERMANENT_CODES))
    + r")\)"
)


@dataclass
class ReplayReport:
    sent: list[tuple[Path, str]] = field(default_factory=list)  # file, what became of it
    left: list[tuple[Path, str]] = field(default_factory=list)  # file, why it is still there
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # file in rejected/, why
    not_tried: list[Path] = field(default_factory=list)  # left: the deadline had passed
    # The signal that stopped the replay (the files not tried stay).
    interrupted: int | None = None


def replay(
    spool_dir: Path,
    endpoint_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
) -> ReplayReport:
    """Republish spooled updates oldest first, deleting each file only once SNS acknowledged
    it (or once newer updates made it pointless). An update that still fails holds back the
    later ones of the same job; one that can never be sent, or is not a spooled update at
    all, is set aside in rejected/. Stops starting updates after `deadline` seconds."""
    check_spool_path(spool_dir)
    if not spool_dir.is_dir():
        raise InvalidUpdate(f"no spool directory {spool_dir}")
    try:
        spool = is_spool(spool_dir)
    except OSError as error:
        raise unusable(spool_dir, error) from None
    if spool is None:
        return ReplayReport()  # an empty directory: nothing spooled yet
    if not spool:
        raise InvalidUpdate(
            f"{spool_dir} is not a spool directory (no {MARKER_NAME}, no spooled update): "
            "nothing replayed"
        )
    return Replay(spool_dir, endpoint_url, timeout).run(deadline)


def unusable(spool_dir: Path, error: OSError) -> InvalidUpdate:
    return InvalidUpdate(f"cannot use spool directory {spool_dir}: {error.strerror or error}")


@dataclass
class Replay:
    spool_dir: Path
    endpoint_url: str | None
    timeout: float
    report: ReplayReport = field(default_factory=ReplayReport)
    held_jobs: set[str] = field(default_factory=set)

    def run(self, deadline: float | None) -> ReplayReport:
        started = time.monotonic()
        report = self.report
        with ExitStack() as stack:
            try:
                stack.enter_context(replay_lock(self.spool_dir, deadline))
                mark(self.spool_dir)  # a spool from before markers: one from now on
            except LockBusy:
                raise ReplayBusy(self.spool_dir, deadline or 0.0) from None
            except OSError as error:
                raise unusable(self.spool_dir, error) from None
            for path in spooled_files(self.spool_dir):
                left = None if deadline is None else deadline - (time.monotonic() - started)
                if left is not None and left < 0.1:
                    report.not_tried.append(path)
                    continue
                self.one(path, self.timeout if left is None else min(self.timeout, left))
                if report.interrupted is not None:
                    break
        sync_directory(self.spool_dir)
        return report

    def one(self, path: Path, timeout: float) -> None:
        """Replay one file into the report: any exception is this file's problem alone."""
        report = self.report
        try:
            record = read_spooled(path)
        except FileNotFoundError:
            return  # sent meanwhile by a replay that ran before this one took the lock
        except OSError as error:
            report.left.append((path, f"unreadable: {error.strerror or error}"))
            return
        except ValueError as error:
            self.reject(path, f"malformed: {error}")
            return
        job = job_of(record)
        if job in self.held_jobs:
            report.left.append((path, f"held behind an earlier update of job {job}"))
            return
        envelope = record["params"]
        try:
            topic = parse_topic_arn(envelope["TopicArn"])
            channel = Channel(topic, self.endpoint_url or record.get("endpoint_url"), timeout)
            sent = send_in_order(envelope, channel, self.spool_dir)
        except InvalidUpdate as error:
            self.reject(path, f"cannot be sent: {error}")
        except DeliveryInterrupted as error:
            # A signal: stop here; this file and the ones after it stay for the next replay.
            report.left.append((path, str(error)))
            report.interrupted = error.signum
        except DeliveryFailed as error:
            if is_permanent_refusal(error):
                self.reject(path, f"refused for good: {error}")
            else:
                self.held_jobs.add(job)
                report.left.append((path, str(error)))
        except Exception as error:
            # One bad reply (or a bug) must not stop the replay of every other update.
            self.held_jobs.add(job)
            report.left.append((path, f"unexpected error: {type(error).__name__}: {error}"))
        else:
            remove(path)
            report.sent.append((path, describe_sent(sent)))

    def reject(self, path: Path, reason: str) -> None:
        try:
            target = set_aside(path, reason)
        except OSError as error:
            self.report.left.append((path, f"{reason}; could not set it aside: {error}"))
            return
        self.report.rejected.append((target, reason))


def is_permanent_refusal(error: DeliveryFailed) -> bool:
    """Whether SNS refused the update for good: the topic does not exist, or a parameter is
    invalid. Other failures (outage, throttling, credentials, access) may pass."""
    cause: BaseException | None = error
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code in PERMANENT_CODES:
                return True
        cause = cause.__cause__ or cause.__context__
    return PERMANENT_WORDING.search(str(error)) is not None


def describe_sent(sent: Sent) -> str:
    if sent.message_id is None:
        return "superseded: newer updates already set all it sets, not sent"
    text = f"message id {sent.message_id}"
    if sent.rewritten:
        text += ", without the fields newer updates set"
    if sent.corrections:
        text += f", {sent.corrections} correction(s) sent"
    if sent.correction_spooled is not None:
        text += f", correction spooled to {sent.correction_spooled.name}"
    if sent.unordered:
        text += ", without its job's record (it could not be written)"
    if sent.params is not None:
        text += f", as status {json.loads(sent.params['Message'])['status']}"
    if sent.damaged is not None:
        text += f"; {sent.damaged}, ignored"
    return text
