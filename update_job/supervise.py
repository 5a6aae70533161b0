"""`update-job run`: a command between a `running` and a final update, its exit code kept.

The command's output passes through untouched and its exit code is what update-job exits
with, so a supervised workflow behaves as if it ran alone. Updates that cannot be delivered
never hold the command back: a status outage must not stop science.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

from update_job.errors import DeliveryFailed, DeliveryInterrupted, InvalidUpdate, SpoolFailed
from update_job.interrupts import TERMINATING_SIGNALS, signal_name
from update_job.message import JobUpdate, make_update
from update_job.sender import Receipt, Sender
from update_job.steps import (
    LONGEST_EVENT_LINE,
    StepFollower,
    StepsUnknown,
    ToilFollower,
    follows_steps,
    is_toil,
    read_outline,
    workflow_document,
)
from update_job.values import cwl_locations


class Reporting(Protocol):
    """What `run` tells its user, in the user's words (the command line's)."""

    def sent(self, receipt: Receipt) -> None:
        """An update went (or best effort let it pass)."""

    def warn(self, text: str) -> None:
        """Something went wrong, and the run goes on."""

    def no_outputs(self, reason: str) -> None:
        """The command's output object cannot be the final update's outputs."""

    def runner_internal(self, locations: list[str]) -> None:
        """These outputs' locations are the runner's own, no URLs: sent as null."""


# cwltool's output object can list many files; keep this much of the end of stdout to find
# it in (far more than SNS's 256 KiB message limit lets through anyway).
STDOUT_TAIL_BYTES = 8 * 1024 * 1024
# How long to wait, after the command exits, for its stdout to close: a background process
# it left behind may hold the pipe open forever.
STDOUT_CLOSE_GRACE = 5.0
# cwltool prints its output object last, from column 0: only the last few lines that start
# a JSON object are tried, so that megabytes of such lines cost one pass, not one per line.
OBJECT_CANDIDATES = 8
# How long a command may take to stop after the signal it was passed, before it (and its
# process group) is killed.
DEFAULT_KILL_AFTER = 10.0
# How often the wait for the command looks at the clock (grace period, heartbeats).
WAIT_STEP = 0.25
# Step updates come no faster than one in this many seconds: steps that finish closer
# together are told in one update, the latest state (heartbeats count as updates too).
STEP_UPDATE_INTERVAL = 1.0
# How long, after the command has ended, to wait for its workflow's steps to be read (they
# are read while it runs, and a short command may end first): the final update names the
# failed step only once they are.
STEPS_READ_GRACE = 30.0
# Toil's option that writes its message bus to a file, which --step-updates adds.
TOIL_BUS_OPTION = "--writeMessages"
# How often Toil's bus file is read for new messages.
BUS_READ_INTERVAL = 0.2


@dataclass(frozen=True)
class Supervision:
    """The command to run and how to watch it."""

    command: Sequence[str]
    outputs_from_stdout: bool = False
    heartbeat: float | None = None
    kill_after: float = DEFAULT_KILL_AFTER
    step_updates: bool = False

    @property
    def name(self) -> str:
        # A path's bytes that are not UTF-8 (kept by Python as lone surrogates) cannot go in
        # a message: shown as the replacement character, and the command still runs.
        name = Path(self.command[0]).name
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def exit_status(returncode: int) -> int:
    """The shell's convention: a process killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def terminal_foreground() -> bool:
    """Whether we are the foreground process group of a terminal on stdin, stdout or stderr:
    someone at that terminal may use job control (Ctrl-C, Ctrl-Z) on the command."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


class SignalForwarder:
    """SIGTERM and SIGINT for update-job go to the command instead: update-job stays to send
    the final update once the command has stopped. A command still running `kill_after`
    seconds after the first signal is killed (SIGKILL).

    Run from a terminal, the command stays in update-job's process group, so that job
    control works as usual: a SIGINT from the terminal has then reached it already and is
    not sent twice. Otherwise (a batch system, a workflow engine) the command leads its own
    process group, and signals and the kill go to that whole group: processes it started
    stop with it."""

    def __init__(self, kill_after: float = DEFAULT_KILL_AFTER) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.received: int | None = None
        self.received_at: float | None = None
        self.kill_after = kill_after
        self.killed = False
        self.interactive = terminal_foreground()

    @property
    def own_group(self) -> bool:
        return not self.interactive

    def from_terminal(self, signum: int) -> bool:
        return signum == signal.SIGINT and self.interactive

    def handle(self, signum: int, _: FrameType | None = None) -> None:
        if self.child is not None and self.child.poll() is not None:
            return  # the command is done: the signal comes too late to change its outcome
        if self.received is None:
            self.received = signum
            self.received_at = time.monotonic()
        if self.child is not None and not self.from_terminal(signum):
            self.send(signum)

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        # A signal that came between the check before starting and here is passed on now.
        if self.received is not None:
            self.received_at = time.monotonic()
            if not self.from_terminal(self.received):
                self.send(self.received)

    def send(self, signum: int) -> None:
        if self.child is None:
            return
        try:
            if self.own_group:
                os.killpg(self.child.pid, signum)
            else:
                self.child.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass  # gone already

    def kill_due(self) -> float | None:
        """When the command is to be killed, if a signal asked it to stop."""
        if self.received_at is None or self.killed:
            return None
        return self.received_at + self.kill_after

    def kill(self) -> None:
        self.killed = True
        self.send(signal.SIGKILL)

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
                except (OSError, ValueError, AttributeError):
                    # Our stdout is gone (a closed pipe, a full disk, or closed from the
                    # start: None): keep reading so that the command is not stopped by it,
                    # only its output is lost.
                    passing = False
        self.source.close()

    def finish(self) -> bool:
        """Wait for the command's stdout to close; whether it did."""
        self.thread.join(STDOUT_CLOSE_GRACE)
        return not self.thread.is_alive()


