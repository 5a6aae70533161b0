"""Updates that could not be delivered, kept on disk until `update-job replay` sends them.

A spooled file holds the exact Publish parameters, FIFO deduplication id included, so a
replay of an update that did reach SNS after all is dropped by the FIFO topic rather than
doubled. Files are named by the time they were spooled, so replay keeps each job's order.
Every update sent with a spool directory, directly or by replay, goes through the job's
record in it (see jobstate), so that none sets its job back.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.jobstate import JobState, Outgoing, moment, private_directory, republished
from update_job.publish import deliver, redact_url

SPOOL_FORMAT = 1
LOCK_NAME = ".replay.lock"
REJECTED_DIR = "rejected"
# A correction can itself be overtaken by a still newer update: correct again, this often.
MAX_CORRECTIONS = 5
# SNS error codes that no retry can change: the topic is gone or the request is invalid.
PERMANENT_CODES = frozenset(
    {"NotFound", "InvalidParameter", "InvalidParameterValue", "MissingParameter"}
)
# The same, as describe_client_error words them (its DeliveryFailed carries no code).
PERMANENT_WORDING = re.compile(
    r"^topic arn:\S+ does not exist|^SNS refused the update \((?:"
    + "|".join(sorted(PERMANENT_CODES))
    + r")\)"
)


def spool(params: dict[str, Any], spool_dir: Path, reason: str, endpoint_url: str | None) -> Path:
    """Write the update to `spool_dir` atomically: a reader sees the whole file or none."""
    record = {
        "spool_format": SPOOL_FORMAT,
        "spooled_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reason": reason,
        # Never a password at rest: a replay to such an endpoint needs --endpoint-url again.
        "endpoint_url": endpoint_url and redact_url(endpoint_url),
        "params": params,
    }
    private_directory(spool_dir)
    fd, partial = tempfile.mkstemp(dir=spool_dir, prefix=".", suffix=".partial")
    try:
        os.fchmod(fd, 0o600)  # whatever the umask: readable by the owner, and only by them
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(record, file, ensure_ascii=False, indent=1)
            file.flush()
            os.fsync(file.fileno())
        # The name sorts in spooling order; the random part of the partial name keeps two
        # updates spooled in the same nanosecond apart.
        name = f"{time.time_ns():020d}-{Path(partial).stem.lstrip('.')}.json"
        path = spool_dir / name
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    sync_directory(spool_dir)
    return path


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(spool_dir: Path) -> None:
    """InvalidUpdate unless an update can be spooled to `spool_dir`: found out before
    publishing, so that a step which fails on it can be rerun without publishing twice."""
    try:
        private_directory(spool_dir)
        fd, probe = tempfile.mkstemp(dir=spool_dir, prefix=".", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidUpdate(f"cannot write to spool directory {spool_dir}: {reason}") from None


@dataclass(frozen=True)
class Sent:
    """How an update went out through its job's record."""

    message_id: str | None  # None: superseded by newer updates, nothing sent
    rewritten: bool = False  # sent without the fields newer updates had set
    corrections: int = 0  # fields sent again because a newer update overtook this one
    correction_spooled: Path | None = None
    unordered: bool = False  # the job's record could not be read or written


def message_of(params: dict[str, Any]) -> dict[str, Any]:
    message = json.loads(params["Message"])
    if not isinstance(message, dict):
        raise ValueError("the message is not a JSON object")
    for name in ("id", "status", "updated"):
        if not isinstance(message.get(name), str):
            raise ValueError(f"the message has no {name}")
    moment(message["updated"])
    return message


def send_in_order(
    params: dict[str, Any], spool_dir: Path, endpoint_url: str | None, timeout: float
) -> Sent:
    """Deliver `params` as its job's record allows (see jobstate); DeliveryFailed if the
    update itself is not delivered."""
    message = message_of(params)
    try:
        state = JobState(spool_dir, message["id"])
        outgoing = state.prepare(message)
    except OSError:
        # The record cannot be kept (a full disk): the update still goes, unordered,
        # rather than not at all.
        return Sent(deliver(params, endpoint_url, timeout), unordered=True)
    if outgoing is None:
        return Sent(None)
    first = republished(params, outgoing.message) if outgoing.rewritten else params
    try:
        message_id = deliver(first, endpoint_url, timeout)
    except BaseException:
        with suppress(OSError):
            state.withdraw(outgoing)
        raise
    try:
        fix = state.delivered(outgoing)
    except OSError:
        # Delivered all the same: never spool it again for want of a record.
        return Sent(message_id, outgoing.rewritten, unordered=True)
    count, spooled = correct(state, fix, first, spool_dir, endpoint_url, timeout)
    return Sent(message_id, outgoing.rewritten, count, spooled)


