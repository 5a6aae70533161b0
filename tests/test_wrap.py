"""`update-job wrap`: wrappers validated and run with cwltool, their updates read back from the
local endpoint."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from localaws import Subscription
from tests.conftest import TESTS, LocalTopics, RunCommand
from tests.cwlrun import CwlRun, run_cwl, validate, warnings_but_schema_org

ROOT = TESTS.parent
EXAMPLES = ROOT / "cwl" / "examples"
WORD_COUNT = TESTS / "workflows" / "word-count"
VENV_BIN = Path(sys.executable).parent


def wrap(update_job: RunCommand, original: Path, wrapped: Path) -> tuple[str, str]:
    """Wrap and validate; the wrapper and cwltool's validation log."""
    result = update_job("wrap", str(original), "-o", str(wrapped))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    validated = validate(wrapped, cwd=wrapped.parent)
    log = validated.stdout + validated.stderr
    assert validated.returncode == 0, log
    assert f"{wrapped.name} is valid CWL" in log
    # The generated workflow is free of cwltool's warnings (but that schema.org, which the
    # original's metadata names, cannot be fetched offline).
    assert warnings_but_schema_org(log) == []
    return wrapped.read_text(), log


def run_wrapped(
    wrapped: Path, topic: Subscription, job_id: str, inputs: dict[str, Any]
) -> tuple[CwlRun, dict[str, Any]]:
    """Run the wrapper for the job; the run and its output object (empty if it failed)."""
    job = {
        **inputs,
        "job_id": job_id,
        "jobs_data_sns_topic_arn": topic.topic_arn,
        "endpoint_url": topic.endpoint_url,
        "labels": ["wrapped", "test"],
    }
    result = run_cwl(wrapped, job, wrapped.parent, cwd=wrapped.parent)
    outputs = result.outputs if result.returncode == 0 else {}
    return result, outputs


def in_order(log: str, *events: str) -> bool:
    positions = [log.find(event) for event in events]
    return -1 not in positions and positions == sorted(positions)


def step_order(log: str, step: str) -> bool:
    """The original's step ran after the start update and before the end update."""
    return in_order(
        log,
        "[step job_started] completed success",
        f"[step {step}] start",
        f"[step {step}] completed",
        "[step job_finished] start",
    )


