"""Per-job record of what was sent through a spool directory, so no update sets a job back.

The consumer merges every update but `submitted` into the job's document in the order SNS
hands them over, so an older update that arrives late (replayed from the spool after the
job's end was delivered directly, or simply slower than a newer one) would overwrite newer
fields: the finished job `running` again. The spool directory therefore keeps, for each job,
`jobs/<hash>.json`: for every field ever sent, the `updated` time of the newest update that
set it and that update's value. Before an update goes out it is compared with that record:

- fields that a newer update already set are left out of it (the newer value must stand);
- if its status is such a field, it carries the newest status and `updated` instead, so
  the consumer merges it rather than indexing (`submitted`) and the job keeps its state;
- if nothing of its own is left, it is not sent at all (superseded).

Each update claims its fields in the record before it is sent (a pending claim, withdrawn
if it is not delivered, made final once it is), under a lock held only for that
read-modify-write, never across the network. A newer update sent while an older one was on
its way may still reach SNS first; so when an update is acknowledged the record is read
again, and any of its fields that a newer update claimed meanwhile is sent once more with
the newer value (a correction, which restates the update's own fields as well, in case
the consumer dropped the update as older than its document). The job's document then ends
as if every update had arrived in order; a delivered correction counts as delivered in the
record. A claim left by a process killed while sending counts as delivered: the update may
well have arrived.

A rewritten update or a correction is a new message body: on a FIFO topic it gets a new
deduplication id derived from that body (and, for a correction, from the update it
corrects), the same on every retry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STATE_DIR = "jobs"
# The record is read and written in milliseconds; a holder that takes longer than this is
# stuck (stopped by a debugger, SIGSTOP): the record is then updated without the lock,
# still atomically, rather than letting one stuck process hold every sender back.
LOCK_WAIT = 5.0
# Fields that every update carries and that only ever go together.
STATUS_FIELDS = ("status", "updated")
# A job that reached one of these stays there: no other status replaces it, whatever the
# clocks say (one stepped back, or two nodes sharing a spool with different times).
FINAL_STATUSES = frozenset({"succeeded", "failed"})
# How much later than the newest update a final update is made, when a clock put a
# non-final update after it: just later, so that it stands everywhere.
FINAL_STEP = timedelta(milliseconds=1)


def moment(timestamp: str) -> datetime:
    """An `updated` value as a comparable time (update-job writes UTC, ending in Z);
    ValueError for one without a zone, which no other time can be compared with."""
    time = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if time.tzinfo is None:
        raise ValueError(f"time {timestamp!r} has no zone")
    return time


def timestamp_of(time: datetime) -> str:
    """A time as update-job writes `updated`: UTC, milliseconds, Z."""
    return time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_key(job_id: str) -> str:
    # Job ids may hold any printable character: the file is named by their hash.
    return hashlib.sha256(job_id.encode()).hexdigest()[:40]


def private_directory(directory: Path) -> None:
    """Create `directory` (and missing parents) readable by its owner only, whatever the
    umask: spooled updates hold a job's inputs and the endpoint used."""
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue
        os.chmod(path, 0o700)  # mkdir's mode is filtered through the umask


