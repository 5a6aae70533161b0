"""cwltool --podman runs cwl/update-job.cwl and the example workflow with the built image.

The tests' image is built on a stand-in base, so it is not tagged with the production name
that the tools' DockerRequirement hints name: cwltool --overrides points them at it, as a
deployer points them at a registry's copy. The steps publish for real to moto on the host's
loopback (cwltool --custom-net=host), and the updates must arrive in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import LocalTopics
from tests.container import harness

pytestmark = pytest.mark.container

CWL_DIR = harness.REPO_ROOT / "cwl"
EXAMPLES = CWL_DIR / "examples"
# Test credentials for moto only; never real ones.
TEST_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a CWL document"
    return data


def _cwltool(cwl: Path, job: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = {
        **os.environ,
        **TEST_AWS_ENV,
        "PATH": f"{harness.podman_shim_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    preserve = [arg for key in TEST_AWS_ENV for arg in ("--preserve-environment", key)]
    command = [
        str(Path(sys.executable).with_name("cwltool")),
        "--podman",
        "--custom-net=host",
        # The CWL files name schema.org's vocabulary in $schemas: fetch nothing off this machine.
        "--skip-schemas",
        "--overrides",
        str(harness.cwl_overrides(tmp_path / "overrides.yml")),
        *preserve,
        "--outdir",
        str(tmp_path / "out"),
        "--tmpdir-prefix",
        f"{tmp_path}/tmp-",
        str(cwl),
        str(job_path),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )


def _example_job(name: str, topics: LocalTopics, job_id: str) -> dict[str, Any]:
    job = _load(EXAMPLES / name)
    job.update(job_id=job_id, jobs_data_sns_topic_arn=topics.fifo.topic_arn)
    job.update(endpoint_url=topics.endpoint_url)
    return job


def test_overrides_cover_every_tool_that_names_the_image(container_image: str) -> None:
    covered = {uri.rsplit("/", 1)[1] for uri in harness.cwl_tools_in_production_image()}
    assert covered == {
        "update-job.cwl#update-job",
        "exit-with.cwl#exit-with",
        "publish-job-status.cwl#publish-job-status",
        "publish-job-status-latest.cwl#publish-job-status-latest",
        "make-granules.cwl#make-granules",
        "summarise.cwl#summarise",
    }


def test_cwltool_runs_the_tool_in_the_image(
    container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    job = {
        "job_id": "cwl-tool-1",
        "status": "running",
        "labels": ["podman"],
        "topic_arn": testbed.fifo.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = _cwltool(harness.CWL_TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]
    [delivery] = testbed.fifo.receive()
    assert (delivery.message["id"], delivery.message["status"]) == ("cwl-tool-1", "running")
    assert delivery.message["labels"] == ["podman"]


def test_cwltool_runs_the_example_workflow_in_the_image(
    container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    job = _example_job("granule-summary.job.yml", testbed, "cwl-workflow-1")
    result = _cwltool(EXAMPLES / "granule-summary.cwl", job, tmp_path)
    assert result.returncode == 0, result.stderr[-6000:]
    start, middle, end = (delivery.message for delivery in testbed.fifo.receive())
    assert (start["status"], "start-time" in start) == ("running", True)
    assert (middle["status"], middle["progress"]) == ("running", 50)
    assert (end["status"], end["exit-code"]) == ("succeeded", 0)
    assert set(end["outputs"]) == {"granules", "summary"}
    assert {start["id"], middle["id"], end["id"]} == {"cwl-workflow-1"}


def test_cwltool_reports_a_failed_stage_in_the_image(
    container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    job = _example_job("granule-summary-fails.job.yml", testbed, "cwl-workflow-2")
    result = _cwltool(EXAMPLES / "granule-summary.cwl", job, tmp_path)
    assert result.returncode != 0
    statuses = [delivery.message["status"] for delivery in testbed.fifo.receive()]
    assert statuses == ["running", "running", "failed"]


def test_cwltool_passes_large_values_and_no_paths_in_the_image(
    container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    # In the container too, the values go in files of the step's own: a message over the
    # 128 KiB one argument may hold is published, and a string naming a file is refused.
    message = "granule " * 25_000
    (tmp_path / "large").mkdir()
    (tmp_path / "path").mkdir()
    job = {
        "job_id": "cwl-tool-2",
        "status": "running",
        "message": message,
        "topic_arn": testbed.standard.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = _cwltool(harness.CWL_TOOL, job, tmp_path / "large")
    assert result.returncode == 0, result.stderr[-6000:]
    [delivery] = testbed.standard.receive()
    assert delivery.message["message"] == message
    refused = _cwltool(
        harness.CWL_TOOL, {**job, "message": None, "inputs": "@/etc/passwd"}, tmp_path / "path"
    )
    assert refused.returncode != 0
    assert "not valid JSON" in refused.stderr
    assert "root:" not in refused.stderr
    assert testbed.standard.receive() == []
