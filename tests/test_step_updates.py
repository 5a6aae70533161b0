"""`update-job run --step-updates`: cwltool's and Toil's steps followed into the job's
document, read back from the local endpoint and applied through the consumer model.

The workflow (tests/workflows/steps) has five steps: `split`, `square` scattered over its
parts, then `count` and `total`, two branches that cwltool --parallel runs at once, then
`summarise`, which exits with the job's `summarise_exit`. The same workflow wrapped with
`update-job wrap --step-updates` tells its steps from within.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localaws import LOCAL_AWS_ENV, Subscription
from tests.conftest import LocalTopics, RunCommand, started_update_job, topic_args, wait_for
from tests.consumer import document_after
from tests.cwlrun import run_cwl, runner_command, runner_env, validate
from update_job.steps import StepState, ToilFollower, read_outline

TESTS = Path(__file__).resolve().parent
STEPS = TESTS / "workflows" / "steps" / "steps.cwl"
# The same in CWL v1.0's list form, with `#` ids and sources.
STEPS_IN_LISTS = STEPS.with_name("steps-lists.cwl")
UPDATE_JOB_TOOL = TESTS.parent / "cwl" / "update-job.cwl"
STEP_NAMES = {"split", "square", "count", "total", "summarise"}
STEP_MESSAGE = re.compile(r"(?P<step>\w+) finished \((?P<done>\d+) of (?P<total>\d+)\)")


def submitted(job_id: str) -> dict[str, Any]:
    """The job's document as the processing server indexed it."""
    document: dict[str, Any] = json.loads((TESTS / "messages" / "submitted.json").read_text())
    return {**document, "id": job_id}


def moment(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["updated"].replace("Z", "+00:00"))


