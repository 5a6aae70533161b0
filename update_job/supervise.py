"""`update-job run`: a command between a `running` and a final update, its exit code kept.

The command's output passes through untouched and its exit code is what update-job exits
with, so a supervised workflow behaves as if it ran alone. Updates that cannot be delivered
never hold the command back: a status outage must not stop science.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.message import JobUpdate, make_update
from update_job.publish import TERMINATING_SIGNALS
from update_job.sender import Destination, Receipt, send_update
from update_job.spool import replay_lock
from update_job.values import cwl_locations

Report = Callable[[Receipt], None]
Warn = Callable[[str], None]

# cwltool's output object can list many files; keep this much of the end of stdout to find
# it in (far more than SNS's 256 KiB message limit lets through anyway).
STDOUT_TAIL_BYTES = 8 * 1024 * 1024
# How long to wait, after the command exits, for its stdout to close: a background process
# it left behind may hold the pipe open forever.
STDOUT_CLOSE_GRACE = 5.0
# A line that starts a JSON object: cwltool prints its output object from column 0.
OBJECT_START = re.compile(rb"^\{", re.MULTILINE)


@dataclass(frozen=True)
class Job:
    """What the updates say about the job besides its status."""

    id: str
    labels: tuple[str, ...] = ()
    inputs: dict[str, Any] | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Supervision:
    """The command to run and how to watch it."""

    command: Sequence[str]
    outputs_from_stdout: bool = False
    heartbeat: float | None = None

    @property
    def name(self) -> str:
        return Path(self.command[0]).name


def exit_status(returncode: int) -> int:
    """The shell's convention: a process killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def from_terminal(signum: int) -> bool:
    """Whether a SIGINT is most likely Ctrl-C: we are the terminal's foreground process group,
    which the terminal signals whole, so the command (in our group) got it already."""
    if signum != signal.SIGINT:
        return False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


class SignalForwarder:
    """SIGTERM and SIGINT for update-job go to the command instead: update-job stays to send
    the final update once the command has stopped.

    The command stays in update-job's process group so that terminal job control and
    batch systems that signal the whole group reach it as usual. A SIGINT from the terminal
    has then reached it already and is not sent twice; a SIGTERM always is (a repeated
    SIGTERM asks nothing new of a command that is already stopping)."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.received: int | None = None

    def handle(self, signum: int, _: FrameType | None = None) -> None:
        if self.child is not None and self.child.poll() is not None:
            return  # the command is done: the signal comes too late to change its outcome
        if self.received is None:
            self.received = signum
        if self.child is not None and not from_terminal(signum):
            self.child.send_signal(signum)

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        # A signal that came between the check before starting and here is passed on now.
        if self.received is not None and not from_terminal(self.received):
            child.send_signal(self.received)

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {signum: signal.signal(signum, self.handle) for signum in TERMINATING_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


class StdoutTee:
    """Copies the command's stdout to ours byte for byte as it comes, keeping its end to find
    the output object in."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.tail = bytearray()
        self.thread = threading.Thread(target=self.copy, name="stdout-tee", daemon=True)
        self.thread.start()

    def copy(self) -> None:
        passing = True
        fd = self.source.fileno()
        while chunk := os.read(fd, 65536):
            self.tail += chunk
            if len(self.tail) > STDOUT_TAIL_BYTES:
                del self.tail[: len(self.tail) - STDOUT_TAIL_BYTES]
            if passing:
                try:
                    write_all(sys.stdout.fileno(), chunk)
                except OSError:
                    # Our stdout is gone (a closed pipe): keep reading so that the command
                    # is not stopped by it, only its output is lost.
                    passing = False
        self.source.close()

    def finish(self) -> bool:
        """Wait for the command's stdout to close; whether it did."""
        self.thread.join(STDOUT_CLOSE_GRACE)
        return not self.thread.is_alive()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def last_json_object(output: bytes) -> dict[str, Any] | None:
    """The last JSON object printed from the start of a line, as cwltool prints its output
    object after whatever else the command printed."""
    decoder = json.JSONDecoder()
    for match in reversed(list(OBJECT_START.finditer(output))):
        chunk = output[match.start() :].decode("utf-8", errors="replace")
        try:
            value, _ = decoder.raw_decode(chunk)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


