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

Toil (toil-cwl-runner) is followed through its message bus, which `--writeMessages FILE`
writes one line a message: which jobs are issued, completed (with an exit code) and failed
for good. Toil names each job of a step `WORKFLOW.STEP.TOOL` (the shortnames of the workflow
and the tool), but each job of a scattered step `WORKFLOW.N.TOOL` (N the element's index,
no step), and the jobs that scatter and gather a step only `CWLScatter` and `CWLGather`. The
job store id of the file job store (`kind-CLASS/instance-...`) says which class a job is. So:

- a step that is not scattered finishes when its `CWLJob` completes with 0 (a subworkflow's
  step when its `ResolveIndirect`, `WORKFLOW.STEP.SUB._resolve`, does: it counts as one);
- a scattered step finishes when a `CWLGather` completes with 0 while exactly one scatter is
  open (issued, its gather not yet completed), and the elements issued while it was open
  were all the same step's: the step whose tool is the elements' TOOL, or the only scattered
  step. Two scatters open at once cannot be told apart: neither is counted then.
- the failed step is the step of the first job Toil reports failed for good; the exit code
  of its tool, if the job's log that Toil relays on stderr says it (`[job NAME] exited with
  status: N`), else the batch system's reason Toil logs for the job (`Exit reason: KILLED`).

A job that cannot be mapped to a top-level step this way is not counted. A step that
finished implies that the steps it takes inputs from did, all the way up: Toil may chain a
job into the one before it in one worker, and then reports only the last one's name.

The total comes from the workflow itself (read with cwl-utils), not from the log: steps
that have not started yet count too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The runners whose step log this follows, by the command's name.
CWLTOOL_NAMES = frozenset({"cwltool", "cwl-runner"})
TOIL_NAMES = frozenset({"toil-cwl-runner"})
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
    return Path(command[0]).name in CWLTOOL_NAMES | TOIL_NAMES


def is_toil(command: Sequence[str]) -> bool:
    return Path(command[0]).name in TOIL_NAMES


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


@dataclass(frozen=True)
class Outline:
    """A workflow's top-level steps, as a runner names them."""

    name: str  # the workflow's shortname (its file's name, or its #id)
    steps: list[str]
    tools: dict[str, str | None]  # each step's tool's shortname; None: an embedded tool
    scattered: frozenset[str] = frozenset()
    # The steps each step takes inputs from: it runs only once they have finished.
    upstream: dict[str, frozenset[str]] = field(default_factory=dict)

    def before(self, step: str) -> list[str]:
        """The steps that finished before `step` could run, all the way up."""
        found: list[str] = []
        todo = list(self.upstream.get(step, ()))
        while todo:
            source = todo.pop()
            if source not in found:
                found.append(source)
                todo.extend(self.upstream.get(source, ()))
        return found


def read_outline(document: str) -> Outline:
    """The top-level steps of the workflow in `document` (a path, optionally `#id`); none
    for a tool. StepsUnknown when it cannot be read."""
    path, _, fragment = document.partition("#")
    try:
        from cwl_utils.parser import load_document_by_uri
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
    return outline_of(process)


def outline_of(process: Any) -> Outline:
    """The outline of a process cwl-utils read: a tool has no steps."""
    from schema_salad.schema import shortname

    steps = getattr(process, "steps", None) or []
    names = [str(shortname(step.id)) for step in steps]
    return Outline(
        str(shortname(process.id)),
        names,
        {name: step_tool(step) for name, step in zip(names, steps, strict=True)},
        frozenset(name for name, step in zip(names, steps, strict=True) if step.scatter),
        {name: sources(step, names) for name, step in zip(names, steps, strict=True)},
    )


def sources(step: Any, names: list[str]) -> frozenset[str]:
    """The steps whose outputs `step` takes (a source `WORKFLOW#STEP/OUTPUT`)."""
    found = set()
    for link in step.in_ or []:
        source = link.source
        for one in [source] if isinstance(source, str) else source or []:
            parts = one.rpartition("#")[2].split("/")
            if len(parts) > 1 and parts[0] in names:
                found.add(parts[0])
    return frozenset(found)


def step_tool(step: Any) -> str | None:
    """The shortname of the tool a step runs, as Toil names its jobs by; None for an
    embedded one (whose id the runner makes up)."""
    from schema_salad.schema import shortname

    return str(shortname(step.run)) if isinstance(step.run, str) else None


@dataclass(frozen=True)
class StepState:
    """What is known of the steps at one moment."""

    finished: int  # only grows: a state to publish has more
    total: int | None
    last: str | None  # the step that finished last
    failed: str | None = None  # the first step that failed
    failed_code: int | None = None  # its command's exit code, if the log said
    failed_reason: str | None = None  # else why its batch job ended, if the runner said

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
        how = "failed" if self.failed_code is None else f"exited {self.failed_code}"
        why = "" if self.failed_reason is None else f" (exit reason {self.failed_reason})"
        return f"failed: step {self.failed} {how}{why}"


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

    def know_outline(self, outline: Outline | None) -> None:
        self.know_steps(None if outline is None else outline.steps)

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


# Toil's bus, one message a line: its type, then its fields, tab-separated.
BUS_ISSUED = "toil.bus.JobIssuedMessage"
BUS_COMPLETED = "toil.bus.JobCompletedMessage"
BUS_FAILED = "toil.bus.JobFailedMessage"
# The file job store's job ids name the job's class.
JOB_KIND = re.compile(r"kind-(?P<kind>\w+)/")
# A scatter whose step is not (yet) known, or cannot be told.
UNKNOWN, AMBIGUOUS = "", "\0"
# Toil's leader log on stderr: a failed job's tool's exit status, relayed from the job's log
# (indented), and a failed batch job, whose record goes on with the batch system's reason.
# Toil's leader's own records start a line; a job's log that it relays comes indented.
TOIL_RECORD = r"\[[^\]]*\] \[[^\]]*\] \[[A-Z]\] \[[\w.]+\] "
TOIL_JOB_EXITED = re.compile(
    r"^\s*" + TOIL_RECORD + r"\[job (?P<job>.+)\] exited with status: (?P<code>-?\d+)$"
)
TOIL_JOB_FAILED = re.compile(
    "^" + TOIL_RECORD + r"Job failed with exit value \S+: '\w+' (?P<job>.+) kind-\S+ v\d+$"
)
TOIL_EXIT_REASON = re.compile(r"^Exit reason: (?P<reason>\w+)$")
# What a CWLJob logs to the leader as it ends well, which the leader's log relays (chained
# jobs too, which the bus does not tell).
TOIL_STEP_COMPLETE = re.compile(
    "^" + TOIL_RECORD + r"Got message from job at time .*: CWL step complete: (?P<job>.+)$"
)


@dataclass(frozen=True)
class BusMessage:
    """A job's message on Toil's bus: issued, completed or failed for good."""

    topic: str
    name: str  # Toil's name of the job (its unit name, or its class)
    job_id: str
    exit_code: int | None = None
    stated_kind: str | None = None  # the job's class, where the log says it

    @property
    def kind(self) -> str:
        """The job's class, if known or its id says it; else its name (CWLScatter,
        CWLGather)."""
        found = JOB_KIND.match(self.job_id)
        return self.stated_kind or (self.name if found is None else found["kind"])


def bus_message(line: str) -> BusMessage | None:
    """A job's message from a line of Toil's bus file; None for any other line."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 3 or fields[0] not in (BUS_ISSUED, BUS_COMPLETED, BUS_FAILED):
        return None
    try:
        name = fields[1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return None  # no name Toil wrote
    if fields[0] == BUS_COMPLETED:
        try:
            return BusMessage(fields[0], name, fields[2], int(fields[3]))
        except (IndexError, ValueError):
            return None
    return BusMessage(fields[0], name, fields[2])


@dataclass
class ToilJobs:
    """Toil's jobs mapped to the workflow's top-level steps (see the module's doc)."""

    outline: Outline
    completed: list[str] = field(default_factory=list)
    failed: str | None = None
    failed_job: str | None = None
    scatters: dict[str, str] = field(default_factory=dict)  # open scatter's id: its step

    def step_of(self, name: str) -> str | None:
        """The top-level step a job of this name belongs to, if exactly one."""
        prefix = self.outline.name + "."
        if not name.startswith(prefix):
            return None
        rest = name[len(prefix) :]
        index, _, tool = rest.partition(".")
        if index.isdigit():
            scattered = self.outline.scattered
            found = [s for s in scattered if self.outline.tools[s] in (tool, None)]
        else:
            found = [s for s in self.outline.steps if rest.startswith(s + ".")]
            found = [s for s in found if s not in self.outline.scattered]
        return found[0] if len(found) == 1 else None

    def take(self, message: BusMessage) -> None:
        if message.topic == BUS_ISSUED:
            self.issued(message)
        elif message.topic == BUS_FAILED:
            # Toil then fails the jobs before the failed one too, which finished well.
            step = self.step_of(message.name)
            if self.failed is None and step is not None and step not in self.completed:
                self.failed, self.failed_job = step, message.name
        elif message.exit_code == 0:
            self.finished(message)

    def issued(self, message: BusMessage) -> None:
        if message.kind == "CWLScatter":
            self.scatters.setdefault(message.job_id, UNKNOWN)
            return
        step = self.step_of(message.name)
        if step is None or step not in self.outline.scattered:
            return
        if len(self.scatters) != 1:
            self.scatters = dict.fromkeys(self.scatters, AMBIGUOUS)
            return
        ((scatter, known),) = self.scatters.items()
        self.scatters[scatter] = step if known in (UNKNOWN, step) else AMBIGUOUS

    def finished(self, message: BusMessage) -> None:
        if message.kind == "ResolveIndirect" and message.name == f"{self.outline.name}._resolve":
            # The workflow's outputs are resolved once every one of its jobs has ended.
            steps = self.outline.steps
        else:
            step = self.step_finished_by(message)
            if not step or step == AMBIGUOUS:
                return
            # A job Toil chains into the one before it (run in the same worker) is not on
            # the bus: the steps a finished step took inputs from have finished too.
            steps = [*sorted(self.outline.before(step), key=self.outline.steps.index), step]
        self.completed.extend(step for step in steps if step not in self.completed)

    def step_finished_by(self, message: BusMessage) -> str | None:
        """The step whose last job this completed job is (AMBIGUOUS: a gather that cannot
        be told)."""
        if message.kind == "CWLGather":
            if len(self.scatters) != 1:
                self.scatters = dict.fromkeys(self.scatters, AMBIGUOUS)
                return None
            return self.scatters.popitem()[1]
        if message.kind not in ("CWLJob", "ResolveIndirect"):
            return None
        step = self.step_of(message.name)
        # A scattered step's element: the step finishes with its gather.
        return None if step in self.outline.scattered else step


@dataclass
class ToilFollower:
    """Toil's jobs, from its bus file's lines (`feed_message`) and its leader's log on
    stderr (`feed`), fed from threads of their own and read from another. Messages that
    come before the workflow's steps are known wait for them."""

    jobs: ToilJobs | None = None
    known: bool = False
    waiting: list[BusMessage] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    exit_reasons: dict[str, str] = field(default_factory=dict)
    failing_job: str | None = None  # the job whose failure's record goes on
    lock: threading.Lock = field(default_factory=threading.Lock)

    def know_outline(self, outline: Outline | None) -> None:
        with self.lock:
            self.jobs = None if outline is None else ToilJobs(outline)
            self.known = True

    def feed_message(self, line: str) -> None:
        message = bus_message(line)
        if message is not None:
            with self.lock:
                self.waiting.append(message)

    def feed(self, line: str) -> None:
        if len(line) > LONGEST_EVENT_LINE:
            return
        text = line.rstrip("\r")
        with self.lock:
            failing, self.failing_job = self.failing_job, None
            reason = TOIL_EXIT_REASON.match(text)
            if failing is not None and reason is not None:
                self.exit_reasons[failing] = reason["reason"]
            elif (failed := TOIL_JOB_FAILED.match(text)) is not None:
                self.failing_job = failed["job"]
            elif (exited := TOIL_JOB_EXITED.match(text)) is not None:
                self.exit_codes[exited["job"]] = int(exited["code"])
            elif (complete := TOIL_STEP_COMPLETE.match(text)) is not None:
                name = complete["job"]
                self.waiting.append(BusMessage(BUS_COMPLETED, name, "", 0, "CWLJob"))

    def state(self) -> StepState | None:
        """The steps' state now; None before the workflow's steps are known, or if they
        cannot be."""
        with self.lock:
            if not self.known or self.jobs is None:
                return None
            jobs = self.jobs
            for message in self.waiting:
                jobs.take(message)
            self.waiting.clear()
            job = jobs.failed_job
            reason = None if job is None else self.exit_reasons.get(job)
            return StepState(
                len(jobs.completed),
                len(jobs.outline.steps),
                jobs.completed[-1] if jobs.completed else None,
                jobs.failed,
                None if job is None else self.exit_codes.get(job),
                None if reason in (None, "None") else reason,
            )