def correct(
    state: JobState,
    fix: Outgoing | None,
    sent_params: dict[str, Any],
    spool_dir: Path,
    endpoint_url: str | None,
    timeout: float,
) -> tuple[int, Path | None]:
    """Send `fix`, the fields a newer update claimed while the update in `sent_params` was
    on its way, with their newer values; and again if a still newer one overtook that. A
    correction that cannot be delivered is spooled like any update."""
    count = 0
    while fix is not None and count < MAX_CORRECTIONS:
        # Derived from what it corrects: the same correction gets the same id on a retry,
        # and two corrections with the same fields do not drop each other.
        salt = str(sent_params.get("MessageDeduplicationId", sent_params["Message"]))
        fix_params = republished(sent_params, fix.message, salt)
        try:
            deliver(fix_params, endpoint_url, timeout)
        except DeliveryFailed as error:
            path = spool(fix_params, spool_dir, f"correction: {error}", endpoint_url)
            if error.exit_code > 128:
                # The update itself was delivered; only its correction waits in the spool.
                raise DeliveryFailed(
                    f"{error}; its correction is spooled to {path}", error.exit_code, path
                ) from None
            return count, path
        count += 1
        sent_params = fix_params
        try:
            fix = state.correction(fix)
        except OSError:
            break
    return count, None


def deliver_or_spool(
    params: dict[str, Any],
    endpoint_url: str | None,
    timeout: float,
    spool_dir: Path | None,
) -> str | None:
    """Deliver; when that fails and there is a spool, keep the update there and say where.
    None when newer updates sent through the spool already set all it sets."""
    try:
        if spool_dir is None:
            return deliver(params, endpoint_url, timeout)
        check_writable(spool_dir)
        return send_in_order(params, spool_dir, endpoint_url, timeout).message_id
    except InvalidUpdate:
        raise
    except DeliveryFailed as error:
        if spool_dir is None or error.spooled is not None:
            raise  # nowhere to keep it; or delivered, and only its correction spooled
        failure = error
    except Exception as error:
        # Whatever went wrong while delivering is a delivery failure: the update is kept.
        failure = DeliveryFailed(
            f"could not publish to SNS: unexpected {type(error).__name__}: {error}"
        )
        if spool_dir is None:
            raise failure from None
    try:
        path = spool(params, spool_dir, str(failure), endpoint_url)
    except OSError as spool_error:
        raise DeliveryFailed(
            f"{failure}; and could not spool it to {spool_dir}: {spool_error}", failure.exit_code
        ) from None
    raise DeliveryFailed(f"{failure}; spooled to {path}", failure.exit_code, path) from None


@dataclass
class ReplayReport:
    sent: list[tuple[Path, str]] = field(default_factory=list)  # file, what became of it
    left: list[tuple[Path, str]] = field(default_factory=list)  # file, why it is still there
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # file in rejected/, why
    # Exit status 128 + N when signal N stopped the replay (the files not tried stay).
    interrupted: int | None = None


def spooled_files(spool_dir: Path) -> list[Path]:
    return sorted(path for path in spool_dir.glob("*.json") if not path.name.startswith("."))


class LockBusy(Exception):
    pass


