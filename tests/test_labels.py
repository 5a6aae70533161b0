"""What `--label` does to the labels the processing server stored, through the consumer's
merge (tests/consumer.py): the consumer replaces an array whole, so the labels given become
the job's labels, and an update without `--label` leaves them alone. The README's usage
never replaces them."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LocalTopics, RunCommand, topic_args
from tests.consumer import document_after

ROOT = Path(__file__).resolve().parent.parent
# As the processing server stores a job (its `submitted`), labels from the job request.
STORED = {
    "id": "labels-1",
    "status": "submitted",
    "labels": ["re-processing-3", "release23.3", "08-08-23"],
    "updated": "2026-01-01T00:00:00.000Z",
}


def readme_usage_commands() -> list[list[str]]:
    """The update-job commands of the README's Usage section, as argument lists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Usage\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return [command for command in commands if command and command[0] == "update-job"]


def test_the_readmes_usage_keeps_the_stored_labels(update_job: RunCommand, tmp_path: Path) -> None:
    commands = readme_usage_commands()
    assert len(commands) >= 3
    (tmp_path / "job-inputs.json").write_text('{"granule_count": 3}')
    (tmp_path / "cwl.output.json").write_text('{"summary": "s3://bucket/summary.json"}')
    variables = {"$JOB_ID": STORED["id"], "$STAGE_EXIT_CODE": "0"}
    env = {**os.environ, "UPDATE_JOB_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:jobs.fifo"}
    messages = []
    for command in commands:
        args = [variables.get(arg, arg) for arg in command[1:]]
        if "--dry-run" not in args:
            args.append("--dry-run")
        result = update_job(*args, env=env, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        messages.append(json.loads(result.stdout)["message"])
    document = document_after(messages, STORED)
    assert document is not None
    assert document["labels"] == STORED["labels"]
    assert document["inputs"] == {"granule_count": 3}


@pytest.mark.parametrize(
    ("labels", "after"),
    [
        ([], STORED["labels"]),
        (["campaign-3"], ["campaign-3"]),
        ([*STORED["labels"], "campaign-3"], [*STORED["labels"], "campaign-3"]),
    ],
    ids=["none: kept", "one: the others lost", "all: kept"],
)
def test_label_sets_the_jobs_labels_to_exactly_those_given(
    update_job: RunCommand, testbed: LocalTopics, labels: list[str], after: list[str]
) -> None:
    topic = testbed.fifo
    args: list[Any] = ["--job-id", STORED["id"], "--status", "running"]
    for label in labels:
        args += ["--label", label]
    result = update_job(*args, *topic_args(topic))
    assert result.returncode == 0, result.stderr
    [delivery] = topic.receive()
    document = document_after([delivery.message], STORED)
    assert document is not None
    assert document["labels"] == after
