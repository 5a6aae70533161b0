"""A CWL runner's steps, followed from its own log as it runs: which of the workflow's steps
have finished, and which one failed, for `update-job run --step-updates`.

cwltool logs, on stderr, `[step NAME] start` as a step starts (once per scatter element)
and `[step NAME] completed STATUS` once the whole step has finished (a scattered step once,
after its last element), and `[job NAME] exited with status: N` when a command fails. A step
of a subworkflow is logged the same way: only the top-level steps count, so a subworkflow
counts as one step, finished when all of it is. cwltool names each step object uniquely in a
run, and names the top-level steps first (the workflow's own job is made before any of its
subworkflows'), so a top-level step is logged under its own name and an inner step of the
same name with a suffix (`_2`).

The total comes from the workflow itself (read with cwl-utils), not from the log: steps
that have not started yet count too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The runners whose step log this follows, by the command's name.
CWLTOOL_NAMES = frozenset({"cwltool", "cwl-runner"})
# What a finished step's status may be: `skipped` (a `when` that was false) is finished too.
FINISHED_WELL = frozenset({"success", "skipped"})
# A record of cwltool's log, as a whole line: its level first (after a time stamp with
# --timestamps), so that a tool's own stderr, passed through too, is not taken for one
# unless it imitates one.
LOG_RECORD = r"^(?:\[[^\]]*\] )?(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) "
STEP_COMPLETED = re.compile(LOG_RECORD + r"\[step (?P<step>.+)\] completed (?P<status>\w+)$")
JOB_EXITED = re.compile(LOG_RECORD + r"\[job (?P<job>.+)\] exited with status: (?P<code>-?\d+)$")
# cwltool colours its log on a terminal; the codes are no part of a step's name.
COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")
# A log line longer than this is no step event: it is not parsed (it still passes through).
LONGEST_EVENT_LINE = 4096


class StepsUnknown(Exception):
    """The workflow's steps cannot be read: step updates go without a total."""

    def __init__(self, document: str, reason: str) -> None:
        super().__init__(f"cannot read the steps of {document}: {reason}")
        self.document = document
        self.reason = reason


def follows_steps(command: Sequence[str]) -> bool:
    """Whether the command is a runner whose step log this can follow."""
    return Path(command[0]).name in CWLTOOL_NAMES


def workflow_document(command: Sequence[str]) -> str | None:
    """The CWL document the runner's command line runs: its first argument that names a
    .cwl file (optionally with `#id`) and is not an option."""
    for argument in command[1:]:
        if argument.startswith("-"):
            continue
        path = argument.partition("#")[0]
        if path.endswith(".cwl"):
            return argument
    return None


def top_level_steps(document: str) -> list[str]:
    """The names of the top-level steps of the workflow in `document` (a path, optionally
    `#id`); none for a tool. StepsUnknown when it cannot be read."""
    path, _, fragment = document.partition("#")
    try:
        from cwl_utils.parser import load_document_by_uri
        from schema_salad.schema import shortname
    except ImportError:
        raise StepsUnknown(document, "cwl-utils is not installed") from None
    try:
        process = load_document_by_uri(
            Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
        )
    except Exception as error:  # schema-salad, YAML, I/O and version errors alike
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise StepsUnknown(document, lines[-1] if lines else type(error).__name__) from None
    if isinstance(process, list):
        raise StepsUnknown(document, "it holds several processes: name one with #id")
    return [str(shortname(step.id)) for step in getattr(process, "steps", None) or []]


@dataclass(frozen=True)
class StepState:
    """What is known of the steps at one moment."""

    finished: int  # only grows: a state to publish has more
    total: int | None
    last: str | None  # the step that finished last
    failed: str | None = None  # the first step that failed
    failed_code: int | None = None  # its command's exit code, if the log said

    @property
    def progress(self) -> float | None:
        """The share of the steps finished, in percent (rounded down to a whole percent, so
        that it only reaches 100 when every step has finished)."""
        if not self.total:
            return None
        return 100 * self.finished // self.total

    @property
    def message(self) -> str:
        if self.total:
            return f"{self.last} finished ({self.finished} of {self.total})"
        return f"{self.last} finished"

    @property
    def failure(self) -> str | None:
        """The failed step, for the final update's message."""
        if self.failed is None:
            return None
        if self.failed_code is None:
            return f"failed: step {self.failed} failed"
        return f"failed: step {self.failed} exited {self.failed_code}"


@dataclass
class StepFollower:
    """The step events of a runner's log lines, fed from one thread and read from another.
    The count of finished steps only grows: each top-level step counts once, whatever the
    order branches finish in and however often the runner logs it.

    The workflow's steps come in later (`know_steps`), read while the runner already runs:
    until then there is no state to publish."""

    known: bool = False
    steps: frozenset[str] | None = None  # the top-level steps; None: every step counts
    completed: list[str] = field(default_factory=list)  # steps that finished well, in order
    failures: list[tuple[str, int | None]] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def know_steps(self, steps: Sequence[str] | None) -> None:
        with self.lock:
            self.steps = None if steps is None else frozenset(steps)
            self.known = True

    def feed(self, line: str) -> None:
        if len(line) > LONGEST_EVENT_LINE or "[" not in line:
            return
        text = COLOUR_CODE.sub("", line).rstrip("\r")
        exited = JOB_EXITED.match(text)
        if exited is not None:
            with self.lock:
                self.exit_codes[exited["job"]] = int(exited["code"])
            return
        completed = STEP_COMPLETED.match(text)
        if completed is None:
            return
        step, status = completed["step"], completed["status"]
        with self.lock:
            if status in FINISHED_WELL:
                if step not in self.completed:
                    self.completed.append(step)
            else:
                self.failures.append((step, self.step_exit_code(step)))

    def step_exit_code(self, step: str) -> int | None:
        """The exit code a failed step's command logged: its job has the step's name, or
        that name with a scatter element's suffix (`_2`)."""
        element = re.compile(rf"{re.escape(step)}(?:_\d+)?")
        codes = [code for job, code in self.exit_codes.items() if element.fullmatch(job)]
        return codes[-1] if codes else None

    def counts(self, step: str) -> bool:
        # A subworkflow's inner step is counted with its subworkflow.
        return self.steps is None or step in self.steps

    def state(self) -> StepState | None:
        """The steps' state now; None before the workflow's steps are known."""
        with self.lock:
            if not self.known:
                return None
            finished = [step for step in self.completed if self.counts(step)]
            failed = [(step, code) for step, code in self.failures if self.counts(step)]
            return StepState(
                len(finished),
                None if self.steps is None else len(self.steps),
                finished[-1] if finished else None,
                *(failed[0] if failed else (None, None)),
            )