@dataclass
class Outcome:
    """How the command ended, for the final update and update-job's exit status."""

    exit_code: int
    message: str
    failed: bool = False  # failed whatever the exit code: a signal stopped the command
    outputs: dict[str, Any] | None = None
    # Sent again with the final update, which then stands in for an undelivered start.
    start_time: datetime | None = None


def supervise(
    job: Job, supervision: Supervision, destination: Destination, report: Report, warn: Warn
) -> int:
    """Run the command between a `running` and a final update; the status to exit with.

    InvalidUpdate (the job's fields, the topic) is raised before the command starts. Start
    and heartbeat updates are always best effort; see `send_final` for the final one."""
    start = make_update(
        job.id,
        "running",
        labels=list(job.labels),
        inputs=job.inputs,
        user_id=job.user_id,
        start_time="now",
        message=f"started {supervision.name}",
    )
    forwarder = SignalForwarder()
    # Start and heartbeat updates that were spooled: replayed after a delivered final
    # update, they would set the job back to `running`, so that update supersedes them.
    spooled: list[Path] = []
    with forwarder.installed():
        interrupted = send_quietly(start, destination, report, warn, spooled)
        if interrupted is not None or forwarder.received is not None:
            signum = interrupted or forwarder.received or signal.SIGTERM
            outcome = Outcome(
                128 + signum,
                f"{signal_name(signum)} before {supervision.name} started: not run",
                failed=True,
            )
        else:
            outcome = run_command(
                job.id, supervision, destination, forwarder, report, warn, spooled
            )
        outcome.start_time = start.start_time
        return send_final(job, outcome, destination, report, warn, spooled)


def run_command(
    job_id: str,
    supervision: Supervision,
    destination: Destination,
    forwarder: SignalForwarder,
    report: Report,
    warn: Warn,
    spooled: list[Path],
) -> Outcome:
    name = supervision.name
    try:
        child = subprocess.Popen(
            list(supervision.command),
            stdout=subprocess.PIPE if supervision.outputs_from_stdout else None,
        )
    except OSError as error:
        # The shell's codes: 127 not found, 126 found but not runnable.
        code = 127 if isinstance(error, FileNotFoundError) else 126
        reason = error.strerror or str(error)
        warn(f"cannot run {supervision.command[0]}: {reason}")
        return Outcome(code, f"cannot run {name}: {reason}")
    started = time.monotonic()
    forwarder.attach(child)
    tee = None if child.stdout is None else StdoutTee(child.stdout)
    returncode = wait_with_heartbeats(
        job_id, child, supervision, destination, forwarder, started, report, warn, spooled
    )
    code = exit_status(returncode)
    if forwarder.received is not None:
        signum = forwarder.received
        how = (
            f"{name} exited with code {code}"
            if returncode >= 0
            else f"{name} killed by {signal_name(-returncode)}"
        )
        outcome = Outcome(
            code if code != 0 else 128 + signum,
            f"terminated by {signal_name(signum)} ({how})",
            failed=True,
        )
    elif returncode < 0:
        outcome = Outcome(code, f"{name} was killed by {signal_name(-returncode)}")
    else:
        outcome = Outcome(code, f"{name} exited with code {code}")
    if tee is not None:
        if not tee.finish():
            warn(f"{name}'s stdout is still open (a process it left behind?): not waiting")
        outcome.outputs = output_object(bytes(tee.tail), warn)
    return outcome