def group_alive(pgid: int) -> bool:
    """Whether process group `pgid` still has a process in it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user joined it: alive, and not ours to kill
    return True


class StderrFollower:
    """Copies the command's stderr to ours byte for byte as it comes, and tells `follower`
    each of its lines, for the runner's step events."""

    def __init__(self, source: IO[bytes], follower: StepFollower | ToilFollower) -> None:
        self.source = source
        self.follower = follower
        self.thread = threading.Thread(target=self.copy, name="stderr-follower", daemon=True)
        self.thread.start()

    def copy(self) -> None:
        passing = True
        pending = b""
        fd = self.source.fileno()
        while chunk := os.read(fd, 65536):
            if passing:
                try:
                    write_all(sys.stderr.fileno(), chunk)
                except (OSError, ValueError, AttributeError):
                    passing = False  # as StdoutTee: the command goes on, unheard
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self.follower.feed(line.decode("utf-8", "replace"))
            # A line longer than any step event is not one: not kept whole.
            pending = pending[-(LONGEST_EVENT_LINE + 1) :]
        if pending:
            self.follower.feed(pending.decode("utf-8", "replace"))
        self.source.close()

    def finish(self) -> bool:
        """Wait for the command's stderr to close; whether it did."""
        self.thread.join(STDOUT_CLOSE_GRACE)
        return not self.thread.is_alive()


