"""The same CWL on a real Slurm cluster as on cwltool: `toil-cwl-runner --batchSystem slurm`
on a private single-node cluster (the `slurm_cluster` fixture, tests/slurm.py), against the
local SNS -> SQS endpoint. Every step is a Slurm batch job, checked with the controller
(`scontrol show job`) and the job completion log; a step's job cancelled with `scancel` is
retried by Toil, and when every attempt is cancelled `update-job run` publishes `failed`,
naming the step and Toil's exit reason (`--step-updates`).

How the jobs get what they need, as on a site's cluster: Toil submits with sbatch's
`--export=ALL`, so each job gets the leader's environment: PATH with this venv's `bin`
first (Toil's `_toil_worker` and update-job), SLURM_CONF, and the fake AWS settings, which
`--preserve-entire-environment` passes on to the CWL steps. The endpoint is the workflows'
`endpoint_url` input. Slow (a Toil worker starts per step): `pytest -m "not slurm"` skips
these; needs root (munged, slurmctld and slurmd), installs slurm-wlm and munge once.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localaws import LOCAL_AWS_ENV, Delivery, Subscription
from tests.conftest import UPDATE_JOB, LocalTopics, topic_args
from tests.cwlrun import run_cwl, runner_command, runner_env
from tests.slurm import SlurmCluster, command_line, stop_orphans

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "cwl" / "examples"
WORKFLOW = EXAMPLES / "granule-summary.cwl"
HELD_STEP = Path(__file__).parent / "workflows" / "held-step" / "held-step.cwl"
#: The example's steps, each a CommandLineTool: one Slurm job each.
EXAMPLE_STEPS = {"start", "stage_1", "middle", "stage_2", "end", "exit"}
#: Fields that differ from one run to the next, whatever the runner.
TIMES = ("updated", "start-time", "stop-time")


def example_job(name: str, topic: Subscription, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = YAML(typ="safe").load((EXAMPLES / name).read_text(encoding="utf-8"))
    job.update(
        job_id=job_id, jobs_data_sns_topic_arn=topic.topic_arn, endpoint_url=topic.endpoint_url
    )
    return job


def cluster_env(cluster: SlurmCluster) -> dict[str, str]:
    """The tests' environment, with the cluster named for sbatch & co. (and so for Toil)."""
    return {**os.environ, **cluster.env}


def steps_run_as_jobs(cluster: SlurmCluster, workdir: Path) -> dict[str, list[str]]:
    """The Slurm jobs a Toil leader started in `workdir` submitted, by CWL step: each
    job's state in the job completion log. Toil names a job `toil_job_<n>_<workflow>.<step>.
    <tool>`."""
    submitted = {job["JobId"] for job in cluster.jobs() if job["WorkDir"] == str(workdir)}
    states: dict[str, list[str]] = {}
    for record in cluster.completed():
        if record["JobId"] in submitted:
            match = re.fullmatch(r"toil_job_\d+_[^.]+(?:\.cwl)?\.(\w+)\..*", record["Name"])
            assert match, record["Name"]
            states.setdefault(match.group(1), []).append(record["JobState"])
    return states


def launched_in_slurmd_log(cluster: SlurmCluster, job_ids: set[str]) -> set[str]:
    text = cluster.slurmd_log.read_text(encoding="utf-8", errors="replace")
    return {job_id for job_id in job_ids if f"Launching batch job {job_id} " in text}


