"""The same CWL on Toil (toil-cwl-runner, single-machine batch system, no containers) as on
cwltool, against the local SNS -> SQS endpoint: each update arrives once, in order, even
where Toil retries a failed step. Slow (Toil starts a leader and workers per run):
`pytest -m "not toil"` skips these.

Toil ignores --preserve-environment: the helper passes the tests' fake keys with
--preserve-entire-environment (stored in the job store: never do that with real keys), and
the endpoint as the workflows' `endpoint_url` input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localaws import Subscription
from tests.conftest import UPDATE_JOB, LocalTopics, RunCommand, topic_args
from tests.cwlrun import BIN, TOIL, run_cwl, runner_command, runner_env

pytestmark = pytest.mark.toil

ROOT = Path(__file__).resolve().parent.parent
CWL = ROOT / "cwl"
EXAMPLES = CWL / "examples"
WORKFLOW = EXAMPLES / "granule-summary.cwl"


def example_job(name: str, topic: Subscription, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = YAML(typ="safe").load((EXAMPLES / name).read_text(encoding="utf-8"))
    job.update(
        job_id=job_id, jobs_data_sns_topic_arn=topic.topic_arn, endpoint_url=topic.endpoint_url
    )
    return job


def test_example_workflow_success_on_toil(testbed: LocalTopics, tmp_path: Path) -> None:
    job = example_job("granule-summary.job.yml", testbed.fifo, "toil-success-1")
    result = run_cwl(WORKFLOW, job, tmp_path, runner="toil")
    assert result.returncode == 0, result.stderr[-6000:]
    deliveries = testbed.fifo.receive()
    assert [d.message["status"] for d in deliveries] == ["running", "running", "succeeded"]
    updated = [d.message["updated"] for d in deliveries]
    assert updated == sorted(updated)
    assert {d.message["id"] for d in deliveries} == {"toil-success-1"}
    end = deliveries[-1].message
    assert end["exit-code"] == 0
    # Inside the run, Toil's files are file-store ids (toilfile:...): never published as
    # URLs, but as null, with a warning in the log.
    assert end["outputs"] == {"granules": None, "summary": None}
    assert "is internal to the workflow runner, not a URL" in result.stderr
    # The science: the run's outputs, exported by Toil.
    summary = Path(result.outputs["summary"]["path"]).read_text(encoding="utf-8")
    assert json.loads(summary) == {"count": 3, "total": 14, "mean": 14 / 3}


def test_example_workflow_failure_on_toil_publishes_failed_once(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    job = example_job("granule-summary-fails.job.yml", testbed.fifo, "toil-failure-1")
    result = run_cwl(WORKFLOW, job, tmp_path, runner="toil")
    assert result.returncode != 0
    # Toil retries the failed exit step (--retryCount 1 by default); it publishes nothing,
    # so every update arrives exactly once.
    deliveries = testbed.fifo.receive()
    assert [d.message["status"] for d in deliveries] == ["running", "running", "failed"]
    assert deliveries[-1].message["exit-code"] == 3
    assert "make-granules: no granules to process" in result.stderr
    assert "to retry job 'CWLJob' granule-summary.exit.exit-with" in result.stderr


def test_wrapped_workflow_on_toil(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    wrapped = tmp_path / "make-granules-updates.cwl"
    made = update_job("wrap", str(EXAMPLES / "make-granules.cwl"), "-o", str(wrapped))
    assert made.returncode == 0, made.stderr
    job = {
        "collection_id": "C1",
        "count": 0,
        "job_id": "toil-wrapped-1",
        "jobs_data_sns_topic_arn": testbed.fifo.topic_arn,
        "endpoint_url": testbed.endpoint_url,
        "labels": ["wrapped", "toil"],
    }
    result = run_cwl(wrapped, job, tmp_path / "run", runner="toil")
    # The stage reports exit code 3: the end update says failed, then the run fails.
    assert result.returncode != 0
    messages = [delivery.message for delivery in testbed.fifo.receive()]
    assert [(m["status"], m.get("exit-code")) for m in messages] == [
        ("running", None),
        ("failed", 3),
    ]
    assert messages[0]["labels"] == ["wrapped", "toil"]


def test_cwl_tool_cwltest_file_on_toil(tmp_path: Path) -> None:
    # cwltest passes the options after `--` to toil-cwl-runner for each case; Toil makes
    # its job store in TMPDIR.
    (tmp_path / "tmp").mkdir()
    env = {**runner_env(), "TMPDIR": str(tmp_path / "tmp")}
    command = [
        str(BIN / "cwltest"),
        "--test", str(CWL / "tests" / "update-job.cwltest.yml"),
        "--tool", TOIL,
        "-j", "2",
        "--",
        "--no-container",
        "--batchSystem", "single_machine",
        "--preserve-entire-environment",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    cases = len(YAML(typ="safe").load((CWL / "tests" / "update-job.cwltest.yml").read_text()))
    assert re.search(rf"All tests passed|{cases} tests passed", log), log[-3000:]


def test_update_job_run_around_toil_reports_lasting_urls(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # The workflow's own updates as a dry run: only `update-job run`'s reach the topic.
    job = YAML(typ="safe").load((EXAMPLES / "granule-summary-dry-run.job.yml").read_text())
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    toil = runner_command("toil", tmp_path, ())
    command = [
        UPDATE_JOB, "run",
        "--job-id", "toil-run-1",
        *topic_args(testbed.fifo),
        "--outputs-from-stdout",
        "--", *toil, str(WORKFLOW), str(job_path),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=runner_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    running, succeeded = (delivery.message for delivery in testbed.fifo.receive())
    assert running["status"] == "running"
    assert succeeded["status"] == "succeeded"
    # The final outputs, after Toil exported them: lasting file:// URLs in the output dir.
    outdir = (tmp_path / "out").resolve().as_uri()
    assert succeeded["outputs"]["summary"] == f"{outdir}/summary.json"
    assert succeeded["outputs"]["granules"] == f"{outdir}/granules.csv"
    assert os.path.isfile(tmp_path / "out" / "summary.json")
