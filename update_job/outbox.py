"""The spool: one ordered outbox per job, sent oldest first.

Every update sent with `--spool` is first appended to its job's outbox, then the outbox is
sent oldest first, one Publish at a time, by whichever process holds the job's lock. An
update that cannot be sent stays where it is, and every newer update of its job waits
behind it: nothing overtakes, nothing is merged, superseded or rewritten, every update
leaves whole. `update-job replay` drains every outbox the same way.

Layout of a spool directory (every directory 0700, every file 0600, whatever the umask):

    SPOOL/.update-job-spool           marker: replay touches no directory without it
    SPOOL/outbox/<key>/               one job (key: a hash of its id)
    SPOOL/outbox/<key>/0000000007.json  a pending update: its Publish parameters, its
                                      sequence number, the endpoint it was meant for
    SPOOL/outbox/<key>/last.json      what the job's last sent update was (sequence,
                                      `updated`, finished, start-time)
    SPOOL/outbox/<key>/.lock          one sender at a time
    SPOOL/rejected/                   entries that can never be sent, each with a .reason

Appending takes no lock: the entry is written whole under a temporary name, then linked
to the next sequence number's name, which fails if another process took that number first
(then it reads the newer entry and tries the next). So an update is in its outbox, or not,
whatever kills the process. An entry is deleted only after SNS acknowledged it (the job's
newest entry once `last.json` holds its facts): a crash in between re-sends it with the
same parameters, FIFO deduplication id included, which a FIFO topic drops.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from update_job import interrupts
from update_job.endpoint import redact_url
from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.message import FINAL_STATUSES, JobUpdate, format_timestamp

FORMAT = 1
OUTBOX_DIR = "outbox"
REJECTED_DIR = "rejected"
LAST_NAME = "last.json"
LOCK_NAME = ".lock"
MARKER_NAME = ".update-job-spool"
ENTRY_NAME = re.compile(r"([0-9]{10})\.json")
JOB_DIR_NAME = re.compile(r"[0-9a-f]{40}")
# An entry is at most 256 KiB of message plus its envelope: anything much larger is not
# one, and is never read whole.
MAX_ENTRY_BYTES = 1024 * 1024
# The step between two updates of a job whose clock did not move forward (or stepped back).
STEP = timedelta(milliseconds=1)
LOCK_POLL = 0.02
# No Publish is started with less time than this left.
MIN_PUBLISH = 0.1
# Variables botocore takes an SNS endpoint from, in its order (after --endpoint-url).
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL")


class SpoolRefused(InvalidUpdate):
    """The spool directory is not private to this user: refused, as ssh refuses a key file
    that others can write."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"spool directory {path} refused: {why}")
        self.path = path


class LockBusy(Exception):
    """Another process held a lock until the deadline."""


class NotAnEntry(ValueError):
    """A file in an outbox that is not an entry update-job wrote (or is damaged)."""


# -- files: one way to make a directory, write a file, read one, take a lock --------------


def private_directory(directory: Path) -> None:
    """Create `directory` (and missing parents) 0700 whatever the umask; refuse it if it
    exists and is not this user's own, writable by no one else."""
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    for path in reversed(missing):
        with suppress(FileExistsError):
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode is filtered through the umask
    check_private(directory)


def check_private(directory: Path) -> None:
    """SpoolRefused unless `directory` is a real directory (no symbolic link) owned by
    this user and writable by no one else."""
    status = os.lstat(directory)
    if stat.S_ISLNK(status.st_mode):
        raise SpoolRefused(directory, "a symbolic link")
    if not stat.S_ISDIR(status.st_mode):
        raise SpoolRefused(directory, "not a directory")
    if status.st_uid != os.geteuid():
        raise SpoolRefused(directory, f"owned by another user (uid {status.st_uid})")
    if status.st_mode & 0o022:
        raise SpoolRefused(directory, f"writable by others (mode {status.st_mode & 0o777:o})")


