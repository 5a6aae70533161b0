"""Updates that could not be delivered, kept on disk until `update-job replay` sends them.

A spooled file holds the exact Publish parameters, FIFO deduplication id included, so a
replay of an update that did reach SNS after all is dropped by the FIFO topic rather than
doubled. Files are named by the time they were spooled, so replay keeps each job's order.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.publish import deliver, redact_url

SPOOL_FORMAT = 1
LOCK_NAME = ".replay.lock"


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
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=spool_dir, prefix=".", suffix=".partial")
    try:
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


def deliver_or_spool(
    params: dict[str, Any],
    endpoint_url: str | None,
    timeout: float,
    spool_dir: Path | None,
) -> str:
    """Deliver; when that fails and there is a spool, keep the update there and say where."""
    try:
        return deliver(params, endpoint_url, timeout)
    except DeliveryFailed as error:
        if spool_dir is None:
            raise
        try:
            path = spool(params, spool_dir, str(error), endpoint_url)
        except OSError as spool_error:
            raise DeliveryFailed(
                f"{error}; and could not spool it to {spool_dir}: {spool_error}", error.exit_code
            ) from None
        raise DeliveryFailed(f"{error}; spooled to {path}", error.exit_code, path) from None


@dataclass
class ReplayReport:
    sent: list[tuple[Path, str]] = field(default_factory=list)  # file, SNS message id
    left: list[tuple[Path, str]] = field(default_factory=list)  # file, why it is still there


def spooled_files(spool_dir: Path) -> list[Path]:
    return sorted(path for path in spool_dir.glob("*.json") if not path.name.startswith("."))


@contextmanager
def replay_lock(spool_dir: Path) -> Iterator[None]:
    """One replay at a time per spool: a second one waits, then finds the files sent."""
    with open(spool_dir / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_spooled(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if record.get("spool_format") != SPOOL_FORMAT or "params" not in record:
        raise ValueError(f"not a spooled update (format {record.get('spool_format')!r})")
    return record


def job_of(record: dict[str, Any]) -> str:
    return str(record["params"]["MessageAttributes"]["job_id"]["StringValue"])


def replay(spool_dir: Path, endpoint_url: str | None, timeout: float) -> ReplayReport:
    """Republish spooled updates oldest first, deleting each file only once SNS acknowledged
    it. An update that still fails holds back the later ones of the same job."""
    if not spool_dir.is_dir():
        raise InvalidUpdate(f"no spool directory {spool_dir}")
    report = ReplayReport()
    held_jobs: set[str] = set()
    with replay_lock(spool_dir):
        for path in spooled_files(spool_dir):
            if not path.exists():
                continue
            try:
                record = read_spooled(path)
                job = job_of(record)
            except (OSError, ValueError, KeyError, TypeError) as error:
                report.left.append((path, f"unreadable: {error}"))
                continue
            if job in held_jobs:
                report.left.append((path, f"held behind an earlier update of job {job}"))
                continue
            try:
                message_id = deliver(
                    record["params"], endpoint_url or record.get("endpoint_url"), timeout
                )
            except (DeliveryFailed, InvalidUpdate) as error:
                held_jobs.add(job)
                report.left.append((path, str(error)))
                continue
            path.unlink()
            report.sent.append((path, message_id))
    sync_directory(spool_dir)
    return report