def write_atomically(path: Path, data: str) -> None:
    """Replace `path` with `data`: a reader sees the old file or the new one, whole."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        os.fchmod(fd, 0o600)  # whatever the umask: readable by the owner, and only by them
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


@contextmanager
def short_lock(path: Path, wait: float = LOCK_WAIT) -> Iterator[None]:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        deadline = time.monotonic() + wait
        locked = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(lock, fcntl.LOCK_UN)


Fields = dict[str, tuple[str, Any]]  # field -> (updated of the update that set it, value)


@dataclass
class JobRecord:
    """The newest version of each field delivered for one job, and of each field claimed by
    an update on its way (`pending`, by claim id) until it is delivered or withdrawn."""

    job_id: str
    fields: Fields
    pending: dict[str, Fields]
    damaged: str | None = None  # why the record on disk was ignored, if it was

    @classmethod
    def load(cls, path: Path, job_id: str) -> JobRecord:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            fields = read_fields(data["fields"])
            pending = {
                str(claim): read_fields(claimed) for claim, claimed in data["pending"].items()
            }
        except FileNotFoundError:
            return cls(job_id, {}, {})
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            # A damaged record protects nothing; start again rather than stop sending.
            reason = f"{type(error).__name__}: {error}"
            return cls(job_id, {}, {}, damaged=f"its record {path} is damaged ({reason})")
        return cls(job_id, fields, pending)

    def save(self, path: Path) -> None:
        data = {
            "job_id": self.job_id,
            "fields": write_fields(self.fields),
            "pending": {claim: write_fields(claimed) for claim, claimed in self.pending.items()},
        }
        write_atomically(path, json.dumps(data, ensure_ascii=False))

    def view(self) -> Fields:
        """Delivered and claimed fields together: the newest version of each."""
        newest = dict(self.fields)
        for claimed in self.pending.values():
            merge(newest, claimed)
        return newest


def read_fields(data: Any) -> Fields:
    fields = {str(name): (str(entry["updated"]), entry["value"]) for name, entry in data.items()}
    for updated, _ in fields.values():
        moment(updated)
    return fields


def write_fields(fields: Fields) -> dict[str, Any]:
    return {name: {"updated": updated, "value": value} for name, (updated, value) in fields.items()}


def newer_than(fields: Fields, name: str, updated: str) -> bool:
    entry = fields.get(name)
    return entry is not None and moment(entry[0]) > moment(updated)


def set_since(fields: Fields, name: str, since: str | None) -> bool:
    """Whether `name` was set at or after `since` (a final update's time), if there is one."""
    if since is None:
        return False
    if name in STATUS_FIELDS:
        return True
    entry = fields.get(name)
    return entry is not None and moment(entry[0]) >= moment(since)


def merge(fields: Fields, newer: Fields) -> None:
    for name, (updated, value) in newer.items():
        if not newer_than(fields, name, updated):
            fields[name] = (updated, value)


@dataclass(frozen=True)
class Outgoing:
    """An update as it is to be sent now, and the version of each field it carries."""

    message: dict[str, Any]
    versions: dict[str, str]
    rewritten: bool
    claim: str = ""

    def fields(self) -> Fields:
        return {
            name: (self.versions[name], value)
            for name, value in self.message.items()
            if name != "id"
        }


def fit(message: dict[str, Any], newest: Fields) -> Outgoing | None:
    """`message` without the fields a newer update set; None if nothing of it is left.
    A final status is never replaced by another status (see FINAL_STATUSES)."""
    updated = str(message["updated"])
    standing = newest.get("status")
    own_final = message.get("status") in FINAL_STATUSES
    stamped = False
    if standing is not None and own_final and standing[1] not in FINAL_STATUSES:
        latest = max(moment(version) for version, _ in newest.values())
        if latest >= moment(updated):
            # A non-final update that a clock put at or after this final one: the final
            # update goes just after it, so that it stands (here and at the consumer).
            updated = timestamp_of(latest + FINAL_STEP)
            message = {**message, "updated": updated}
            stamped = True
    # A non-final update after a final one counts as older than it: it sets none of the
    # fields the final update (or a later one) set, its status least of all.
    final_at = None
    if standing is not None and standing[1] in FINAL_STATUSES and not own_final:
        final_at = standing[0]
    kept = {
        name: value
        for name, value in message.items()
        if name == "id"
        or not (newer_than(newest, name, updated) or set_since(newest, name, final_at))
    }
    versions = {name: updated for name in kept if name != "id"}
    if "status" in kept and "updated" in kept:
        return Outgoing(kept, versions, rewritten=stamped or len(kept) != len(message))
    if not set(kept) - {"id", *STATUS_FIELDS}:
        return None  # every field it sets is set by a newer update: superseded
    for name in STATUS_FIELDS:
        kept[name] = newest[name][1]
        versions[name] = newest[name][0]
    return Outgoing(kept, versions, rewritten=True)


def claimed_since(newest: Fields, sent: Outgoing) -> Outgoing | None:
    """A correction for `sent`, once acknowledged: the newer values of the fields a newer
    update claimed after `sent` was fitted (it may have reached SNS before `sent`)."""
    if sent.message.get("status") == "submitted":
        # It replaced the document: every newer field must be sent again, not only its own.
        since = sent.versions["status"]
        claimed = [name for name in newest if newer_than(newest, name, since)]
    else:
        claimed = [
            name for name, version in sent.versions.items() if newer_than(newest, name, version)
        ]
    if not claimed:
        return None
    # Its own fields too, at their newest values: a consumer that drops a message older
    # than its document (docs/consumer.md) dropped `sent` whole, and only this restates them.
    restated = [*claimed, *(name for name in sent.versions if name not in claimed)]
    names = [*STATUS_FIELDS, *(name for name in restated if name not in STATUS_FIELDS)]
    message = {"id": sent.message["id"], **{name: newest[name][1] for name in names}}
    versions = {name: newest[name][0] for name in names}
    return Outgoing(message, versions, rewritten=True)


class JobState:
    """The record of one job in one spool directory."""

    def __init__(self, spool_dir: Path, job_id: str) -> None:
        directory = spool_dir / STATE_DIR
        private_directory(directory)
        key = job_key(job_id)
        self.job_id = job_id
        self.damaged: str | None = None  # set when prepare found the record damaged
        self.path = directory / f"{key}.json"
        self.lock_path = directory / f"{key}.lock"

    def prepare(self, message: dict[str, Any]) -> Outgoing | None:
        """Fit `message` to what newer updates set, and claim its fields while it is sent."""
        with short_lock(self.lock_path):
            record = JobRecord.load(self.path, self.job_id)
            self.damaged = record.damaged
            outgoing = fit(message, record.view())
            if outgoing is None:
                return None
            claim = uuid.uuid4().hex
            record.pending[claim] = outgoing.fields()
            record.save(self.path)
            return replace(outgoing, claim=claim)

    def withdraw(self, outgoing: Outgoing) -> None:
        """`outgoing` was not delivered: its fields are not the job's (it is spooled)."""
        with short_lock(self.lock_path):
            record = JobRecord.load(self.path, self.job_id)
            if record.pending.pop(outgoing.claim, None) is not None:
                record.save(self.path)

    def delivered(self, outgoing: Outgoing) -> Outgoing | None:
        """Record `outgoing` as delivered; the correction to send for it, if any."""
        with short_lock(self.lock_path):
            record = JobRecord.load(self.path, self.job_id)
            record.pending.pop(outgoing.claim, None)
            if outgoing.message.get("status") == "submitted" and not newer_than(
                record.fields, "status", outgoing.versions["status"]
            ):
                # `submitted` indexes: the document is replaced, older fields are gone.
                record.fields = {}
            merge(record.fields, outgoing.fields())
            record.save(self.path)
            return claimed_since(record.view(), outgoing)

    def correction(self, sent: Outgoing) -> Outgoing | None:
        """Record the correction `sent` as delivered (the consumer has its values, and its
        `updated`, even if the update it took them from is withdrawn later); what to send
        again after it, or None."""
        with short_lock(self.lock_path):
            record = JobRecord.load(self.path, self.job_id)
            merge(record.fields, sent.fields())
            record.save(self.path)
            return claimed_since(record.view(), sent)


def republished(params: dict[str, Any], message: dict[str, Any], salt: str = "") -> dict[str, Any]:
    """`params` carrying `message` instead: status attribute and FIFO dedup id to match."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    new = {**params, "Message": body}
    attributes = dict(params.get("MessageAttributes", {}))
    if "status" in attributes:
        attributes["status"] = {"DataType": "String", "StringValue": str(message["status"])}
    new["MessageAttributes"] = attributes
    if "MessageDeduplicationId" in params:
        new["MessageDeduplicationId"] = hashlib.sha256((salt + body).encode()).hexdigest()
    return new