def comparable(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    """The messages without what differs between any two runs (the times) and without the
    outputs' locations, which are the runner's own (paths on cwltool, file-store ids on
    Toil): their names are kept."""
    messages = []
    for delivery in deliveries:
        message = {k: v for k, v in delivery.message.items() if k not in TIMES}
        if isinstance(message.get("outputs"), dict):
            message["outputs"] = sorted(message["outputs"])
        messages.append(message)
    return messages


@pytest.mark.parametrize(
    ("job_file", "returncode"),
    [("granule-summary.job.yml", 0), ("granule-summary-fails.job.yml", 1)],
    ids=["succeeds", "fails"],
)
def test_example_workflow_on_slurm_sends_what_cwltool_sends(
    slurm_cluster: SlurmCluster,
    testbed: LocalTopics,
    tmp_path: Path,
    job_file: str,
    returncode: int,
) -> None:
    # The same job, once on cwltool (to the standard topic), once on Slurm (to the FIFO one).
    cwltool = run_cwl(
        WORKFLOW, example_job(job_file, testbed.standard, "slurm-1"), tmp_path / "cwltool"
    )
    assert cwltool.returncode == returncode, cwltool.stderr[-6000:]
    workdir = tmp_path / "slurm"
    workdir.mkdir()
    slurm = run_cwl(
        WORKFLOW,
        example_job(job_file, testbed.fifo, "slurm-1"),
        workdir,
        runner="toil",
        batch_system="slurm",
        env=cluster_env(slurm_cluster),
        cwd=workdir,
        timeout=600,
    )
    assert slurm.returncode == returncode, slurm.stderr[-6000:]

    on_cwltool, on_slurm = testbed.standard.receive(), testbed.fifo.receive()
    assert [d.message["status"] for d in on_slurm] == [
        "running",
        "running",
        "succeeded" if returncode == 0 else "failed",
    ]
    assert comparable(on_slurm) == comparable(on_cwltool)
    updated = [d.message["updated"] for d in on_slurm]
    assert updated == sorted(updated)
    end = on_slurm[-1].message
    # Inside a Toil run, files are file-store ids: null, as on Toil's single machine.
    assert end["outputs"] == {"granules": None, "summary": None}

    # Every step ran as a Slurm batch job of its own, launched by slurmd, and completed; on
    # failure, the exit step (exit 3) failed and Toil ran it a second time.
    states = steps_run_as_jobs(slurm_cluster, workdir)
    assert set(states) == EXAMPLE_STEPS, states
    for step in EXAMPLE_STEPS - {"exit"}:
        assert states[step] == ["COMPLETED"], (step, states)
    assert states["exit"] == (["COMPLETED"] if returncode == 0 else ["FAILED", "FAILED"])
    job_ids = {job["JobId"] for job in slurm_cluster.jobs() if job["WorkDir"] == str(workdir)}
    assert launched_in_slurmd_log(slurm_cluster, job_ids) == job_ids
    if returncode == 0:
        summary = Path(slurm.outputs["summary"]["path"]).read_text(encoding="utf-8")
        assert json.loads(summary) == {"count": 3, "total": 14, "mean": 14 / 3}
    else:
        assert end["exit-code"] == 3
        assert "make-granules: no granules to process" in slurm.stderr


def cancel_running(cluster: SlurmCluster, workdir: Path, step: str, done: set[str]) -> None:
    """scancel each job of `step` (submitted from `workdir`) that runs and is not in `done`."""
    for job in cluster.jobs():
        if (
            job["WorkDir"] == str(workdir)
            and f".{step}." in job["JobName"]
            and job["JobState"] == "RUNNING"
            and job["JobId"] not in done
        ):
            cancelled = cluster.client("scancel", job["JobId"])
            assert cancelled.returncode == 0, cancelled.stderr
            done.add(job["JobId"])


@pytest.mark.parametrize("cancelled_attempts", [1, 2], ids=["retried", "every-attempt"])
def test_update_job_run_around_toil_on_slurm_when_a_step_job_is_cancelled(
    slurm_cluster: SlurmCluster, testbed: LocalTopics, tmp_path: Path, cancelled_attempts: int
) -> None:
    # `hold` sleeps long enough to be cancelled while it runs; Toil tries a job twice
    # (--retryCount 1): one cancel is retried, two fail the run.
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps({"seconds": 20 if cancelled_attempts == 1 else 300}))
    toil = runner_command("toil", tmp_path, (), batch_system="slurm")
    command = [
        UPDATE_JOB, "run",
        "--job-id", f"slurm-run-{cancelled_attempts}",
        *topic_args(testbed.fifo),
        "--outputs-from-stdout", "--step-updates",
        "--", *toil, str(HELD_STEP), str(job_path),
    ]  # fmt: skip
    cancelled: set[str] = set()
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=runner_env(cluster_env(slurm_cluster)),
        cwd=tmp_path,
    ) as run:
        try:
            deadline = time.monotonic() + 400
            while run.poll() is None and time.monotonic() < deadline:
                if len(cancelled) < cancelled_attempts:
                    cancel_running(slurm_cluster, tmp_path, "hold", cancelled)
                time.sleep(0.3)
            stdout, stderr = run.communicate(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()
    assert len(cancelled) == cancelled_attempts, stderr[-6000:]
    states = steps_run_as_jobs(slurm_cluster, tmp_path)
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [m["status"] for m in messages[:1]] == ["running"]
    assert messages[0]["message"] == "started toil-cwl-runner"
    final = messages[-1]
    # Toil saw each cancelled job end KILLED (Slurm's CANCELLED state).
    assert stderr.count("Exit reason: KILLED") == cancelled_attempts, stderr[-6000:]
    if cancelled_attempts == 1:
        assert run.returncode == 0, stderr[-6000:]
        # `finish` runs in a job of its own, or chained by Toil into hold's second job.
        assert states.pop("finish", ["COMPLETED"]) == ["COMPLETED"]
        assert states == {"hold": ["CANCELLED", "COMPLETED"]}
        assert final["status"] == "succeeded"
        assert final["message"] == "toil-cwl-runner exited with code 0"
        # Toil's steps followed (--step-updates): the retried step counts once.
        told = [m["message"] for m in messages[1:-1]]
        assert told[-1] == "finish finished (2 of 2)", messages
        assert set(told) <= {"hold finished (1 of 2)", "finish finished (2 of 2)"}
        # The run's lasting output, where Toil put it after the run: not a file-store id.
        outdir = (tmp_path / "out").resolve().as_uri()
        assert final["outputs"] == {"done": f"{outdir}/done.txt"}
        assert (tmp_path / "out" / "done.txt").read_text(encoding="utf-8") == "done\n"
        assert json.loads(stdout)["done"]["location"] == f"{outdir}/done.txt"
    else:
        assert run.returncode == 1, stderr[-6000:]
        assert states == {"hold": ["CANCELLED", "CANCELLED"]}
        assert (final["status"], final["exit-code"]) == ("failed", 1)
        assert len(messages) == 2, messages
        # The step whose job was cancelled, and why Toil says its batch job ended.
        assert final["message"] == (
            "failed: step hold failed (exit reason KILLED) (toil-cwl-runner exited with code 1)"
        )
        assert "outputs" not in final
        assert "no JSON object on the command's stdout" in stderr
        assert "'CWLJob' held-step.cwl.hold" in stderr.split("Failed jobs at end of the run:")[1]


@pytest.mark.parametrize("check_env", [False, True], ids=["bare-name", "TOIL_CHECK_ENV"])
def test_toil_worker_found_on_the_nodes_with_toil_check_env(
    slurm_cluster: SlurmCluster, tmp_path: Path, check_env: bool
) -> None:
    # A site whose jobs do not inherit the submitter's environment (sbatch --export=NONE,
    # here through Toil's TOIL_SLURM_ARGS): a job runs `_toil_worker` by name, which the
    # job's shell does not find, unless TOIL_CHECK_ENV=True makes Toil name it by its path
    # in the leader's virtual environment (which every node must have, at the same path).
    # Toil's worker then takes on the leader's environment (PATH included) for the steps.
    env = {**runner_env(cluster_env(slurm_cluster)), "TOIL_SLURM_ARGS": "--export=NONE"}
    env.pop("TOIL_CHECK_ENV", None)
    if check_env:
        env["TOIL_CHECK_ENV"] = "True"
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps({"seconds": 1}))
    command = [
        *runner_command("toil", tmp_path, (), batch_system="slurm"),
        str(HELD_STEP),
        str(job_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False
    )
    batch_logs = "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in (tmp_path / "toil-work").glob("*.err.log")
    )
    states = steps_run_as_jobs(slurm_cluster, tmp_path)
    if check_env:
        assert result.returncode == 0, result.stderr[-6000:]
        assert (tmp_path / "out" / "done.txt").read_text(encoding="utf-8") == "done\n"
        assert states.pop("finish", ["COMPLETED"]) == ["COMPLETED"]
        assert states == {"hold": ["COMPLETED"]}
    else:
        assert result.returncode != 0
        assert "_toil_worker: not found" in batch_logs + result.stderr, result.stderr[-6000:]
        assert states == {"hold": ["FAILED", "FAILED"]}
        # What docs/runners.md warns of: Toil keeps the leader's whole environment, keys
        # included, in the job store (kept here: the run failed), for every worker to take on.
        [saved] = (tmp_path / "jobstore").rglob("environment.pickle")
        environment = pickle.loads(saved.read_bytes())  # noqa: S301 - the test's own run
        assert environment["AWS_SECRET_ACCESS_KEY"] == LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"]


def test_a_killed_sessions_cluster_is_stopped_by_the_next(
    slurm_installed: None, tmp_path: Path
) -> None:
    # A test session killed (SIGKILL) before its fixture could stop its cluster: the next
    # cluster's start stops those daemons, and only those, and removes their directory.
    env = {**os.environ, "UPDATE_JOB_TEST_CACHE": str(tmp_path)}
    script = (
        "import time; from tests.slurm import SlurmCluster; "
        "cluster = SlurmCluster.create(); cluster.start(); "
        "print(cluster.root, flush=True); time.sleep(600)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as session:
        try:
            assert session.stdout is not None
            root = Path(session.stdout.readline().strip())
        finally:
            session.kill()
    daemons = {
        path.stem: int(path.read_text(encoding="utf-8")) for path in root.glob("*.daemon-pid")
    }
    assert set(daemons) == {"munged", "slurmctld", "slurmd"}
    assert all(str(root) in command_line(pid) for pid in daemons.values())
    stop_orphans(root.parent)
    assert not root.exists()
    assert not [name for name, pid in daemons.items() if str(root) in command_line(pid)]