def wait_with_heartbeats(
    job_id: str,
    child: subprocess.Popen[bytes],
    supervision: Supervision,
    destination: Destination,
    forwarder: SignalForwarder,
    started: float,
    report: Report,
    warn: Warn,
    spooled: list[Path],
) -> int:
    """Wait for the command, publishing `running` every heartbeat. The heartbeats go from
    this (the main) thread: delivery handles signals, which only the main thread can, and
    on a FIFO topic no heartbeat can then follow the final update."""
    if supervision.heartbeat is None:
        return child.wait()
    next_beat = started + supervision.heartbeat
    while True:
        try:
            return child.wait(timeout=max(0.0, next_beat - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        elapsed = time.monotonic() - started
        # Whole seconds, unless heartbeats come faster than that.
        shown = f"{elapsed:.0f}" if supervision.heartbeat >= 1 else f"{elapsed:.1f}"
        beat = make_update(job_id, "running", message=f"{supervision.name} running for {shown} s")
        interrupted = send_quietly(beat, destination, report, warn, spooled)
        if interrupted is not None:
            # The signal came while the heartbeat was being delivered: pass it on now.
            forwarder.handle(interrupted)
        # A slow delivery delays the next heartbeat rather than bunching them up.
        next_beat = max(next_beat, time.monotonic()) + supervision.heartbeat


def output_object(stdout_tail: bytes, warn: Warn) -> dict[str, Any] | None:
    found = last_json_object(stdout_tail)
    if found is None:
        warn("--outputs-from-stdout: no JSON object on the command's stdout; no outputs sent")
        return None
    outputs: dict[str, Any] = cwl_locations(found)
    return outputs


def send_quietly(
    update: JobUpdate, destination: Destination, report: Report, warn: Warn, spooled: list[Path]
) -> int | None:
    """Send an update the command must not wait for: not delivering it is a warning (and a
    spooled file with --spool, added to `spooled`). The signal number, if a signal
    interrupted the delivery."""
    try:
        receipt = send_update(update, replace(destination, best_effort=True))
    except DeliveryFailed as error:
        # Best effort lets every delivery problem pass but a signal (exit 128 + N).
        warn(f"not delivered: {error}")
        if error.spooled is not None:
            spooled.append(error.spooled)
        return error.exit_code - 128
    if receipt.spooled is not None:
        spooled.append(receipt.spooled)
    report(receipt)
    return None


def send_final(
    job: Job,
    outcome: Outcome,
    destination: Destination,
    report: Report,
    warn: Warn,
    spooled: list[Path],
) -> int:
    """Send the final update; the status to exit with.

    The command's own failure code always wins. When the command succeeded but its final
    update was not delivered, update-job exits 1 (the job would otherwise stay `running`
    unnoticed), or 0 with --best-effort."""
    outputs = outcome.outputs
    while True:
        final = make_update(
            job.id,
            "failed" if outcome.failed else None,
            outcome.exit_code,
            labels=list(job.labels),
            user_id=job.user_id,
            outputs=outputs,
            message=outcome.message,
            start_time=outcome.start_time,
        )
        try:
            receipt = send_update(final, destination)
        except InvalidUpdate as error:
            if outputs is None:
                raise
            # The outputs must not cost the job its final status.
            warn(f"outputs left out of the final update: {error}")
            outputs = None
            continue
        except DeliveryFailed as error:
            warn(f"final update not delivered: {error}")
            return outcome.exit_code or error.exit_code
        report(receipt)
        if receipt.message_id is not None and spooled:
            discard_superseded(spooled, warn)
        return outcome.exit_code


def discard_superseded(spooled: list[Path], warn: Warn) -> None:
    """Remove spooled start and heartbeat updates once the final update is delivered: it
    carries their start-time, and their `running` must not follow it."""
    with replay_lock(spooled[0].parent):
        for path in spooled:
            path.unlink(missing_ok=True)
    warn(f"final update delivered: removed {len(spooled)} spooled earlier update(s) it replaces")