@contextmanager
def replay_lock(spool_dir: Path, wait: float | None = None) -> Iterator[None]:
    """One replay at a time per spool: a second one waits (at most `wait` seconds), then
    finds the files sent. Direct sends never take this lock."""
    with open(os.open(spool_dir / LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        if wait is None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockBusy from None
                    time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_spooled(path: Path) -> dict[str, Any]:
    """The spooled record in `path`; ValueError saying why it is not one."""
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as error:
        raise ValueError(str(error)) from None
    if not isinstance(record, dict):
        raise ValueError("not a spooled update (not a JSON object)")
    if record.get("spool_format") != SPOOL_FORMAT:
        raise ValueError(f"not a spooled update (format {record.get('spool_format')!r})")
    params = record.get("params")
    if not isinstance(params, dict):
        raise ValueError("not a spooled update (no params)")
    for name in ("TopicArn", "Message"):
        if not isinstance(params.get(name), str):
            raise ValueError(f"not a spooled update (no {name})")
    if not isinstance(params.get("MessageAttributes", {}), dict):
        raise ValueError("not a spooled update (bad MessageAttributes)")
    endpoint = record.get("endpoint_url")
    if endpoint is not None and not isinstance(endpoint, str):
        raise ValueError("not a spooled update (bad endpoint_url)")
    try:
        message_of(params)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not a spooled update ({error})") from None
    return record


def job_of(record: dict[str, Any]) -> str:
    return str(message_of(record["params"])["id"])


def set_aside(path: Path, reason: str) -> Path:
    """Move `path` to rejected/ with a note of why, where a person can look at it; replay
    no longer tries it (move it back to try again)."""
    rejected = path.parent / REJECTED_DIR
    private_directory(rejected)
    target = rejected / path.name
    os.replace(path, target)
    write_note = rejected / f"{path.name}.reason"
    write_note.write_text(reason + "\n", encoding="utf-8")
    return target


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


def replay(
    spool_dir: Path,
    endpoint_url: str | None,
    timeout: float,
    deadline: float | None = None,
) -> ReplayReport:
    """Republish spooled updates oldest first, deleting each file only once SNS acknowledged
    it (or once newer updates made it pointless). An update that still fails holds back the
    later ones of the same job; one that can never be sent, or is not a spooled update at
    all, is set aside in rejected/. Stops starting updates after `deadline` seconds."""
    if not spool_dir.is_dir():
        raise InvalidUpdate(f"no spool directory {spool_dir}")
    started = time.monotonic()
    report = ReplayReport()
    held_jobs: set[str] = set()
    try:
        with replay_lock(spool_dir, deadline):
            for path in spooled_files(spool_dir):
                left = None if deadline is None else deadline - (time.monotonic() - started)
                if left is not None and left < 0.1:
                    report.left.append((path, "not tried: --deadline reached"))
                    continue
                replay_one(
                    path, spool_dir, endpoint_url, timeout if left is None else min(timeout, left),
                    report, held_jobs,
                )  # fmt: skip
                if report.interrupted is not None:
                    break
    except LockBusy:
        raise DeliveryFailed(
            f"another replay of {spool_dir} still runs after --deadline {deadline:g} s"
        ) from None
    sync_directory(spool_dir)
    return report


def replay_one(
    path: Path,
    spool_dir: Path,
    endpoint_url: str | None,
    timeout: float,
    report: ReplayReport,
    held_jobs: set[str],
) -> None:
    """Replay one file into `report`: any exception is this file's problem alone."""
    try:
        record = read_spooled(path)
    except FileNotFoundError:
        return  # sent meanwhile by a replay that ran before this one took the lock
    except OSError as error:
        report.left.append((path, f"unreadable: {error.strerror or error}"))
        return
    except ValueError as error:
        reject(path, f"malformed: {error}", report)
        return
    job = job_of(record)
    if job in held_jobs:
        report.left.append((path, f"held behind an earlier update of job {job}"))
        return
    endpoint = endpoint_url or record.get("endpoint_url")
    try:
        sent = send_in_order(record["params"], spool_dir, endpoint, timeout)
    except InvalidUpdate as error:
        reject(path, f"cannot be sent: {error}", report)
    except DeliveryFailed as error:
        if error.exit_code > 128:
            # A signal: stop here; this file and the ones after it stay for the next replay.
            report.left.append((path, str(error)))
            report.interrupted = error.exit_code
        elif is_permanent_refusal(error):
            reject(path, f"refused for good: {error}", report)
        else:
            held_jobs.add(job)
            report.left.append((path, str(error)))
    except Exception as error:
        # One bad reply (or a bug) must not stop the replay of every other update.
        held_jobs.add(job)
        report.left.append((path, f"unexpected error: {type(error).__name__}: {error}"))
    else:
        path.unlink(missing_ok=True)
        report.sent.append((path, describe_sent(sent)))


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
    return text


def reject(path: Path, reason: str, report: ReplayReport) -> None:
    try:
        target = set_aside(path, reason)
    except OSError as error:
        report.left.append((path, f"{reason}; could not set it aside: {error}"))
        return
    report.rejected.append((target, reason))
