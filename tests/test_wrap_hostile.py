"""`update-job wrap` on hostile originals: names like the wrapper's own, an `after` input of
another type, file names that mean something in a URI, imports cwl-utils lets pass. Every
wrapper it writes validates and runs; or it exits 2 with one line and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TESTS, RunCommand
from tests.cwlrun import run_cwl, validate

WORD_COUNT = TESTS / "workflows" / "word-count"

ECHO_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [cat]
inputs:
{inputs}
stdout: echoed.txt
outputs:
  echoed: stdout
"""


def write_tool(path: Path, inputs: str, extra: str = "") -> Path:
    path.write_text(ECHO_TOOL.format(inputs=inputs) + extra, encoding="utf-8")
    return path


def wrap_and_validate(update_job: RunCommand, original: Path, wrapped: Path) -> None:
    result = update_job("wrap", str(original), "-o", str(wrapped))
    assert result.returncode == 0, result.stderr
    validated = validate(wrapped, cwd=wrapped.parent)
    assert validated.returncode == 0, validated.stderr


def dry_run(wrapped: Path, inputs: dict[str, object], workdir: Path) -> str:
    """The wrapper run without a topic; what the tool echoed."""
    job = {**inputs, "job_id": "hostile-1", "dry_run": True}
    result = run_cwl(wrapped, job, workdir, cwd=wrapped.parent)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "[job job_finished] completed success" in result.stderr
    return Path(result.outputs["echoed"]["path"]).read_text(encoding="utf-8")


def test_an_input_named_like_the_wrappers_own_gets_the_users_file(
    update_job: RunCommand, tmp_path: Path
) -> None:
    original = write_tool(
        tmp_path / "named.cwl", "  update_job_started:\n    type: File\n    inputBinding: {}"
    )
    wrapped = tmp_path / "wrapped.cwl"
    wrap_and_validate(update_job, original, wrapped)
    users = tmp_path / "users.txt"
    users.write_text("the user's own file\n")
    file = {"class": "File", "path": str(users)}
    echoed = dry_run(wrapped, {"update_job_started": file}, tmp_path / "run")
    assert echoed == "the user's own file\n"


@pytest.mark.parametrize("after_type", ["int?", "string?", "File[]?"])
def test_an_after_input_that_cannot_take_the_receipt_stays_the_users(
    update_job: RunCommand, tmp_path: Path, after_type: str
) -> None:
    inputs = f"  after:\n    type: {after_type}\n  text:\n    type: File\n    inputBinding: {{}}"
    original = write_tool(tmp_path / "after.cwl", inputs)
    wrapped = tmp_path / "wrapped.cwl"
    wrap_and_validate(update_job, original, wrapped)
    text = tmp_path / "text.txt"
    text.write_text("words\n")
    echoed = dry_run(wrapped, {"text": {"class": "File", "path": str(text)}}, tmp_path / "run")
    assert echoed == "words\n"


@pytest.mark.parametrize("name", ["my%20wf.cwl", "what?.cwl", "ha#sh.cwl", "two words.cwl"])
def test_file_names_that_mean_something_in_a_uri(
    update_job: RunCommand, tmp_path: Path, name: str
) -> None:
    original = tmp_path / name
    shutil.copy(WORD_COUNT / "count-words.cwl", original)
    wrapped = tmp_path / "wrapped.cwl"
    wrap_and_validate(update_job, original, wrapped)
    text = tmp_path / "text.txt"
    text.write_text("three little words\n")
    job = {"text": {"class": "File", "path": str(text)}, "job_id": "hostile-2", "dry_run": True}
    result = run_cwl(wrapped, job, tmp_path / "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert Path(result.outputs["count"]["path"]).read_text().strip() == "3"


def test_an_import_cwl_utils_lets_pass_is_refused_in_one_line(
    update_job: RunCommand, tmp_path: Path
) -> None:
    (tmp_path / "map.yml").write_text("{a: 1}\n")
    original = write_tool(
        tmp_path / "imports.cwl",
        "  text:\n    type: File\n    inputBinding: {}",
        "hints: {$import: map.yml}\n",
    )
    wrapped = tmp_path / "wrapped.cwl"
    result = update_job("wrap", str(original), "-o", str(wrapped))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("update-job: error: cannot wrap: the wrapper would not be ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert not wrapped.exists()
    assert set(tmp_path.iterdir()) == {tmp_path / "map.yml", original}  # nothing written