class BusReader:
    """Reads the lines Toil appends to its bus file as it runs, and tells `follower` each;
    once the command has ended (`finish`), what is left too."""

    def __init__(self, path: Path, follower: ToilFollower) -> None:
        self.path = path
        self.follower = follower
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self.copy, name="bus-reader", daemon=True)
        self.thread.start()

    def copy(self) -> None:
        position, pending = 0, b""
        while True:
            ended = self.ended.is_set()
            try:
                with self.path.open("rb") as bus:
                    bus.seek(position)
                    chunk = bus.read()
            except OSError:
                chunk = b""  # not written yet
            position += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self.follower.feed_message(line.decode("utf-8", "replace"))
            pending = pending[-(LONGEST_EVENT_LINE + 1) :]
            if ended:
                return
            self.ended.wait(BUS_READ_INTERVAL)

    def finish(self) -> None:
        """Read what is left, then remove the bus file's directory."""
        self.ended.set()
        self.thread.join(STDOUT_CLOSE_GRACE)
        shutil.rmtree(self.path.parent, ignore_errors=True)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def last_json_object(output: bytes) -> dict[str, Any] | None:
    """The last JSON object printed from the start of a line, as cwltool prints its output
    object after whatever else the command printed. Linear in the output's size: only the
    last OBJECT_CANDIDATES such lines are tried."""
    text = output.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    end = len(text)
    for _ in range(OBJECT_CANDIDATES):
        start = text.rfind("\n{", 0, end) + 1
        if start == 0 and not text.startswith("{"):
            return None
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None  # not JSON, or nested too deep to read: try the line before
        if isinstance(value, dict):
            return value
        if start == 0:
            return None
        end = start - 1
    return None


@dataclass
class Outcome:
    """How the command ended, for the final update and update-job's exit status."""

    exit_code: int
    message: str
    failed: bool = False  # failed whatever the exit code: a signal stopped the command
    outputs: dict[str, Any] | None = None


