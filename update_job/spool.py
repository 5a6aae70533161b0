"""Updates that could not be delivered, kept on disk until `update-job replay` sends them:
this module stores, lists, reads, sets aside and removes them; it sends nothing.

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
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from update_job.endpoint import redact_url
from update_job.errors import InvalidUpdate
from update_job.jobstate import moment, private_directory

SPOOL_FORMAT = 1
LOCK_NAME = ".replay.lock"
REJECTED_DIR = "rejected"
# Written in every directory update-job spools to: replay touches no directory that is not
# one (a mistyped `update-job replay ~` must not move a user's files).
MARKER_NAME = ".update-job-spool"
# The names store() gives: the spooling time in nanoseconds, then a random part. Replay
# considers no other file.
SPOOLED_NAME = re.compile(r"[0-9]{20}-[A-Za-z0-9_-]+\.json")
# A spooled update is at most 256 KiB of message plus its envelope: anything much larger is
# not one, and is never read whole.
MAX_SPOOLED_BYTES = 1024 * 1024


def store(envelope: dict[str, Any], spool_dir: Path, reason: str, endpoint_url: str | None) -> Path:
    """Write the update to `spool_dir` atomically: a reader sees the whole file or none."""
    record = {
        "spool_format": SPOOL_FORMAT,
        "spooled_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "reason": reason,
        # Never a password at rest: a replay to such an endpoint needs --endpoint-url again.
        "endpoint_url": endpoint_url and redact_url(endpoint_url),
        "params": envelope,
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
    with suppress(OSError):
        mark(spool_dir)  # the update is kept even without it: its name says it is spooled
    sync_directory(spool_dir)
    return path


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mark(spool_dir: Path) -> None:
    """Say that `spool_dir` is a spool directory (see MARKER_NAME), once."""
    marker = spool_dir / MARKER_NAME
    if not marker.exists():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write("update-job spool directory: see `update-job replay --help`\n")


def check_spool_path(spool_dir: Path | str) -> None:
    """InvalidUpdate for an empty path: Path("") is the current directory, never meant."""
    if not str(spool_dir):
        raise InvalidUpdate("the spool directory is an empty path")


def check_writable(spool_dir: Path) -> None:
    """InvalidUpdate unless an update can be spooled to `spool_dir`: found out before
    publishing, so that a step which fails on it can be rerun without publishing twice."""
    try:
        private_directory(spool_dir)
        mark(spool_dir)
        fd, probe = tempfile.mkstemp(dir=spool_dir, prefix=".", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidUpdate(f"cannot write to spool directory {spool_dir}: {reason}") from None


def message_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """The update an envelope carries; ValueError if it is none."""
    message = json.loads(envelope["Message"])
    if not isinstance(message, dict):
        raise ValueError("the message is not a JSON object")
    for name in ("id", "status", "updated"):
        if not isinstance(message.get(name), str):
            raise ValueError(f"the message has no {name}")
    moment(message["updated"])
    return message


def spooled_files(spool_dir: Path) -> list[Path]:
    """The files in `spool_dir` named as store() names them, oldest first (none if there is
    no such directory yet)."""
    try:
        names = os.listdir(spool_dir)
    except FileNotFoundError:
        return []
    return sorted(spool_dir / name for name in names if SPOOLED_NAME.fullmatch(name))


def is_spool(spool_dir: Path) -> bool | None:
    """Whether update-job spools to `spool_dir`: its marker or a spooled file is there (not
    merely a `jobs` directory, a name a user's own directory may well hold). None for an
    empty directory (nothing to replay, nothing to harm)."""
    names = os.listdir(spool_dir)
    if not names:
        return None
    return MARKER_NAME in names or any(SPOOLED_NAME.fullmatch(name) for name in names)


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
    """The spooled record in `path`; ValueError saying why it is not one. Only a regular
    file of at most MAX_SPOOLED_BYTES is read: never a FIFO (whose open would wait for a
    writer), a device, a symbolic link or a huge file."""
    kind = stat.S_IFMT(path.lstat().st_mode)
    if kind != stat.S_IFREG:
        raise ValueError(f"not a regular file ({describe_kind(kind)})")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        # Checked again on what was opened: the name may have been replaced meanwhile.
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"not a regular file ({describe_kind(stat.S_IFMT(status.st_mode))})")
        data = file.read(MAX_SPOOLED_BYTES + 1)
    if len(data) > MAX_SPOOLED_BYTES:
        raise ValueError(f"larger than a spooled update can be ({MAX_SPOOLED_BYTES} bytes)")
    try:
        record = json.loads(data.decode("utf-8"))
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


def describe_kind(kind: int) -> str:
    kinds = {
        stat.S_IFLNK: "a symbolic link",
        stat.S_IFIFO: "a FIFO",
        stat.S_IFDIR: "a directory",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFSOCK: "a socket",
    }
    return kinds.get(kind, "not a file")


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


def remove(path: Path) -> None:
    """Delete a spooled update (sent, or made pointless by newer ones): the one way a
    spooled file goes, but for set_aside."""
    path.unlink(missing_ok=True)
