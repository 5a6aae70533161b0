"""Step updates with the steps in containers (cwltool --podman, the tests' image): under
`update-job run --step-updates`, and from a wrapper's update steps, read back from the local
endpoint and applied through the consumer model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LocalTopics, run_update_job, topic_args
from tests.container import harness
from tests.test_step_updates import STEPS, assert_progress_only_grows, step_updates, wrapped_job

pytestmark = pytest.mark.container

# Test credentials for moto only; never real ones.
TEST_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def overrides(tmp_path: Path, wrapped: Path | None) -> Path:
    """The harness's overrides (the project's tools in the tests' image), and the same for
    the test workflow's tools and a wrapper's copies of the Update Job tool."""
    path = harness.cwl_overrides(tmp_path / "overrides.yml")
    uris = [tool.as_uri() for tool in sorted(STEPS.parent.glob("*.cwl")) if tool != STEPS]
    if wrapped is not None:
        uris += [f"{wrapped.as_uri()}#{tool}" for tool in ("update-job", "update-job-best-effort")]
    lines = []
    for uri in uris:
        lines += [
            f"  {json.dumps(uri)}:",
            "    requirements:",
            "      DockerRequirement:",
            f"        dockerPull: {json.dumps(harness.image_name())}",
        ]
    with path.open("a", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    return path


def cwltool_in_podman(tmp_path: Path, wrapped: Path | None) -> list[str]:
    preserve = [arg for key in TEST_AWS_ENV for arg in ("--preserve-environment", key)]
    return [
        str(Path(sys.executable).with_name("cwltool")), "--podman", "--custom-net=host",
        "--skip-schemas", "--overrides", str(overrides(tmp_path, wrapped)), *preserve,
        "--outdir", str(tmp_path / "out"), "--tmpdir-prefix", f"{tmp_path}/tmp-",
    ]  # fmt: skip


def run_under_update_job(
    topics: LocalTopics, tmp_path: Path, job_id: str, cwl: Path, job: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = {
        **os.environ,
        **TEST_AWS_ENV,
        "PATH": f"{harness.podman_shim_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # A wrapper tells its steps itself: `run` follows only an unwrapped workflow's (both at
    # once would publish two counts).
    wrapped = cwl if cwl != STEPS else None
    follow = () if wrapped is not None else ("--step-updates",)
    return run_update_job(
        "run", "--job-id", job_id, *topic_args(topics.fifo), *follow, "--",
        *cwltool_in_podman(tmp_path, wrapped), str(cwl), str(job_path),
        env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("summarise_exit", [0, 3], ids=["succeeds", "fails"])
def test_run_follows_the_steps_of_a_workflow_in_containers(
    container_image: str, testbed: LocalTopics, tmp_path: Path, summarise_exit: int
) -> None:
    job_id = f"podman-steps-{summarise_exit}"
    job = {"numbers": [1, 2, 3], "summarise_exit": summarise_exit}
    result = run_under_update_job(testbed, tmp_path, job_id, STEPS, job)
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    done = [int(match["done"]) for match in step_updates(messages)]
    assert done == sorted(set(done))
    document = assert_progress_only_grows(messages, job_id)
    if summarise_exit == 0:
        assert result.returncode == 0, result.stderr[-4000:]
        assert done[-1] == 5
        assert (document["status"], document["progress"]) == ("succeeded", 100)
    else:
        assert result.returncode == 1, result.stderr[-4000:]
        assert done[-1] == 4
        assert document["status"] == "failed"
        assert document["progress"] == 80
        assert document["message"].startswith("failed: step summarise exited 3")


def test_a_wrappers_step_updates_run_in_containers(
    container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    wrapped = tmp_path / "steps-updates.cwl"
    wrote = run_update_job("wrap", "--step-updates", str(STEPS), "-o", str(wrapped))
    assert wrote.returncode == 0, wrote.stderr
    job = wrapped_job(testbed.fifo, "podman-wrap-steps")
    result = run_under_update_job(testbed, tmp_path, "podman-wrap-steps", wrapped, job)
    assert result.returncode == 0, result.stderr[-4000:]
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [int(match["done"]) for match in step_updates(messages)] == [1, 2, 3, 4, 5]
    document = assert_progress_only_grows(messages, "podman-wrap-steps")
    assert (document["status"], document["progress"]) == ("succeeded", 100)