def write_file(path: Path, data: str, exclusive: bool = False, durable: bool = True) -> None:
    """Write `path` whole, 0600, synced (its name too) unless not `durable`: a reader sees
    the old file or the new one. With `exclusive`, FileExistsError if `path` exists (the
    write is then undone)."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(data)
            file.flush()
            if durable:
                os.fsync(file.fileno())
        if exclusive:
            os.link(partial, path)  # never replaces: EEXIST if the name is taken
        else:
            os.replace(partial, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(partial)
    if durable:
        sync_directory(path.parent)  # the name, not only the data, survives a power cut


def read_file(path: Path) -> bytes:
    """A small regular file's bytes; NotAnEntry for anything else. Never follows a symbolic
    link, never waits on a FIFO, never reads a device or a huge file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO):  # a symbolic link, a socket
            raise NotAnEntry(f"not a regular file ({kind_of(path)})") from error
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotAnEntry(f"not a regular file ({kind_of(path)})")
        chunks = []
        size = 0
        while size <= MAX_ENTRY_BYTES and (chunk := os.read(fd, MAX_ENTRY_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_ENTRY_BYTES:
        raise NotAnEntry(f"larger than an entry can be ({MAX_ENTRY_BYTES} bytes)")
    return data


def kind_of(path: Path) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "gone"
    kinds = {
        stat.S_IFLNK: "a symbolic link",
        stat.S_IFIFO: "a FIFO",
        stat.S_IFDIR: "a directory",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFSOCK: "a socket",
    }
    return kinds.get(stat.S_IFMT(mode), "a file")


@contextmanager
def locked(path: Path, deadline: float) -> Iterator[None]:
    """Hold the lock file `path` (made if missing) until the block ends. LockBusy if
    another process holds it past `deadline` (time.monotonic()); interrupts.Interrupted
    as soon as a terminating signal is pending. Never opens a FIFO, device or link."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotAnEntry(f"lock {path} is not a regular file")
        while True:
            interrupts.check()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(str(path)) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


def probe_writable(directory: Path) -> None:
    """OSError unless a file can be made in `directory`: found out before anything is sent,
    so that no update is delivered and then kept, to be delivered again."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".", suffix=".probe")
    os.close(fd)
    os.unlink(name)


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the spool --------------------------------------------------------------------------


def job_key(job_id: str) -> str:
    # Job ids may hold any printable character: the directory is named by their hash.
    return hashlib.sha256(job_id.encode()).hexdigest()[:40]


def open_spool(spool_dir: Path) -> None:
    """Make `spool_dir` (0700) if missing, with its marker; SpoolRefused if it is not
    private; InvalidUpdate if it cannot be written. Found out before anything is sent."""
    if not str(spool_dir):
        raise InvalidUpdate("the spool directory is an empty path")
    try:
        private_directory(spool_dir)
        marker = spool_dir / MARKER_NAME
        if not os.path.lexists(marker):
            write_file(marker, "update-job spool directory: see `update-job replay --help`\n")
        private_directory(spool_dir / OUTBOX_DIR)
        probe_writable(spool_dir / OUTBOX_DIR)
    except SpoolRefused:
        raise
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidUpdate(f"cannot write to spool directory {spool_dir}: {reason}") from error


def is_spool(spool_dir: Path) -> bool | None:
    """Whether update-job spools to `spool_dir` (its marker is there, or a file an older
    update-job spooled); None if it is empty."""
    names = os.listdir(spool_dir)
    if not names:
        return None
    return MARKER_NAME in names or any(LEGACY_NAME.fullmatch(name) for name in names)


def job_directories(spool_dir: Path) -> list[Path]:
    try:
        names = os.listdir(spool_dir / OUTBOX_DIR)
    except FileNotFoundError:
        return []
    return sorted(spool_dir / OUTBOX_DIR / name for name in names if JOB_DIR_NAME.fullmatch(name))


# The files an older update-job spooled, one per update, before outboxes: the spooling
# time in nanoseconds, then a random part. Replay moves them into their jobs' outboxes.
LEGACY_NAME = re.compile(r"[0-9]{20}-[A-Za-z0-9_-]+\.json")
LEGACY_FORMAT = 1


def adopt_legacy(spool_dir: Path, deadline: float) -> list[tuple[Path, str]]:
    """Move the updates an older update-job spooled in `spool_dir` into their jobs'
    outboxes, oldest first, under the spool's lock (one replay adopts each); the files
    that are not such updates, left in place, and why."""
    names = sorted(name for name in os.listdir(spool_dir) if LEGACY_NAME.fullmatch(name))
    if not names:
        return []
    left = []
    with locked(spool_dir / ".adopt.lock", deadline):
        for name in names:
            path = spool_dir / name
            try:
                record = json.loads(read_file(path))
                params = record["params"]
                if record["spool_format"] != LEGACY_FORMAT or not isinstance(params, dict):
                    raise NotAnEntry(f"format {record['spool_format']!r}")
                job_id = str(json.loads(params["Message"])["id"])
                Outbox(spool_dir, job_id).adopt(params, record.get("endpoint_url"))
            except FileNotFoundError:
                continue  # adopted by a replay that held the lock before
            except (ValueError, KeyError, TypeError, RecursionError) as error:
                left.append((path, f"not an update an older update-job spooled: {error}"))
                continue
            path.unlink()
    return left


def intended_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint an update is meant for, as botocore would pick it, without a password."""
    for url in (endpoint_url, *(os.environ.get(name) for name in ENDPOINT_VARIABLES)):
        if url:
            return redact_url(url)
    return None


def set_aside(path: Path, reason: str) -> Path:
    """Move `path` to rejected/ with a note of why, both 0600; replay no longer tries it."""
    rejected = path.parents[2] / REJECTED_DIR
    private_directory(rejected)
    target = rejected / f"{path.parent.name}-{path.name}"
    os.replace(path, target)
    # Set aside even if its note cannot be written (a full disk): the report says why.
    with suppress(OSError):
        write_file(rejected / f"{target.name}.reason", reason + "\n")
    return target


# -- one job's outbox ---------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A pending update in an outbox."""

    path: Path
    sequence: int
    params: dict[str, Any]
    endpoint_url: str | None
    finished: bool
    start_time: str | None
    updated: str

    @property
    def job_id(self) -> str:
        return str(self.params["MessageAttributes"]["job_id"]["StringValue"])

    def record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sequence": self.sequence,
            "updated": self.updated,
            "finished": self.finished,
            "start-time": self.start_time,
            "endpoint_url": self.endpoint_url,
            "params": self.params,
        }


@dataclass(frozen=True)
class Last:
    """What a job's outbox knows of its newest update (pending or sent)."""

    sequence: int = 0
    updated: str | None = None
    finished: bool = False
    start_time: str | None = None


def parse_entry(path: Path, data: bytes) -> Entry:
    """The entry in `data`; NotAnEntry saying why it is none."""
    try:
        record = json.loads(data.decode("utf-8"))
        params = record["params"]
        message = json.loads(params["Message"])
        entry = Entry(
            path,
            int(record["sequence"]),
            params,
            record.get("endpoint_url"),
            bool(record["finished"]),
            record.get("start-time"),
            str(record["updated"]),
        )
        checks = (
            record.get("format") == FORMAT,
            isinstance(params["TopicArn"], str),
            isinstance(message, dict) and message.get("id") == entry.job_id,
            entry.endpoint_url is None or isinstance(entry.endpoint_url, str),
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise NotAnEntry(f"not an outbox entry ({type(error).__name__}: {error})") from error
    if not all(checks):
        raise NotAnEntry("not an outbox entry (wrong format, topic, job or endpoint)")
    return entry


class Outbox:
    """One job's queue of updates in a spool directory."""

    def __init__(self, spool_dir: Path, job_id: str) -> None:
        self.directory = spool_dir / OUTBOX_DIR / job_key(job_id)

    @classmethod
    def at(cls, directory: Path) -> Outbox:
        outbox = cls.__new__(cls)
        outbox.directory = directory
        return outbox

    def sequences(self) -> list[int]:
        """The pending entries' sequence numbers, oldest first."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m[1]) for name in names if (m := ENTRY_NAME.fullmatch(name)))

    def entry_path(self, sequence: int) -> Path:
        return self.directory / f"{sequence:010d}.json"

    def read(self, sequence: int) -> Entry:
        return parse_entry(self.entry_path(sequence), read_file(self.entry_path(sequence)))

    def last(self) -> Last:
        """The newest update's facts: the newest readable pending entry, else the last one
        sent; its sequence number is the highest taken (a damaged entry's included)."""
        sequences = self.sequences()
        facts = self.sent()
        for sequence in reversed(sequences):
            try:
                entry = self.read(sequence)
            except (FileNotFoundError, NotAnEntry):
                continue  # sent meanwhile (then last.json says so), or set aside later
            facts = Last(entry.sequence, entry.updated, entry.finished, entry.start_time)
            break
        return Last(max([facts.sequence, *sequences]), *astuple(facts)[1:])

    def sent(self) -> Last:
        """The facts of the last update sent from this outbox (none yet: Last())."""
        try:
            record = json.loads(read_file(self.directory / LAST_NAME))
            return Last(
                int(record["sequence"]),
                str(record["updated"]),
                bool(record["finished"]),
                record.get("start-time"),
            )
        except FileNotFoundError:
            return Last()
        except (ValueError, KeyError, TypeError) as error:
            raise NotAnEntry(f"{self.directory / LAST_NAME} is damaged ({error})") from error

    def pending(self) -> list[int]:
        """The pending sequence numbers not yet known as sent (a crash between the
        acknowledgement and the deletion leaves one), oldest first."""
        sent = self.sent().sequence
        return [sequence for sequence in self.sequences() if sequence > sent]

    def append(self, update: JobUpdate, topic: Any, endpoint_url: str | None) -> Entry | None:
        """Append `update` with the next sequence number and an `updated` later than the
        job's last (see stamped); None if the job's last update is final and this one is
        not (a finished job stays finished). Takes no lock (see the module's doc)."""
        from update_job.envelope import make_envelope

        def entry_after(last: Last) -> Entry | None:
            if last.finished and update.status not in FINAL_STATUSES:
                return None
            stamped_update = stamped(update, last)
            return Entry(
                self.entry_path(last.sequence + 1),
                last.sequence + 1,
                make_envelope(stamped_update, topic),
                intended_endpoint(endpoint_url),
                last.finished or update.status in FINAL_STATUSES,
                format_or_none(stamped_update.start_time) or last.start_time,
                format_timestamp(stamped_update.updated),
            )

        return self.write_next(entry_after)

    def adopt(self, params: dict[str, Any], endpoint_url: str | None) -> Entry | None:
        """Append Publish parameters as they are (an update an older update-job spooled,
        before outboxes): numbered after the job's last update, otherwise unchanged."""
        message = json.loads(params["Message"])

        def entry_after(last: Last) -> Entry:
            return Entry(
                self.entry_path(last.sequence + 1),
                last.sequence + 1,
                params,
                endpoint_url,
                last.finished or message["status"] in FINAL_STATUSES,
                message.get("start-time") or last.start_time,
                str(message["updated"]),
            )

        return self.write_next(entry_after)

    def write_next(self, entry_after: Callable[[Last], Entry | None]) -> Entry | None:
        """Write the entry `entry_after` makes after the job's last update under the next
        sequence number; if another process took that number first, make it again after
        that process's entry. None if `entry_after` makes none."""
        private_directory(self.directory)
        while True:
            entry = entry_after(self.last())
            if entry is None:
                return None
            try:
                write_file(entry.path, json.dumps(entry.record(), ensure_ascii=False), True)
            except FileExistsError:
                continue  # another process took this number: after its update, then
            return entry

    def mark_sent(self, entry: Entry) -> None:
        """Delete `entry`, which SNS acknowledged. When it is the job's newest, `last.json`
        takes its facts first: the next update is numbered and stamped after it. (A crash
        before the deletion sends it again, with the same deduplication id.)"""
        facts = Last(entry.sequence, entry.updated, entry.finished, entry.start_time)
        self.remember_if_newest(facts)
        entry.path.unlink(missing_ok=True)

    def set_aside(self, sequence: int, reason: str) -> Path:
        """Move entry `sequence` to rejected/ (see set_aside); where it now is. It never
        reaches the consumer, so the job's facts stay those of its last update sent, but its
        number stays taken: the consumer orders by number, so none is ever given twice."""
        self.remember_if_newest(replace(self.sent(), sequence=sequence))
        return set_aside(self.entry_path(sequence), reason)

    def remember_if_newest(self, facts: Last) -> None:
        """When `facts.sequence` is the job's newest entry, write them to `last.json`
        before that entry goes, so that numbering and stamping go on after it."""
        if self.sequences()[-1:] != [facts.sequence]:
            return  # a newer entry is still there: it is remembered when it goes
        last = {
            "format": FORMAT,
            "sequence": facts.sequence,
            "updated": facts.updated,
            "finished": facts.finished,
            "start-time": facts.start_time,
        }
        # Not synced: lost in a power cut along with the deletion, it costs a repeat.
        write_file(self.directory / LAST_NAME, json.dumps(last), durable=False)

    def lock(self, deadline: float) -> Any:
        return locked(self.directory / LOCK_NAME, deadline)

    def send(
        self, publish: Publish, deadline: float, lock_wait: float, until: int | None = None
    ) -> Drained:
        """Send the pending entries oldest first, through entry `until` (all if None),
        holding the job's lock for one Publish at a time; stop at the first that is not
        delivered, which stays, with every later one, and start none after `deadline`
        (time.monotonic()). An entry that can never be sent (not an entry, or refused for
        good) is set aside in rejected/. LockBusy if another sender holds the lock for
        `lock_wait` seconds (or past `deadline`); interrupts.Interrupted on a signal."""
        drained = Drained()
        while drained.failure is None and self.pending():
            if time.monotonic() >= deadline - MIN_PUBLISH:
                drained.out_of_time = bool(self.pending())
                break
            with self.lock(min(deadline, time.monotonic() + lock_wait)):
                pending = self.pending()
                for sent in self.sequences()[: len(self.sequences()) - len(pending)]:
                    self.entry_path(sent).unlink(missing_ok=True)  # sent: a crash kept it
                if not pending or (until is not None and pending[0] > until):
                    break
                self.send_one(pending[0], publish, deadline, drained)
        return drained

    def send_one(self, sequence: int, publish: Publish, deadline: float, drained: Drained) -> None:
        try:
            entry = self.read(sequence)
        except FileNotFoundError:
            return  # sent by a process that held the lock before
        except NotAnEntry as error:
            reason = f"malformed: {error}"
            drained.rejected.append((sequence, self.set_aside(sequence, reason), reason))
            return
        try:
            message_id = publish(entry, deadline)
        except DeliveryFailed as error:
            if not error.permanent:
                drained.failure, drained.failed = error, entry
                return
            reason = f"refused for good: {error}"
            drained.rejected.append((sequence, self.set_aside(sequence, reason), reason))
            return
        self.mark_sent(entry)
        drained.sent.append((entry, message_id))


Publish = Callable[[Entry, float], str]


@dataclass
class Drained:
    """What one pass over an outbox did."""

    sent: list[tuple[Entry, str]] = field(default_factory=list)  # entry, message id
    # sequence, where in rejected/ it now is, why
    rejected: list[tuple[int, Path, str]] = field(default_factory=list)
    failure: DeliveryFailed | None = None  # why `failed` (and the ones after it) stay
    failed: Entry | None = None
    out_of_time: bool = False  # entries left untried: the deadline came


def format_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def stamped(update: JobUpdate, last: Last) -> JobUpdate:
    """`update` numbered after `last`, its `updated` later than the last's (the last plus
    1 ms if the clock stepped back), its stop-time never before its start-time nor the
    job's, nor before its own `updated` moved."""
    changes: dict[str, Any] = {"sequence": last.sequence + 1}
    updated = update.updated
    if last.updated is not None:
        floor = datetime.fromisoformat(last.updated) + STEP
        if updated < floor:
            updated = floor
            changes["updated"] = updated
            if update.stop_time is not None and update.stop_time < updated:
                changes["stop_time"] = updated
    start = update.start_time
    if start is None and last.start_time is not None:
        start = datetime.fromisoformat(last.start_time)
    stop = changes.get("stop_time", update.stop_time)
    if stop is not None and start is not None and stop < start:
        changes["stop_time"] = start
    return update.model_copy(update=changes)