class Supervisor:
    """One `run`: the job's updates (through `sender`, each told to `reporting`, as is
    every problem) around the command, and the signals passed on to it.

    `job` is the job's `running` update as the command starts: the job's id, labels,
    inputs, user and start-time, which the other updates take from it."""

    def __init__(
        self, job: JobUpdate, supervision: Supervision, sender: Sender, reporting: Reporting
    ) -> None:
        self.job = job
        self.supervision = supervision
        self.sender = sender
        self.reporting = reporting
        self.warn = reporting.warn
        self.forwarder = SignalForwarder(supervision.kill_after)
        # --step-updates: the runner's steps, and what of them was published when.
        self.command = list(supervision.command)
        self.follower: StepFollower | ToilFollower | None = None
        self.bus: BusReader | None = None
        self.steps_reader: threading.Thread | None = None
        self.steps_published = 0
        self.last_update_at = -math.inf

    def run(self) -> int:
        """Run the command between a `running` and a final update; the status to exit with.

        InvalidUpdate (the topic, a spool directory that cannot be written) is raised
        before the command starts. After that nothing but a signal keeps the command from
        starting: start and heartbeat updates are best effort, whatever goes wrong with
        them. See `send_final` for the final update."""
        name = self.supervision.name
        start = self.job.model_copy(update={"message": f"started {name}"})
        replace(self.sender, spool_dir=None).check(start)
        refused = self.without_unusable_spool()
        forwarder = self.forwarder
        with forwarder.installed():
            interrupted = self.send_best_effort(start)
            self.last_update_at = time.monotonic()  # step updates come a second after it
            if interrupted is not None or forwarder.received is not None:
                signum = interrupted or forwarder.received or signal.SIGTERM
                not_run = f"{signal_name(signum)} before {name} started: not run"
                outcome = Outcome(128 + signum, not_run, failed=True)
            else:
                outcome = self.run_command()
            status = self.send_final(outcome)
        return status or refused

    def without_unusable_spool(self) -> int:
        """A spool that is refused (not private) or cannot be written is said in one line,
        and the command runs without it; the status to exit with if it succeeds (2), or 0."""
        try:
            self.sender.check_spool()
        except InvalidUpdate as error:
            self.warn(f"{error}: {self.supervision.name} runs without the spool")
            self.sender = replace(self.sender, spool_dir=None)
            return error.exit_code
        return 0

    def run_command(self) -> Outcome:
        supervision = self.supervision
        follower = self.follow_steps() if supervision.step_updates else None
        child = self.start_command(follow_stderr=follower is not None)
        if isinstance(child, Outcome):
            self.stop_reading_bus()
            return child
        started = time.monotonic()
        self.forwarder.attach(child)
        tee = None if child.stdout is None else StdoutTee(child.stdout)
        log = (
            None
            if child.stderr is None or follower is None
            else StderrFollower(child.stderr, follower)
        )
        returncode = self.wait_for_command(child, started)
        self.kill_group_leftovers(child)
        self.stop_reading_bus()
        outcome = self.outcome_of(returncode, None if log is None else self.last_of_steps(log))
        if tee is not None:
            if not tee.finish():
                self.warn(
                    f"{supervision.name}'s stdout is still open (a process it left behind?): "
                    "not waiting"
                )
            outcome.outputs = self.output_object(bytes(tee.tail))
        return outcome

    def stop_reading_bus(self) -> None:
        if self.bus is not None:
            self.bus.finish()

    def start_command(self, follow_stderr: bool) -> subprocess.Popen[bytes] | Outcome:
        """The command, started (its stdout piped for --outputs-from-stdout, its stderr to
        follow its steps); the Outcome of a command that cannot be run."""
        supervision = self.supervision
        try:
            return subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE if supervision.outputs_from_stdout else None,
                stderr=subprocess.PIPE if follow_stderr else None,
                process_group=0 if self.forwarder.own_group else None,
            )
        except OSError as error:
            # The shell's codes: 127 not found, 126 found but not runnable.
            code = 127 if isinstance(error, FileNotFoundError) else 126
            reason = error.strerror or str(error)
            self.warn(f"cannot run {supervision.command[0]}: {reason}")
            return Outcome(code, f"cannot run {supervision.name}: {reason}")

    def outcome_of(self, returncode: int, failed_step: str | None) -> Outcome:
        """What the command's end means for the job: its exit status, and why, naming the
        signal update-job got and passed on, or the runner's `failed_step`."""
        supervision, forwarder = self.supervision, self.forwarder
        name = supervision.name
        code = exit_status(returncode)
        if forwarder.received is not None:
            signum = forwarder.received
            if forwarder.killed and returncode == -signal.SIGKILL:
                how = f"{name} killed after {supervision.kill_after:g} s, still running"
            elif returncode >= 0:
                how = f"{name} exited with code {code}"
            else:
                how = f"{name} killed by {signal_name(-returncode)}"
            return Outcome(
                # Killed by our SIGKILL, it still ended because of the signal update-job got.
                code if code != 0 and not forwarder.killed else 128 + signum,
                f"terminated by {signal_name(signum)} ({how})",
                failed=True,
            )
        if returncode < 0:
            return Outcome(code, f"{name} was killed by {signal_name(-returncode)}")
        if failed_step is not None and code != 0:
            return Outcome(code, f"{failed_step} ({name} exited with code {code})")
        return Outcome(code, f"{name} exited with code {code}")

    def follow_steps(self) -> StepFollower | ToilFollower | None:
        """A follower of the runner's steps, whose total is read alongside the run (the
        command does not wait for it); None if the command is no runner this can follow."""
        command = self.supervision.command
        if not follows_steps(command):
            self.warn(
                f"--step-updates: cannot follow the steps of {self.supervision.name} (not "
                "cwltool or toil-cwl-runner): start and final updates only"
            )
            return None
        follower = self.follow_toil() if is_toil(command) else StepFollower()
        if follower is None:
            return None
        self.follower = follower
        self.steps_reader = threading.Thread(
            target=self.read_steps,
            args=(follower, workflow_document(command)),
            name="steps-reader",
            daemon=True,
        )
        self.steps_reader.start()
        return follower

    def follow_toil(self) -> ToilFollower | None:
        """Toil's follower, reading the bus file that --step-updates has Toil write (its
        option added right after the runner's name, in a directory of its own); None if
        the command writes one already."""
        if any(arg.partition("=")[0] == TOIL_BUS_OPTION for arg in self.command[1:]):
            self.warn(
                f"--step-updates: {self.supervision.name} already has {TOIL_BUS_OPTION}: "
                "start and final updates only"
            )
            return None
        try:
            bus = Path(tempfile.mkdtemp(prefix="update-job-toil-bus-")) / "messages"
        except OSError as error:
            self.warn(
                f"--step-updates: no directory for Toil's messages ({error.strerror or error}): "
                "start and final updates only"
            )
            return None
        follower = ToilFollower()
        self.command[1:1] = [TOIL_BUS_OPTION, str(bus)]
        self.bus = BusReader(bus, follower)
        return follower

    def read_steps(self, follower: StepFollower | ToilFollower, document: str | None) -> None:
        outline = None
        try:
            if document is None:
                self.warn("--step-updates: no .cwl file on the command line: no progress")
            else:
                outline = read_outline(document)
        except StepsUnknown as error:
            self.warn(f"--step-updates: {error}: no progress")
        except Exception as error:  # nothing in it may cost the run its updates
            self.warn(f"--step-updates: cannot read the steps: {describe_error(error)}")
        finally:
            follower.know_outline(outline)

    def last_of_steps(self, log: StderrFollower) -> str | None:
        """Once the command has ended: its last step update, if not yet published (before
        the final update, never after), and the failed step, if one did."""
        if not log.finish():
            self.warn(f"{self.supervision.name}'s stderr is still open: not waiting")
        if self.steps_reader is not None:
            self.steps_reader.join(STEPS_READ_GRACE)
            if self.steps_reader.is_alive():
                self.warn("--step-updates: the workflow's steps are still being read: not waiting")
        self.publish_steps(coalesce=False)
        state = None if self.follower is None else self.follower.state()
        return None if state is None else state.failure

    def publish_steps(self, coalesce: bool = True) -> None:
        """A `running` update with the steps finished so far, if more have since the last
        one and (to `coalesce`) the last update is STEP_UPDATE_INTERVAL old. None once a
        signal asked the command to stop: only its final update is to come."""
        follower = self.follower
        if follower is None or self.forwarder.received is not None:
            return
        state = follower.state()
        if state is None or state.finished <= self.steps_published:
            return
        if coalesce and time.monotonic() < self.last_update_at + STEP_UPDATE_INTERVAL:
            return
        self.steps_published = state.finished
        self.send_running(state.message, state.progress)

    def send_running(
        self, message: str, progress: float | None = None, heartbeat: bool = False
    ) -> None:
        """A `heartbeat` or step update, best effort; a signal that came while it was being
        delivered is passed on to the command."""
        update = make_update(self.job.id, "running", message=message, progress=progress)
        interrupted = self.send_best_effort(update, heartbeat)
        self.last_update_at = time.monotonic()
        if interrupted is not None:
            self.forwarder.handle(interrupted)

    def wait_for_command(self, child: subprocess.Popen[bytes], started: float) -> int:
        """Wait for the command, publishing `running` every heartbeat, and killing it if it
        outlives the grace period after a signal. The heartbeats go from this (the main)
        thread: delivery handles signals, which only the main thread can, and on a FIFO
        topic no heartbeat can then follow the final update."""
        supervision, forwarder = self.supervision, self.forwarder
        heartbeat = supervision.heartbeat
        next_beat = math.inf if heartbeat is None else started + heartbeat
        while True:
            kill_due = forwarder.kill_due()
            wake = min(next_beat, math.inf if kill_due is None else kill_due)
            try:
                return child.wait(timeout=min(WAIT_STEP, max(0.0, wake - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            kill_due = forwarder.kill_due()
            if kill_due is not None and now >= kill_due:
                self.warn(
                    f"{supervision.name} still runs {supervision.kill_after:g} s after "
                    f"{signal_name(forwarder.received or signal.SIGTERM)}: killing it"
                )
                forwarder.kill()
            self.publish_steps()
            if heartbeat is not None and now >= next_beat and forwarder.received is None:
                elapsed = now - started
                # Whole seconds, unless heartbeats come faster than that.
                shown = f"{elapsed:.0f}" if heartbeat >= 1 else f"{elapsed:.1f}"
                self.send_running(f"{supervision.name} running for {shown} s", heartbeat=True)
                # A slow delivery delays the next heartbeat rather than bunching them up.
                next_beat = max(next_beat, time.monotonic()) + heartbeat

    def kill_group_leftovers(self, child: subprocess.Popen[bytes]) -> None:
        """After a signal the command may exit while a process it started, in its process
        group, ignores the signal: the group is killed when --kill-after runs out, as the
        command would have been."""
        forwarder, supervision = self.forwarder, self.supervision
        kill_due = forwarder.kill_due()
        if kill_due is None or not forwarder.own_group:
            return
        while group_alive(child.pid) and (left := kill_due - time.monotonic()) > 0:
            time.sleep(min(WAIT_STEP, left))
        if group_alive(child.pid):
            self.warn(
                f"processes {supervision.name} started still run {supervision.kill_after:g} s "
                f"after {signal_name(forwarder.received or signal.SIGTERM)}: killing them"
            )
            forwarder.send(signal.SIGKILL)

    def output_object(self, stdout_tail: bytes) -> dict[str, Any] | None:
        try:
            found = last_json_object(stdout_tail)
            if found is None:
                self.reporting.no_outputs("no JSON object on the command's stdout")
                return None
            internal: list[str] = []
            try:
                outputs: dict[str, Any] = cwl_locations(found, internal)
            finally:
                self.reporting.runner_internal(internal)
        except Exception as error:
            # Hostile output must not cost the job its final update.
            self.reporting.no_outputs(f"cannot use the output object ({type(error).__name__})")
            return None
        return outputs

    def send_best_effort(self, update: JobUpdate, heartbeat: bool = False) -> int | None:
        """Send an update the command must not wait for: not delivering it, for whatever
        reason, is a warning (with --spool it waits in its job's outbox). The signal's
        number, if a signal interrupted the delivery."""
        try:
            receipt = replace(self.sender, best_effort=True).send(update, heartbeat)
        except DeliveryFailed as error:
            # Best effort lets every delivery problem pass but a signal.
            self.warn(f"not delivered: {error}")
            return error.signum if isinstance(error, DeliveryInterrupted) else None
        except Exception as error:
            self.warn(f"not delivered: {type(error).__name__}: {error}")
            return None
        self.reporting.sent(receipt)
        return None

    def send_final(self, outcome: Outcome) -> int:
        """Send the final update; the status to exit with.

        The command's own failure code always wins. When the command succeeded but its
        final update was not delivered, update-job exits 1 (the job would otherwise stay
        `running` unnoticed), or 0 with --best-effort. Outputs that cannot be sent are left
        out, and a spool directory that can no longer be written is done without, rather
        than not sending the final update at all. The final update carries the start-time
        too: the job has it even if the start update is still in the spool."""
        job, sender, warn = self.job, self.sender, self.warn
        outputs = outcome.outputs
        while True:
            try:
                final = make_update(
                    job.id,
                    "failed" if outcome.failed else None,
                    outcome.exit_code,
                    labels=job.labels,
                    user_id=job.user_id,
                    outputs=outputs,
                    message=outcome.message,
                    start_time=job.start_time,
                )
                receipt = sender.send(final)
            except SpoolFailed as error:
                # Sent without the spool rather than not at all: a final status stands.
                warn(f"final update sent without the spool: {error}")
                sender = replace(sender, spool_dir=None)
                continue
            except DeliveryFailed as error:
                warn(f"final update not delivered: {error}")
                return outcome.exit_code or error.exit_code
            except Exception as error:
                if outputs is not None:
                    # The outputs must not cost the job its final status.
                    warn(f"outputs left out of the final update: {describe_error(error)}")
                    outputs = None
                    continue
                if sender.spool_dir is not None and isinstance(error, InvalidUpdate):
                    warn(f"final update sent without the spool: {error}")
                    sender = replace(sender, spool_dir=None)
                    continue
                if isinstance(error, InvalidUpdate):
                    raise
                warn(f"final update not delivered: {describe_error(error)}")
                return outcome.exit_code or 1
            self.reporting.sent(receipt)
            return outcome.exit_code


def describe_error(error: Exception) -> str:
    if isinstance(error, InvalidUpdate):
        return str(error)
    return f"{type(error).__name__}: {error}"[:300]
