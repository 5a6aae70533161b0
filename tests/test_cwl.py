"""The CWL tools (cwl/update-job.cwl, cwl/exit-with.cwl) and the example workflow, run with
cwltool --no-container against the local SNS -> SQS endpoint, and read back from the
subscribed queues. (tests/test_toil.py runs the same on Toil.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localaws import Delivery, Subscription
from tests.conftest import CLOSED_ENDPOINT, LocalTopics
from tests.consumer import document_after
from tests.cwlrun import CwlRun, run_cwl, validate, warnings_but_schema_org
from update_job import __version__
from update_job.message import Status

ROOT = Path(__file__).resolve().parent.parent
CWL = ROOT / "cwl"
TOOL = CWL / "update-job.cwl"
EXAMPLES = CWL / "examples"
WORKFLOW = EXAMPLES / "granule-summary.cwl"
CWL_FILES = sorted(CWL.rglob("*.cwl"))
EXIT_WITH = CWL / "exit-with.cwl"
BIN = Path(sys.executable).parent
IMAGE = f"localhost/update-job:{__version__}"


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def cwltool(cwl: Path, job: dict[str, Any], tmp_path: Path, *options: str) -> CwlRun:
    return run_cwl(cwl, job, tmp_path, *options)


def example_job(name: str, topic: Subscription, **changes: Any) -> dict[str, Any]:
    """An example job file, with the local topic and endpoint (and any changes) added."""
    job: dict[str, Any] = load(EXAMPLES / name)
    job.update(jobs_data_sns_topic_arn=topic.topic_arn, endpoint_url=topic.endpoint_url)
    job.update(changes)
    return job


def inputs_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(name): spec for name, spec in document["inputs"].items()}


# ------------------------------------------------------------------ the documents


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda path: str(path.relative_to(CWL)))
def test_cwl_file_is_valid_and_executable(path: Path) -> None:
    result = validate(path)
    assert result.returncode == 0, result.stderr
    assert "is valid CWL" in result.stdout + result.stderr
    # cwltool --validate logs to stdout or stderr, by version.
    assert warnings_but_schema_org(result.stdout + result.stderr) == []
    # Each carries a shebang, so each can be run as it is.
    assert path.read_text(encoding="utf-8").startswith("#!/usr/bin/env cwl-runner\n")
    assert path.stat().st_mode & stat.S_IXUSR, f"{path} is not executable"


def test_there_are_the_tool_the_workflow_and_its_two_stages() -> None:
    classes = {path.relative_to(CWL).as_posix(): load(path)["class"] for path in CWL_FILES}
    assert classes == {
        "update-job.cwl": "CommandLineTool",
        "compat/publish-job-status.cwl": "CommandLineTool",
        "compat/publish-job-status-latest.cwl": "CommandLineTool",
        "exit-with.cwl": "CommandLineTool",
        "examples/granule-summary.cwl": "Workflow",
        "examples/make-granules.cwl": "CommandLineTool",
        "examples/summarise.cwl": "CommandLineTool",
    }


# A parameter reference: $(inputs.x), $(self[0].contents), $(runtime.exitCode), ...
PARAMETER_REFERENCE = re.compile(
    r"""\$\((?:inputs|self|runtime)(?:\.\w+|\[\d+\]|\['[^']*'\]|\["[^"]*"\])*\)"""
)


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda path: str(path.relative_to(CWL)))
def test_no_javascript(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "InlineJavascriptRequirement" not in text
    assert "${" not in text
    references = re.findall(r"\$\([^)]*\)", text)
    assert all(PARAMETER_REFERENCE.fullmatch(ref) for ref in references), references


def test_tool_metadata_and_image_tag_match_the_package() -> None:
    tool = load(TOOL)
    assert tool["cwlVersion"] == "v1.2"
    assert tool["class"] == "CommandLineTool"
    assert tool["baseCommand"] == "update-job"
    assert tool["label"] and tool["doc"]
    assert tool["s:version"] == __version__
    assert tool["s:license"].endswith("Apache-2.0")
    assert [author["class"] for author in tool["s:author"]] == ["s:Organization"]
    assert tool["$schemas"] == ["https://schema.org/version/latest/schemaorg-current-https.rdf"]
    assert tool["hints"]["SoftwareRequirement"]["packages"] == {
        "update-job": {"version": [__version__]}
    }
    assert tool["outputs"]["receipt"]["format"] == "iana:application/json"
    assert tool["hints"]["DockerRequirement"]["dockerPull"] == IMAGE
    assert tool["requirements"]["NetworkAccess"]["networkAccess"] is True
    assert tool["requirements"]["EnvVarRequirement"]["envDef"] == {
        "AWS_DEFAULT_REGION": "$(inputs.aws_region)"
    }
    # The stages and exit-with run in the same image (it has python3), so a
    # container run needs no other.
    for other in (EXAMPLES / "make-granules.cwl", EXAMPLES / "summarise.cwl", EXIT_WITH):
        assert load(other)["hints"]["DockerRequirement"]["dockerPull"] == IMAGE


def test_every_file_using_schema_org_names_its_schema() -> None:
    for path in CWL_FILES:
        document = load(path)
        if any(str(key).startswith("s:") for key in document):
            assert document["$namespaces"]["s"] == "https://schema.org/", path
            assert document["$schemas"], path


def test_the_stages_share_one_list_of_every_exit_code() -> None:
    from cwl_utils.parser import load_document_by_uri

    for stage in ("make-granules.cwl", "summarise.cwl"):
        assert load(EXAMPLES / stage)["successCodes"] == {"$import": "every-exit-code.yml"}
        process = load_document_by_uri((EXAMPLES / stage).as_uri())
        assert process.successCodes == list(range(256))


def test_tool_inputs_mirror_the_command_options() -> None:
    inputs = inputs_of(load(TOOL))
    assert set(inputs) == {
        "job_id", "status", "exit_code", "labels", "inputs", "outputs", "message",
        "progress", "user_id", "start_time", "topic_arn", "endpoint_url", "timeout",
        "best_effort", "aws_region", "dry_run", "after", "extra_statuses",
    }  # fmt: skip
    for name, spec in inputs.items():
        assert spec.get("label") and spec.get("doc"), f"{name}: no label or doc"
    # The four as an enum, and any other word for update-job to check against extra_statuses.
    assert inputs["status"]["type"][0] == "null"
    [status_enum] = [kind for kind in inputs["status"]["type"] if isinstance(kind, dict)]
    assert status_enum["symbols"] == [status.value for status in Status]
    assert "string" in inputs["status"]["type"]
    # Credentials never come from inputs.
    assert not [name for name in inputs if "key" in name or "secret" in name]


def test_workflow_order_comes_from_data_dependencies() -> None:
    steps = load(WORKFLOW)["steps"]

    def sources(step: str) -> set[str]:
        found: set[str] = set()
        for value in steps[step]["in"].values():
            source = value.get("source") if isinstance(value, dict) else value
            for item in source if isinstance(source, list) else [source]:
                if isinstance(item, str) and "/" in item:
                    found.add(item.split("/")[0])
        return found

    assert sources("start") == set()
    assert sources("stage_1") == {"start"}
    assert sources("middle") == {"stage_1"}
    assert sources("stage_2") == {"stage_1", "middle"}
    assert sources("end") == {"stage_1", "stage_2"}
    # The run fails, if it does, only after the end update, in a step that publishes nothing.
    assert sources("exit") == {"stage_2", "end"}
    assert steps["exit"]["run"] == "../exit-with.cwl"
    # Every update is best effort: an outage of the jobs database never stops the science.
    for step in ("start", "middle", "end"):
        assert steps[step]["in"]["best_effort"] == {"default": True}
        assert steps[step]["in"]["timeout"] == "update_timeout"


# ------------------------------------------------------------------ the tool, against moto


def test_tool_publishes_one_update(testbed: LocalTopics, tmp_path: Path) -> None:
    job = {
        "job_id": "cwl-tool-1",
        "status": "running",
        "labels": ["campaign-3", "cwl"],
        "inputs": {"input_collection_id": "L0_SNPP_ATMS_SCIENCE___1", "granules": 3},
        "message": "from the CWL tool",
        "progress": 25,
        "user_id": "scientist",
        "start_time": "2016-01-14T08:00:00Z",
        "topic_arn": testbed.standard.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "update-job: published running for job cwl-tool-1" in result.stderr
    [delivery] = testbed.standard.receive()
    message = dict(delivery.message)
    assert parse_time(message.pop("updated"))
    assert message == {
        "id": "cwl-tool-1",
        "status": "running",
        "labels": ["campaign-3", "cwl"],
        "inputs": {"input_collection_id": "L0_SNPP_ATMS_SCIENCE___1", "granules": 3},
        "message": "from the CWL tool",
        "progress": 25,
        "user-id": "scientist",
        "start-time": "2016-01-14T08:00:00.000Z",
    }
    # The receipt output: update-job's --json receipt, kept as update-job.json.
    outputs = json.loads(result.stdout)
    assert outputs["receipt"]["basename"] == "update-job.json"
    receipt = json.loads(Path(outputs["receipt"]["path"]).read_text(encoding="utf-8"))
    assert receipt["message_id"] == delivery.envelope["MessageId"]
    assert receipt["message"] == delivery.message
    assert receipt["dry_run"] is False


def test_tool_takes_outputs_from_a_cwl_output_object_file(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    output_object = tmp_path / "cwl.output.json"
    output_object.write_text(
        json.dumps(
            {
                "summary": {"class": "File", "location": "s3://bucket/job/summary.json"},
                "granules": [{"class": "File", "location": "file:///data/g1.csv"}],
                "count": 1,
            }
        ),
        encoding="utf-8",
    )
    job = {
        "job_id": "cwl-tool-2",
        "exit_code": 0,
        "outputs": {"class": "File", "path": str(output_object)},
        "topic_arn": testbed.fifo.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.fifo.receive()
    assert delivery.message["status"] == "succeeded"
    assert delivery.message["exit-code"] == 0
    assert delivery.message["outputs"] == {
        "summary": "s3://bucket/job/summary.json",
        "granules": ["file:///data/g1.csv"],
        "count": 1,
    }
    assert delivery.attributes["MessageGroupId"] == "cwl-tool-2"


def test_runner_internal_locations_are_not_published_as_urls(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # As Toil hands an end step its files: file-store ids, nothing a user could open.
    outputs = {
        "summary": {"class": "File", "location": "toilfile:52:0:files/stage_2/summary.json"},
        "literal": {"class": "File", "location": "_:b3c1b0f6-a1d4-4d7e", "contents": "x"},
        "granules": {"class": "File", "location": "s3://bucket/job/granules.csv"},
    }
    job = {
        "job_id": "cwl-tool-6",
        "exit_code": 0,
        # As the example's end step gives them: File objects interpolated into JSON text.
        "outputs": json.dumps(outputs),
        "topic_arn": testbed.standard.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["outputs"] == {
        "summary": None,
        "literal": None,
        "granules": "s3://bucket/job/granules.csv",
    }
    warnings = re.findall(
        r"update-job: warning: output location '([^']*)' is internal", result.stderr
    )
    assert warnings == [outputs["summary"]["location"], outputs["literal"]["location"]]


def test_tool_publishes_failed_and_succeeds_so_a_retry_cannot_publish_again(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    job = {
        "job_id": "cwl-tool-3",
        "exit_code": 3,
        "topic_arn": testbed.standard.topic_arn,
        "endpoint_url": testbed.endpoint_url,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Final process status is success" in result.stderr
    [delivery] = testbed.standard.receive()
    assert delivery.message["status"] == "failed"
    assert delivery.message["exit-code"] == 3


def test_tool_fails_when_the_update_is_not_delivered(tmp_path: Path) -> None:
    job = {
        "job_id": "cwl-tool-4",
        "status": "running",
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:jobs",
        "endpoint_url": CLOSED_ENDPOINT,
        "timeout": 1,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode != 0
    assert "update-job: error: " in result.stderr
    assert "[job update-job] completed permanentFail" in result.stderr


def test_tool_with_best_effort_warns_and_succeeds_when_not_delivered(tmp_path: Path) -> None:
    job = {
        "job_id": "cwl-tool-5",
        "exit_code": 0,
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:jobs",
        "endpoint_url": CLOSED_ENDPOINT,
        "timeout": 1,
        "best_effort": True,
    }
    result = cwltool(TOOL, job, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "update-job: warning: not delivered: " in result.stderr
    receipt = json.loads(Path(result.outputs["receipt"]["path"]).read_text(encoding="utf-8"))
    assert receipt["message_id"] is None
    assert receipt["dry_run"] is False
    assert result.outputs["receipt"]["format"].endswith("/application/json")


@pytest.mark.parametrize(("exit_code", "status"), [(0, 0), (3, 3), (255, 255), (256, 1), (-1, 1)])
def test_exit_with_exits_with_the_code_and_publishes_nothing(
    tmp_path: Path, exit_code: int, status: int
) -> None:
    # No AWS settings at all: it cannot publish.
    result = run_cwl(EXIT_WITH, {"exit_code": exit_code}, tmp_path, preserve=())
    if status == 0:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert f"exited with status: {status}" in result.stderr


# ------------------------------------------------------------------ the example workflow


def check_start(delivery: Delivery, job: dict[str, Any]) -> None:
    start = delivery.message
    assert start["status"] == "running"
    assert start["id"] == job["job_id"]
    assert start["inputs"] == job["parameters"]
    assert start["labels"] == job["labels"]
    assert start["user-id"] == job["user_id"]
    # start-time "now": stamped when the update is made (within a moment of `updated`).
    assert abs(parse_time(start["start-time"]) - parse_time(start["updated"])) < timedelta(
        seconds=1
    )
    assert "stop-time" not in start


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_example_workflow_success_run(testbed: LocalTopics, tmp_path: Path, fifo: bool) -> None:
    topic = testbed.fifo if fifo else testbed.standard
    job = example_job("granule-summary.job.yml", topic, job_id=f"cwl-success-{fifo}")
    # --parallel: each step starts as soon as its inputs exist, so the order seen below
    # comes from the workflow's data dependencies alone.
    result = cwltool(WORKFLOW, job, tmp_path, "--parallel")
    assert result.returncode == 0, result.stderr
    deliveries = topic.receive()
    assert [d.message["status"] for d in deliveries] == ["running", "running", "succeeded"]
    start, middle, end = deliveries
    check_start(start, job)
    assert middle.message["progress"] == 50
    assert middle.message["message"] == "stage 1 of 2 done, exit code 0"
    assert "start-time" not in middle.message
    assert end.message["exit-code"] == 0
    assert end.message["stop-time"] == end.message["updated"]
    outputs = end.message["outputs"]
    assert set(outputs) == {"granules", "summary"}
    assert outputs["granules"].startswith("file://")
    assert outputs["granules"].endswith("/granules.csv")
    assert outputs["summary"].endswith("/summary.json")
    updated = [parse_time(d.message["updated"]) for d in deliveries]
    assert updated == sorted(updated)
    # The finished document, as the consumer merges the updates: the middle update's
    # progress and message do not outlive the end.
    document = document_after([d.message for d in deliveries], {"id": job["job_id"]})
    assert document is not None
    assert (document["status"], document["progress"], document["message"]) == (
        "succeeded", 100, "succeeded",
    )  # fmt: skip
    if fifo:
        assert {d.attributes["MessageGroupId"] for d in deliveries} == {job["job_id"]}
    # The stages really ran: the workflow's own outputs.
    workflow_outputs = json.loads(result.stdout)
    summary = json.loads(Path(workflow_outputs["summary"]["path"]).read_text(encoding="utf-8"))
    assert summary == {"count": 3, "total": 1 + 4 + 9, "mean": 14 / 3}
    end_receipt = Path(workflow_outputs["end_update"]["path"]).read_text(encoding="utf-8")
    assert json.loads(end_receipt)["message_id"] == end.envelope["MessageId"]


def test_example_workflow_failure_run(testbed: LocalTopics, tmp_path: Path) -> None:
    job = example_job("granule-summary-fails.job.yml", testbed.fifo, job_id="cwl-failure-1")
    result = cwltool(WORKFLOW, job, tmp_path, "--parallel")
    assert result.returncode != 0
    deliveries = testbed.fifo.receive()
    assert [d.message["status"] for d in deliveries] == ["running", "running", "failed"]
    start, middle, end = deliveries
    check_start(start, job)
    assert middle.message["message"] == "stage 1 of 2 done, exit code 3"
    assert end.message["exit-code"] == 3
    assert end.message["outputs"] == {"granules": None, "summary": None}
    assert "stop-time" in end.message
    # Stage 2 did no work after stage 1 failed; the end update failed the run with the code.
    assert "make-granules: no granules to process" in result.stderr
    assert "summarise: skipped, an earlier stage failed (exit code 3)" in result.stderr
    # The end update step succeeded after publishing; the exit step failed the run.
    assert "[job end] completed success" in result.stderr
    assert "[job exit] exited with status: 3" in result.stderr
    assert "Final process status is permanentFail" in result.stderr


def test_example_workflow_stage_2_failure(testbed: LocalTopics, tmp_path: Path) -> None:
    parameters = {"collection_id": "L0_SNPP_ATMS_SCIENCE___1", "granule_count": 101}
    job = example_job(
        "granule-summary.job.yml", testbed.standard, job_id="cwl-failure-2", parameters=parameters
    )
    result = cwltool(WORKFLOW, job, tmp_path)
    assert result.returncode != 0
    statuses = [
        (d.message["status"], d.message.get("exit-code")) for d in testbed.standard.receive()
    ]
    assert statuses == [("running", None), ("running", None), ("failed", 4)]
    assert "summarise: 101 granules, at most 100" in result.stderr


def test_example_dry_run_needs_no_aws_and_no_node(tmp_path: Path) -> None:
    # Only this venv on PATH: no node (cwltool would need it for JavaScript), no container
    # engine, and no AWS credentials, endpoint or configuration in the environment.
    assert shutil.which("node", path=str(BIN)) is None
    assert shutil.which("nodejs", path=str(BIN)) is None
    env = {
        "PATH": str(BIN),
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    preserve = ("AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    job = load(EXAMPLES / "granule-summary-dry-run.job.yml")
    assert "jobs_data_sns_topic_arn" not in job and "endpoint_url" not in job
    result = run_cwl(WORKFLOW, job, tmp_path, preserve=preserve, env=env)
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    receipt = json.loads(Path(outputs["end_update"]["path"]).read_text(encoding="utf-8"))
    assert receipt["dry_run"] is True
    assert receipt["message_id"] is None
    assert receipt["message"]["status"] == "succeeded"
    assert receipt["message"]["id"] == job["job_id"]
    assert set(receipt["message"]["outputs"]) == {"granules", "summary"}
    assert "published" not in result.stderr


def test_example_workflow_keeps_its_science_when_the_jobs_database_is_down(
    tmp_path: Path,
) -> None:
    # The endpoint is a closed loopback port: start, middle and end updates all fail.
    job = load(EXAMPLES / "granule-summary.job.yml")
    job.update(
        job_id="cwl-outage-1",
        jobs_data_sns_topic_arn="arn:aws:sns:us-east-1:123456789012:jobs.fifo",
        endpoint_url=CLOSED_ENDPOINT,
        update_timeout=1,
    )
    result = cwltool(WORKFLOW, job, tmp_path, "--parallel")
    assert result.returncode == 0, result.stderr
    # The science: both stages ran and their outputs are the run's.
    summary = Path(result.outputs["summary"]["path"]).read_text(encoding="utf-8")
    assert json.loads(summary) == {"count": 3, "total": 1 + 4 + 9, "mean": 14 / 3}
    assert Path(result.outputs["granules"]["path"]).is_file()
    # The loss, said: one warning per update step, and the end receipt has no message id.
    warnings = re.findall(r"update-job: warning: not delivered: .*", result.stderr)
    assert len(warnings) == 3, result.stderr
    assert all("this update is lost" in warning for warning in warnings)
    receipt = json.loads(Path(result.outputs["end_update"]["path"]).read_text(encoding="utf-8"))
    assert receipt["message_id"] is None
    assert receipt["dry_run"] is False
    assert receipt["message"]["status"] == "succeeded"
    assert set(receipt["message"]["outputs"]) == {"granules", "summary"}


def test_the_inputs_that_the_docs_say_to_add_pass_the_checker(tmp_path: Path) -> None:
    """docs/cwl.md's section 1 inputs, in a workflow whose step passes them to the tool as
    section 2 does: valid, and no warning from cwltool's workflow checker."""
    doc = (ROOT / "docs" / "cwl.md").read_text()
    section = doc.split("## 1. ", 1)[1].split("## 2. ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    workflow = tmp_path / "uses-the-docs.cwl"
    workflow.write_text(
        "cwlVersion: v1.2\nclass: Workflow\n"
        + block
        + "outputs: []\nsteps:\n  start:\n"
        + f"    run: {CWL / 'update-job.cwl'}\n"
        + "    in:\n      job_id: job_id\n      topic_arn: jobs_data_sns_topic_arn\n"
        + "      status: {default: running}\n      labels: labels\n    out: [receipt]\n"
    )
    result = validate(workflow)
    assert result.returncode == 0, result.stderr
    assert "is valid CWL" in result.stdout + result.stderr
    assert warnings_but_schema_org(result.stdout + result.stderr) == []


def test_the_docs_number_their_sections_once_each() -> None:
    doc = (ROOT / "docs" / "cwl.md").read_text()
    numbers = [line.split(".")[0][3:] for line in doc.splitlines() if line[:3] == "## "]
    numbered = [number for number in numbers if number.isdigit()]
    assert numbered == [str(n) for n in range(1, len(numbered) + 1)]