def run_steps(
    update_job: RunCommand,
    topic: Subscription,
    tmp_path: Path,
    job_id: str,
    summarise_exit: int = 0,
    *runner_options: str,
) -> tuple[int, str, str]:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"numbers": [1, 2, 3], "summarise_exit": summarise_exit}))
    cwltool = runner_command("cwltool", tmp_path, ())
    result = update_job(
        "run", "--job-id", job_id, *topic_args(topic), "--step-updates",
        "--outputs-from-stdout", "--", *cwltool, *runner_options, str(STEPS), str(job),
        env=runner_env(), timeout=240,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def step_updates(messages: list[dict[str, Any]]) -> list[re.Match[str]]:
    """The step updates among `messages` (between the start and the final update)."""
    found = [STEP_MESSAGE.fullmatch(m.get("message", "")) for m in messages[1:-1]]
    return [match for match in found if match is not None]


def assert_progress_only_grows(messages: list[dict[str, Any]], job_id: str) -> dict[str, Any]:
    """The document after each message, through the consumer: its progress never goes
    back. The document after the last one."""
    document: dict[str, Any] | None = submitted(job_id)
    seen = 0.0
    for message in messages:
        document = document_after([message], document)
        assert document is not None
        progress = document.get("progress", 0)
        assert progress >= seen, (message, seen)
        seen = progress
    assert document is not None
    return document


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_each_step_shows_in_the_document_as_it_finishes(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, parallel: bool
) -> None:
    options = ("--parallel",) if parallel else ()
    code, stdout, stderr = run_steps(update_job, testbed.fifo, tmp_path, "steps-ok", 0, *options)
    assert code == 0, stderr[-4000:]
    # The runner's output passes through: its output object on stdout, its log on stderr.
    assert json.loads(stdout)["summary"]["basename"] == "summary.txt"
    assert "[step summarise] completed success" in stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert messages[0]["message"].startswith("started cwltool")
    assert messages[-1]["status"] == "succeeded"
    updates = step_updates(messages)
    assert len(updates) == len(messages) - 2  # nothing else between start and final
    assert {match["total"] for match in updates} == {"5"}
    done = [int(match["done"]) for match in updates]
    assert done == sorted(set(done))  # each a step more than the one before
    assert done[-1] == 5  # the last state before the final update is never dropped
    assert {match["step"] for match in updates} <= STEP_NAMES
    assert updates[-1]["step"] == "summarise"
    progress = [m["progress"] for m in messages[1:-1]]
    assert progress == [100 * n // 5 for n in done]
    # Coalesced: the start and the step updates come at least a second apart (the last,
    # sent as the runner ends, aside).
    times = [moment(m) for m in messages[:-2]]
    assert all(
        (later - earlier).total_seconds() >= 1 for earlier, later in itertools.pairwise(times)
    )
    document = assert_progress_only_grows(messages, "steps-ok")
    assert (document["status"], document["progress"]) == ("succeeded", 100)
    assert document["outputs"]["summary"].endswith("/summary.txt")


def test_the_failed_step_is_named_in_the_final_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    code, _, stderr = run_steps(update_job, testbed.standard, tmp_path, "steps-fail", 3)
    assert code == 1, stderr[-4000:]
    assert "[job summarise] exited with status: 3" in stderr
    messages = sorted((d.message for d in testbed.standard.receive()), key=moment)
    final = messages[-1]
    assert final["status"] == "failed"
    assert final["exit-code"] == 1
    assert final["message"] == "failed: step summarise exited 3 (cwltool exited with code 1)"
    updates = step_updates(messages)
    assert "summarise" not in {match["step"] for match in updates}
    assert updates[-1]["done"] == "4"
    document = assert_progress_only_grows(messages, "steps-fail")
    assert (document["status"], document["progress"]) == ("failed", 80)
    assert document["message"].startswith("failed: step summarise exited 3")


FAKE_RUNNER = """\
import sys, time
log = sys.stderr
for burst in {bursts!r}:
    for line in burst:
        log.write(line + "\\n")
    log.flush()
    time.sleep({pause})
sys.exit({exit_code})
"""


def fake_cwltool(tmp_path: Path, bursts: list[list[str]], pause: float, exit_code: int) -> Path:
    """A command named cwltool that logs `bursts` of lines `pause` seconds apart: the steps'
    order, timing and failures as a test needs them, without a workflow's own timing."""
    runner = tmp_path / "bin" / "cwltool"
    runner.parent.mkdir(parents=True, exist_ok=True)
    script = FAKE_RUNNER.format(bursts=bursts, pause=pause, exit_code=exit_code)
    runner.write_text(f"#!{sys.executable}\n{script}")
    runner.chmod(0o755)
    return runner


def completed(step: str, status: str = "success") -> str:
    # As cwltool logs it on a terminal, in colour.
    return f"\x1b[1;30mINFO\x1b[0m [step {step}] completed {status}"


def test_steps_finishing_together_are_one_update_and_progress_never_goes_back(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    bursts = [
        [completed("split")],
        # The parallel branches in either order, logged twice, and a subworkflow's inner
        # step (cwltool names it `count_2`): each top-level step counts once.
        [completed("total"), completed("count_2"), completed("count"), completed("total")],
        [completed("square")],
        ["x" * 100_000 + completed("summarise")],  # no event: a line too long to be one
        [completed("summarise")],
    ]
    runner = fake_cwltool(tmp_path, bursts, pause=0.2, exit_code=0)
    result = update_job(
        "run", "--job-id", "steps-fake", *topic_args(testbed.fifo), "--step-updates",
        "--", str(runner), str(STEPS),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The runner's log passes through byte for byte.
    for burst in bursts:
        for line in burst:
            assert line + "\n" in result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    updates = step_updates(messages)
    done = [int(match["done"]) for match in updates]
    # Five steps in a second: fewer updates than steps, the last one all of them.
    assert len(updates) < 5
    assert done == sorted(set(done))
    assert updates[-1].group(0) == "summarise finished (5 of 5)"
    assert_progress_only_grows(messages, "steps-fake")


def test_a_failed_scatter_element_is_named_with_its_exit_code(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    bursts = [
        [completed("split")],
        [
            # A tool's own stderr, passed through by cwltool, is no record of its log.
            "tool: [step square] completed success",
            "\x1b[1;30mWARNING\x1b[0m \x1b[33m[job square_3] exited with status: 7\x1b[0m",
            completed("square", "permanentFail"),
        ],
    ]
    runner = fake_cwltool(tmp_path, bursts, pause=0.1, exit_code=1)
    result = update_job(
        "run", "--job-id", "steps-fake-fail", *topic_args(testbed.fifo), "--step-updates",
        "--", str(runner), str(STEPS),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["message"] for m in messages[1:]] == [
        "split finished (1 of 5)",
        "failed: step square exited 7 (cwltool exited with code 1)",
    ]
    assert messages[-1]["status"] == "failed"


def test_steps_of_an_unreadable_workflow_still_show_without_progress(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.cwl"
    broken.write_text("cwlVersion: v1.2\nclass: Workflow\nsteps: [\n")
    runner = fake_cwltool(tmp_path, [[completed("first")]], pause=0, exit_code=0)
    result = update_job(
        "run", "--job-id", "steps-unknown", *topic_args(testbed.fifo), "--step-updates",
        "--", str(runner), str(broken),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"--step-updates: cannot read the steps of {broken}" in result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "running", "succeeded"]
    assert messages[1]["message"] == "first finished"
    assert "progress" not in messages[1]


def test_an_unknown_runner_gets_the_start_and_final_updates_only(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    child = f"import sys; print({completed('a')!r}, file=sys.stderr)"
    result = update_job(
        "run", "--job-id", "steps-other", *topic_args(testbed.fifo), "--step-updates",
        "--", sys.executable, "-c", child,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--step-updates: cannot follow the steps of" in result.stderr
    assert completed("a") + "\n" in result.stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]


# `update-job wrap --step-updates`: the same workflow, with an update step after each step.


def wrap_with_step_updates(
    update_job: RunCommand, wrapped: Path, *options: str, original: Path = STEPS
) -> subprocess.CompletedProcess[str]:
    result = update_job("wrap", "--step-updates", str(original), "-o", str(wrapped), *options)
    assert result.returncode == 0, result.stderr
    validated = validate(wrapped, cwd=wrapped.parent)
    assert validated.returncode == 0, validated.stderr
    return result


def wrapped_job(topic: Subscription, job_id: str, summarise_exit: int = 0) -> dict[str, Any]:
    return {
        "numbers": [1, 2, 3],
        "summarise_exit": summarise_exit,
        "job_id": job_id,
        "jobs_data_sns_topic_arn": topic.topic_arn,
        "endpoint_url": topic.endpoint_url,
    }


@pytest.mark.parametrize("original", [STEPS, STEPS_IN_LISTS], ids=["maps", "lists"])
def test_a_wrapper_with_step_updates_tells_each_step_in_order(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, original: Path
) -> None:
    wrapped = tmp_path / "steps-updates.cwl"
    wrap_with_step_updates(update_job, wrapped, original=original)
    job = wrapped_job(testbed.fifo, "wrap-steps-ok")
    result = run_cwl(wrapped, job, tmp_path / "run", "--parallel", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    # What the original's steps produce is the same: the output object is the original's.
    assert set(result.outputs) == {"summary"}
    assert Path(result.outputs["summary"]["path"]).read_text() == "count 3 total 14\n"
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running"] * 6 + ["succeeded"]
    updates = step_updates(messages)
    # Chained: the K-th update waits for the one before, so they come in order, K = 1..5,
    # and the end update after all of them.
    assert [int(match["done"]) for match in updates] == [1, 2, 3, 4, 5]
    assert updates[0]["step"] == "split"
    assert updates[-1]["step"] == "summarise"
    assert {updates[2]["step"], updates[3]["step"]} == {"count", "total"}
    assert [m["progress"] for m in messages[1:-1]] == [20, 40, 60, 80, 100]
    document = assert_progress_only_grows(messages, "wrap-steps-ok")
    assert (document["status"], document["progress"]) == ("succeeded", 100)


def test_a_failing_wrapped_step_under_run_ends_failed_after_its_step_updates(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    wrapped = tmp_path / "steps-updates.cwl"
    wrap_with_step_updates(update_job, wrapped)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(wrapped_job(testbed.fifo, "wrap-steps-fail", 3)))
    cwltool = runner_command("cwltool", tmp_path, LOCAL_AWS_ENV)
    result = update_job(
        "run", "--job-id", "wrap-steps-fail", *topic_args(testbed.fifo), "--",
        *cwltool, str(wrapped), str(job), env=runner_env(), cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-4000:]
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    done = [int(match["done"]) for match in step_updates(messages)]
    # The run stops at the failed step: the updates told are those of the steps before it
    # that the runner got to, in order.
    assert done == list(range(1, len(done) + 1))
    assert len(done) <= 4
    assert messages[-1]["status"] == "failed"
    document = assert_progress_only_grows(messages, "wrap-steps-fail")
    assert (document["status"], document.get("progress", 0)) == ("failed", 20 * len(done))


def test_a_step_update_that_fails_does_not_fail_the_run(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    # An Update Job tool whose step updates (the updates with a progress) exit 1 unsent.
    yaml = YAML()
    tool = yaml.load(UPDATE_JOB_TOOL.read_text(encoding="utf-8"))
    script = 'case " $* " in *" --progress "*) exit 1;; esac; exec update-job "$@"'
    tool["baseCommand"] = ["sh", "-c", script, "update-job"]
    failing_tool = tmp_path / "failing-update-job.cwl"
    with failing_tool.open("w", encoding="utf-8") as stream:
        yaml.dump(tool, stream)
    wrapped = tmp_path / "steps-updates.cwl"
    wrap_with_step_updates(update_job, wrapped, "--tool", str(failing_tool))
    job = wrapped_job(testbed.fifo, "wrap-steps-unsent")
    result = run_cwl(wrapped, job, tmp_path / "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "[step update_job_after_summarise] completed success" in result.stderr
    assert Path(result.outputs["summary"]["path"]).read_text() == "count 3 total 14\n"
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]


def test_step_updates_of_a_tool_are_its_start_and_end(
    update_job: RunCommand, tmp_path: Path
) -> None:
    plain = update_job("wrap", str(TESTS / "workflows" / "steps" / "square.cwl"))
    stepped = update_job(
        "wrap", "--step-updates", str(TESTS / "workflows" / "steps" / "square.cwl")
    )
    assert stepped.returncode == 0, stepped.stderr
    assert stepped.stdout == plain.stdout


@pytest.mark.toil
@pytest.mark.parametrize("summarise_exit", [0, 3], ids=["succeeds", "fails"])
def test_a_wrapper_with_step_updates_on_toil_under_run(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, summarise_exit: int
) -> None:
    # Toil runs the parallel branches at once; under `run` (without --step-updates: one
    # way at a time) the wrapper's update steps tell the steps.
    wrapped = tmp_path / "steps-updates.cwl"
    wrap_with_step_updates(update_job, wrapped)
    job_id = f"toil-steps-{summarise_exit}"
    job = tmp_path / "job.json"
    job.write_text(json.dumps(wrapped_job(testbed.fifo, job_id, summarise_exit)))
    toil = runner_command("toil", tmp_path, ())
    result = update_job(
        "run", "--job-id", job_id, *topic_args(testbed.fifo), "--",
        *toil, str(wrapped), str(job), env=runner_env(), cwd=tmp_path, timeout=400,
    )  # fmt: skip
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    done = [int(match["done"]) for match in step_updates(messages)]
    document = assert_progress_only_grows(messages, job_id)
    if summarise_exit == 0:
        assert result.returncode == 0, result.stderr[-4000:]
        assert done == [1, 2, 3, 4, 5]
        assert (document["status"], document["progress"]) == ("succeeded", 100)
    else:
        assert result.returncode != 0
        assert done == list(range(1, len(done) + 1))
        assert len(done) <= 4
        assert (document["status"], document.get("progress", 0)) == ("failed", 20 * len(done))
    # Each update once, though Toil retries the failed step: the run's start, the wrapper's
    # start, then the step updates.
    assert [m["status"] for m in messages].count("running") == 2 + len(done)


# `update-job run --step-updates -- toil-cwl-runner ...`: Toil's jobs followed through the
# message bus it writes (--writeMessages, which run adds) and its leader's log.

TOIL_CAPTURED = TESTS / "data" / "toil"


def test_toils_jobs_are_mapped_to_the_steps_they_run() -> None:
    # Toil 9.6's bus and leader log, captured from a run of the steps workflow whose
    # summarise step exits 3: the scatter's elements are named by index
    # (steps.cwl.0.square.cwl), its gather only CWLGather.
    follower = ToilFollower()
    for line in (TOIL_CAPTURED / "steps-fail.messages").read_text().splitlines():
        follower.feed_message(line)
    for line in (TOIL_CAPTURED / "steps-fail.stderr").read_text().splitlines():
        follower.feed(line)
    assert follower.state() is None  # the steps are not known yet: the messages wait
    follower.know_outline(read_outline(str(STEPS)))
    state = follower.state()
    assert state is not None
    assert (state.finished, state.total, state.last) == (4, 5, "total")
    assert state.failure == "failed: step summarise exited 3"
    # Count and total both run reduce.cwl: each is told by its own step's name.
    assert follower.jobs is not None
    assert follower.jobs.completed == ["split", "square", "count", "total"]


def test_a_job_toil_chains_into_the_one_before_it_counts_from_the_leaders_log() -> None:
    # Captured from a run of held-step.cwl: Toil ran `finish` in `hold`'s worker, and its
    # bus tells only `hold` (and the workflow's _resolve); the leader's log tells both.
    held_step = TESTS / "workflows" / "held-step" / "held-step.cwl"
    messages = (TOIL_CAPTURED / "held-step-chained.messages").read_text().splitlines()
    assert not [line for line in messages if ".finish." in line]
    log = (TOIL_CAPTURED / "held-step-chained.stderr").read_text().splitlines()
    for lines, told in (([], False), (log, True)):
        follower = ToilFollower()
        for line in messages[:-4]:  # up to hold's completion, before the _resolve
            follower.feed_message(line)
        follower.know_outline(read_outline(str(held_step)))
        state = follower.state()
        assert state is not None
        assert (state.finished, state.last) == (1, "hold")
        for line in lines:
            follower.feed(line)
        state = follower.state()
        assert state is not None
        assert state.finished == (2 if told else 1)
    # The workflow's _resolve ends after every one of its jobs: every step has finished.
    follower = ToilFollower()
    for line in messages:
        follower.feed_message(line)
    follower.know_outline(read_outline(str(held_step)))
    assert follower.state() == StepState(2, 2, "finish")


def test_two_scatters_at_once_are_not_counted() -> None:
    follower = ToilFollower()
    lines = (TOIL_CAPTURED / "steps-fail.messages").read_text().splitlines()
    # A second scatter issued while square's is open: the gather that follows could be
    # either's, so it counts no step.
    second = "toil.bus.JobIssuedMessage\tCWLScatter\tkind-CWLScatter/instance-second\t99"
    at = next(n for n, line in enumerate(lines) if "CWLScatter" in line) + 1
    lines = [*lines[:at], second, *lines[at:]]
    gathered = next(n for n, line in enumerate(lines) if "Completed" in line and "Gather" in line)
    follower.know_outline(read_outline(str(STEPS)))
    assert follower.jobs is not None
    for line in lines[: gathered + 1]:
        follower.feed_message(line)
    follower.state()
    assert follower.jobs.completed == ["split"]
    # Square has finished once count has, which takes its outputs.
    for line in lines[gathered + 1 :]:
        follower.feed_message(line)
    follower.state()
    assert follower.jobs.completed == ["split", "square", "count", "total"]


def test_what_is_not_toils_own_is_not_counted() -> None:
    follower = ToilFollower()
    follower.know_outline(read_outline(str(STEPS)))
    complete = (TOIL_CAPTURED / "held-step-chained.stderr").read_text().splitlines()[0]
    for line in [
        # A tool's stderr in a failed job's log, which Toil relays indented.
        "\t" + complete.replace("held-step.cwl.hold", "steps.cwl.split"),
        "tool: CWL step complete: steps.cwl.count.reduce.cwl",
        "x" * 100_000,
    ]:
        follower.feed(line)
    for line in [
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl\tkind-CWLJob/i\tzero",
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl\\x\tkind-CWLJob/i\t0",
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl",
        # Another workflow's job, and a job whose class Toil does not say.
        "toil.bus.JobCompletedMessage\tother.cwl.total.reduce.cwl\tkind-CWLJob/i\t0",
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl\tuuid-without-kind\t0",
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl\tkind-CWLJobWrapper/i\t0",
        "toil.bus.JobCompletedMessage\tsteps.cwl.total.reduce.cwl\tkind-CWLJob/i\t1",
        "\t".join(["toil.bus.JobCompletedMessage"] + ["\x00" * 10] * 3),
    ]:
        follower.feed_message(line)
    state = follower.state()
    assert state is not None
    assert (state.finished, state.failed) == (0, None)


def test_a_killed_batch_job_is_named_with_toils_exit_reason() -> None:
    follower = ToilFollower()
    follower.know_outline(read_outline(str(STEPS)))
    lines = (TOIL_CAPTURED / "steps-fail.stderr").read_text().splitlines()
    # The record's shape, with the reason Toil gives a job Slurm cancelled.
    follower.feed(lines[0])
    follower.feed("Exit reason: KILLED")
    follower.feed_message(
        "toil.bus.JobFailedMessage\tsteps.cwl.summarise.summarise.cwl\t"
        "kind-CWLJob/instance-ybwd2ogs"
    )
    state = follower.state()
    assert state is not None
    assert state.failure == "failed: step summarise failed (exit reason KILLED)"


FAKE_TOIL = """\
import json, sys
from pathlib import Path
Path(sys.argv[-1]).write_text(json.dumps(sys.argv[1:]))
"""


@pytest.mark.parametrize("own_bus", [False, True], ids=["added", "users"])
def test_toils_bus_option_is_added_first_unless_the_command_has_it(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path, own_bus: bool
) -> None:
    runner = tmp_path / "bin" / "toil-cwl-runner"
    runner.parent.mkdir()
    runner.write_text(f"#!{sys.executable}\n{FAKE_TOIL}")
    runner.chmod(0o755)
    argv = tmp_path / "argv.json"
    options = ["--writeMessages=mine.txt"] if own_bus else []
    arguments = ["--jobStore", "js", *options, str(STEPS), "--numbers", "1", str(argv)]
    result = update_job(
        "run", "--job-id", "toil-argv", *topic_args(testbed.fifo), "--step-updates",
        "--", str(runner), *arguments, env={**runner_env(), "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    given = json.loads(argv.read_text())
    if own_bus:
        assert given == arguments
        assert "--step-updates: toil-cwl-runner already has --writeMessages" in result.stderr
    else:
        assert given[2:] == arguments
        assert given[0] == "--writeMessages"
        assert Path(given[1]).parent.parent == tmp_path
        assert not Path(given[1]).parent.exists()  # removed with the run
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["running", "succeeded"]


def run_steps_on_toil(
    update_job: RunCommand, topic: Subscription, tmp_path: Path, job_id: str, summarise_exit: int
) -> subprocess.CompletedProcess[str]:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"numbers": [1, 2, 3], "summarise_exit": summarise_exit}))
    toil = runner_command("toil", tmp_path, ())
    # Its own temporary directory, to see what run leaves in it.
    (tmp_path / "tmp").mkdir()
    return update_job(
        "run", "--job-id", job_id, *topic_args(topic), "--step-updates",
        "--outputs-from-stdout", "--", *toil, str(STEPS), str(job),
        env={**runner_env(), "TMPDIR": str(tmp_path / "tmp")}, cwd=tmp_path, timeout=400,
    )  # fmt: skip


@pytest.mark.toil
def test_toils_steps_show_in_the_document_as_they_finish(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    result = run_steps_on_toil(update_job, testbed.fifo, tmp_path, "toil-run-steps-ok", 0)
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout)["summary"]["basename"] == "summary.txt"
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert messages[0]["message"] == "started toil-cwl-runner"
    assert messages[-1]["status"] == "succeeded"
    updates = step_updates(messages)
    assert len(updates) == len(messages) - 2  # nothing else between start and final
    assert {match["total"] for match in updates} == {"5"}
    done = [int(match["done"]) for match in updates]
    assert done == sorted(set(done))
    assert updates[-1].group(0) == "summarise finished (5 of 5)"
    assert {match["step"] for match in updates} <= STEP_NAMES
    # Told as they finish, not only at the end: split, the scatter, the branches and
    # summarise each wait for a Toil job of their own, seconds apart.
    assert len(updates) >= 3, [m["message"] for m in messages]
    times = [moment(m) for m in messages[:-2]]
    assert all(
        (later - earlier).total_seconds() >= 1 for earlier, later in itertools.pairwise(times)
    )
    document = assert_progress_only_grows(messages, "toil-run-steps-ok")
    assert (document["status"], document["progress"]) == ("succeeded", 100)
    # The bus file run had Toil write is gone with the run.
    assert not list((tmp_path / "tmp").glob("update-job-toil-bus-*"))


@pytest.mark.toil
def test_toils_failed_step_is_named_in_the_final_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    result = run_steps_on_toil(update_job, testbed.standard, tmp_path, "toil-run-steps-fail", 3)
    assert result.returncode == 1, result.stderr[-4000:]
    messages = sorted((d.message for d in testbed.standard.receive()), key=moment)
    final = messages[-1]
    assert (final["status"], final["exit-code"]) == ("failed", 1)
    assert final["message"] == (
        "failed: step summarise exited 3 (toil-cwl-runner exited with code 1)"
    )
    updates = step_updates(messages)
    assert "summarise" not in {match["step"] for match in updates}
    assert updates[-1]["done"] == "4"
    document = assert_progress_only_grows(messages, "toil-run-steps-fail")
    assert (document["status"], document["progress"]) == ("failed", 80)
    assert document["message"].startswith("failed: step summarise exited 3")


def test_step_updates_take_no_name_of_the_originals(update_job: RunCommand, tmp_path: Path) -> None:
    yaml = YAML()
    workflow = yaml.load(STEPS.read_text(encoding="utf-8"))
    # A step and an output named as the wrapper names its own, and an input as well.
    workflow["steps"]["update_job_after_split"] = workflow["steps"].pop("count")
    workflow["steps"]["summarise"]["in"]["count"] = "update_job_after_split/result"
    workflow["outputs"]["update_job_step_updates"] = {
        "type": "File",
        "outputSource": "split/parts",
    }
    workflow["outputs"]["update_job_step_updates"]["type"] = "File[]"
    workflow["inputs"]["update_job_started"] = {"type": "string", "default": "mine"}
    original = tmp_path / "steps" / "clashing.cwl"
    original.parent.mkdir()
    for tool in STEPS.parent.glob("*.cwl"):
        (original.parent / tool.name).write_text(tool.read_text())
    with original.open("w", encoding="utf-8") as stream:
        yaml.dump(workflow, stream)
    wrapped = tmp_path / "wrapped.cwl"
    wrap_with_step_updates(update_job, wrapped, original=original)
    copy = YAML(typ="safe").load(wrapped.read_text())["$graph"][1]
    assert copy["inputs"]["update_job_started"] == {"type": "string", "default": "mine"}
    assert copy["outputs"]["update_job_step_updates"]["outputSource"] == "split/parts"
    assert copy["steps"]["update_job_after_split"]["run"].endswith("reduce.cwl")
    assert copy["steps"]["update_job_after_split_"]["run"] == "#update-job-best-effort"


def test_a_packed_workflow_is_refused_in_one_line(update_job: RunCommand, tmp_path: Path) -> None:
    packed = tmp_path / "packed.cwl"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cwltool")), "--pack", str(STEPS)],
        capture_output=True, text=True, check=True, env=runner_env(),
    )  # fmt: skip
    packed.write_text(result.stdout)
    wrapped = tmp_path / "wrapped.cwl"
    refused = update_job("wrap", "--step-updates", f"{packed}#main", "-o", str(wrapped))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"update-job: error: --step-updates: {packed}#main is a packed document: wrap the "
        "workflow it was packed from\n"
    )
    assert not wrapped.exists()


def test_a_signal_stops_step_updates_and_the_final_update_still_goes(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # Steps keep finishing after the signal: none of them is told after it.
    bursts = [[completed("split")], *[[completed(name)] for name in ("square", "count")] * 10]
    runner = fake_cwltool(tmp_path, bursts, pause=0.3, exit_code=0)
    script = runner.read_text().replace(
        "import sys, time",
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: None)",
    )
    runner.write_text(script)
    args = ["run", "--job-id", "steps-signal", *topic_args(testbed.fifo), "--step-updates"]
    with started_update_job(*args, "--kill-after", "1", "--", str(runner), str(STEPS)) as process:
        wait_for(testbed.fifo, 2)  # the start, and split's update
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages] == ["failed"]
    assert messages[0]["message"].startswith("terminated by SIGTERM")