def test_third_party_workflow_with_files_runs_between_start_and_end_updates(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    wrapped = tmp_path / "wrapped" / "word-count-updates.cwl"
    wrapped.parent.mkdir()
    text, log = wrap(update_job, WORD_COUNT / "word-count.cwl", wrapped)
    assert "run: ../../" in text  # the original, by a path relative to the wrapper
    # The original has no `after` input: it runs in a workflow that waits for the receipt.
    assert "run: '#word_count_after_start'" in text
    assert warnings_but_schema_org(log) == []
    assert "update-job run" in text  # the doc points to it for failures

    text_file = tmp_path / "words.txt"
    text_file.write_text("the quick brown fox\njumps over\nthe lazy dog\n")
    result, outputs = run_wrapped(
        wrapped,
        testbed.fifo,
        "job-wrap-1",
        {"text": {"class": "File", "path": str(text_file)}, "reverse": True},
    )
    assert result.returncode == 0, result.stderr
    assert step_order(result.stderr, "word_count")

    # The wrapper's outputs are the original's, and hold what the original makes.
    assert set(outputs) == {"sorted", "count"}
    assert Path(outputs["sorted"]["path"]).read_text() == (
        "the quick brown fox\nthe lazy dog\njumps over\n"
    )
    assert Path(outputs["count"]["path"]).read_text().strip() == "9"

    running, succeeded = (delivery.message for delivery in testbed.fifo.receive())
    assert running["id"] == succeeded["id"] == "job-wrap-1"
    assert running["status"] == "running"
    assert "start-time" in running
    assert running["labels"] == ["wrapped", "test"]
    assert succeeded["status"] == "succeeded"
    assert succeeded["exit-code"] == 0
    assert (succeeded["progress"], succeeded["message"]) == (100, "succeeded")
    assert running["updated"] < succeeded["updated"]


@pytest.mark.parametrize(
    ("stage", "inputs", "outputs"),
    [
        ("make-granules", {"collection_id": "C1", "count": 2}, {"granules", "exit_code"}),
        ("summarise", {"granules": "granules.csv"}, {"summary", "exit_code"}),
    ],
)
def test_the_example_workflows_stages_report_success(
    testbed: LocalTopics,
    update_job: RunCommand,
    tmp_path: Path,
    stage: str,
    inputs: dict[str, Any],
    outputs: set[str],
) -> None:
    wrapped = tmp_path / f"{stage}-updates.cwl"
    text, log = wrap(update_job, EXAMPLES / f"{stage}.cwl", wrapped)
    assert warnings_but_schema_org(log) == []
    assert "_after_start" not in text  # the stages wait through their own `after` input
    if "granules" in inputs:
        (tmp_path / "granules.csv").write_text("C1.G0001,1\nC1.G0002,4\n")
        inputs = {"granules": {"class": "File", "path": str(tmp_path / "granules.csv")}}
    result, output_object = run_wrapped(wrapped, testbed.fifo, f"job-{stage}", inputs)
    assert result.returncode == 0, result.stderr
    assert step_order(result.stderr, stage.replace("-", "_"))
    assert set(output_object) == outputs
    assert output_object["exit_code"] == 0
    assert [message["status"] for message in messages(testbed.fifo)] == ["running", "succeeded"]


def test_a_stage_that_reports_its_failure_ends_the_job_failed(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    wrapped = tmp_path / "make-granules-updates.cwl"
    wrap(update_job, EXAMPLES / "make-granules.cwl", wrapped)
    result, _ = run_wrapped(
        wrapped, testbed.fifo, "job-stage-fails", {"collection_id": "C1", "count": 0}
    )
    # The end update goes out; then a step that publishes nothing fails the run.
    assert result.returncode != 0
    running, failed = messages(testbed.fifo)
    assert running["status"] == "running"
    assert failed["status"] == "failed"
    assert failed["exit-code"] == 3


def messages(topic: Subscription) -> list[dict[str, Any]]:
    return [delivery.message for delivery in topic.receive()]


def test_wrapper_on_stdout_refers_to_the_original_from_the_current_directory(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "update-job"), "wrap", str(WORD_COUNT / "word-count.cwl")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reference = os.path.relpath(WORD_COUNT / "word-count.cwl", tmp_path)
    assert f"run: {reference}\n" in result.stdout
    assert result.stdout.startswith("#!/usr/bin/env cwl-runner\n")


def test_bad_input_is_one_line_and_exit_2(update_job: RunCommand, tmp_path: Path) -> None:
    not_cwl = tmp_path / "notes.txt"
    not_cwl.write_text("just: some\nnotes: [1, 2\n")
    original = WORD_COUNT / "word-count.cwl"
    cases = {
        "cannot read": ("wrap", str(tmp_path / "missing.cwl")),
        "not a CWL document": ("wrap", str(not_cwl)),
        "would overwrite": ("wrap", str(original), "-o", str(original)),
        "cannot find the Update Job tool": (
            "wrap", str(original), "--tool", str(tmp_path / "no-tool.cwl"),
        ),
        "is not the Update Job tool: not a CommandLineTool": (
            "wrap", str(original), "--tool", str(original),
        ),
        "is not the Update Job tool: no input job_id": (
            "wrap", str(original), "--tool", str(WORD_COUNT / "sort-lines.cwl"),
        ),
    }  # fmt: skip
    for expected, args in cases.items():
        result = update_job(*args)
        assert result.returncode == 2, (expected, result.stderr)
        assert result.stderr.startswith("update-job: error: "), result.stderr
        assert expected in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stdout == ""


def test_without_cwl_utils_wrap_says_how_to_get_it(tmp_path: Path) -> None:
    # An interpreter where cwl-utils cannot be imported, as without the `cwl` extra.
    code = "import sys; sys.modules['cwl_utils'] = None\nfrom update_job.cli import main\nmain()\n"
    result = subprocess.run(
        [sys.executable, "-c", code, "wrap", str(WORD_COUNT / "word-count.cwl")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "update-job: error: update-job wrap needs cwl-utils, of the cwl extra: in update-job's "
        "checkout, pip install '.[cwl]' (or pipx install --force '.[cwl]')\n"
    )
    assert "update-job[" not in result.stderr  # no package index serves update-job


@pytest.mark.parametrize("name", ["update-job.cwl", "exit-with.cwl"])
def test_the_package_ships_the_tools_that_wrap_uses(name: str) -> None:
    # An installed wheel has no cwl/ directory: `update-job wrap` reads the tools from the
    # package. They must be package data, found through the package, and be the tools
    # maintained in cwl/ (links to them, not copies that drift).
    from update_job.wrap import DEFAULT_TOOL, EXIT_WITH_TOOL

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert name in pyproject["tool"]["setuptools"]["package-data"]["update_job"]
    packaged = Path(str(importlib.resources.files("update_job") / name))
    assert packaged.is_file()
    assert packaged.resolve() == (ROOT / "cwl" / name).resolve()
    used = {tool.name: tool for tool in (DEFAULT_TOOL, EXIT_WITH_TOOL)}
    assert used[name].parent == packaged.parent.resolve()


def test_a_dry_run_of_a_wrapper_needs_no_topic(update_job: RunCommand, tmp_path: Path) -> None:
    wrapped = tmp_path / "word-count-updates.cwl"
    text, _ = wrap(update_job, WORD_COUNT / "word-count.cwl", wrapped)
    wrapper = YAML(typ="safe").load(text)["$graph"][0]
    # The processing server's name for the topic, and optional.
    assert "topic_arn" not in wrapper["inputs"]
    assert wrapper["inputs"]["jobs_data_sns_topic_arn"]["type"] == ["null", "string"]
    text_file = tmp_path / "words.txt"
    text_file.write_text("b a\n")
    job = {"job_id": "dry-1", "dry_run": True, "text": {"class": "File", "path": str(text_file)}}
    result = run_cwl(wrapped, job, tmp_path / "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[job job_started] completed success" in result.stderr
    assert "[job job_finished] completed success" in result.stderr
    assert "published" not in result.stderr
    assert Path(result.outputs["count"]["path"]).read_text().strip() == "2"


def test_a_unity_workflow_keeps_its_own_topic_input(update_job: RunCommand, tmp_path: Path) -> None:
    # The example workflow has jobs_data_sns_topic_arn, labels and dry_run of its own: the
    # wrapper shares them instead of adding its own.
    wrapped = tmp_path / "granule-summary-updates.cwl"
    text, _ = wrap(update_job, EXAMPLES / "granule-summary.cwl", wrapped)
    main = YAML(typ="safe").load(text)["$graph"][0]
    assert main["inputs"]["jobs_data_sns_topic_arn"] == {
        "label": "Jobs database SNS topic ARN",
        "doc": "The jobs database's topic; the ADES passes it under this name. Not needed for "
        "a dry run.",
        "type": ["null", "string"],
    }
    assert main["steps"]["job_started"]["in"]["topic_arn"] == "jobs_data_sns_topic_arn"


def test_a_tools_stdout_output_is_a_file_to_the_wrapper(
    update_job: RunCommand, tmp_path: Path
) -> None:
    wrapped = tmp_path / "count-words-updates.cwl"
    text, _ = wrap(update_job, WORD_COUNT / "count-words.cwl", wrapped)
    main = YAML(typ="safe").load(text)["$graph"][0]
    assert main["outputs"]["count"] == {"type": "File", "outputSource": "count_words/count"}
