"""cwltool --podman runs cwl/update-job.cwl and the example workflow with the built image.

The image is tagged with the name cwl/update-job.cwl's DockerRequirement names, so cwltool
finds it locally instead of pulling. Inputs are made from the input names (job id, status,
topic, endpoint, dry run, ...), starting from a job file next to the CWL file when there is
one. When the tool declares network access, the step publishes for real to moto on the
host's loopback (cwltool --custom-net=host) and the message must arrive in the queue;
otherwise it runs as a dry run.
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

pytestmark = [
    pytest.mark.container,
    # decided before any fixture runs, so no image is built while the CWL files are missing
    pytest.mark.skipif(
        not harness.CWL_TOOL.is_file(),
        reason=f"{harness.CWL_TOOL.relative_to(harness.REPO_ROOT)} does not exist yet",
    ),
]

CWL_DIR = harness.REPO_ROOT / "cwl"
JOB_FILE_SUFFIXES = (".yml", ".yaml", ".json", ".job.yml", ".job.yaml", "-job.yml", "-job.yaml")
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


def _require_tool() -> dict[str, Any]:
    if not harness.CWL_TOOL.is_file():
        pytest.skip(f"{harness.CWL_TOOL.relative_to(harness.REPO_ROOT)} does not exist yet")
    return _load(harness.CWL_TOOL)


def _example_workflow() -> Path:
    workflows = [
        path for path in sorted(CWL_DIR.rglob("*.cwl")) if _load(path).get("class") == "Workflow"
    ]
    if not workflows:
        pytest.skip("no example workflow (a CWL file of class Workflow) under cwl/ yet")
    examples = [path for path in workflows if "example" in str(path.relative_to(CWL_DIR))]
    return (examples or workflows)[0]


def _inputs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    raw = document.get("inputs") or {}
    if isinstance(raw, list):
        return {str(item["id"]).lstrip("#"): dict(item) for item in raw}
    return {
        str(key): dict(value) if isinstance(value, dict) else {"type": value}
        for key, value in raw.items()
    }


def _has_network(document: dict[str, Any]) -> bool:
    for section in ("requirements", "hints"):
        entries = document.get(section) or []
        if isinstance(entries, dict):
            entries = [{"class": key, **(value or {})} for key, value in entries.items()]
        for entry in entries:
            if entry.get("class") == "NetworkAccess" and entry.get("networkAccess") is True:
                return True
    return False


def _optional(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    if "default" in spec:
        return True
    if isinstance(kind, str):
        return kind.endswith("?")
    return isinstance(kind, list) and "null" in kind


def _job_file(cwl: Path) -> dict[str, Any]:
    for suffix in JOB_FILE_SUFFIXES:
        for folder in (cwl.parent, cwl.parent / "examples"):
            candidate = folder / (cwl.stem + suffix)
            if candidate.is_file() and candidate.suffix != ".cwl":
                return _load(candidate)
    return {}


def _value(name: str, spec: dict[str, Any], job_id: str, topics: LocalTopics) -> Any:
    key = name.lower().replace("-", "_")
    kind = spec.get("type")
    array = (isinstance(kind, str) and kind.rstrip("?").endswith("[]")) or (
        isinstance(kind, dict) and kind.get("type") == "array"
    )
    table: list[tuple[str, Any]] = [
        ("job_id", job_id),
        ("jobid", job_id),
        ("status", "running"),
        ("topic", topics.standard.topic_arn),
        ("endpoint", topics.endpoint_url),
        ("dry", False),
        ("exit", 0),
        ("progress", 50),
        ("label", "cwl"),
        ("message", "from cwltool --podman"),
    ]
    for fragment, value in table:
        if fragment in key:
            return [value] if array else value
    return None


def _make_job(
    cwl: Path, document: dict[str, Any], job_id: str, topics: LocalTopics, *, publish: bool
) -> dict[str, Any]:
    job = _job_file(cwl)
    missing = []
    for name, spec in _inputs(document).items():
        value = _value(name, spec, job_id, topics)
        if "dry" in name.lower():
            value = not publish
        if value is not None:
            job[name] = value
        elif name not in job and not _optional(spec):
            missing.append(name)
    if missing:
        pytest.fail(f"no test value for required inputs {missing} of {cwl}", pytrace=False)
    return job


def _cwltool(cwl: Path, job: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
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
        *preserve,
        "--outdir",
        str(tmp_path / "out"),
        "--tmpdir-prefix",
        f"{tmp_path}/tmp-",
        str(cwl),
        str(job_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=300
    )
    assert result.returncode == 0, f"cwltool failed:\n{result.stderr[-6000:]}"
    outputs = json.loads(result.stdout)
    assert isinstance(outputs, dict)
    return outputs


@pytest.fixture
def cwl_tool() -> dict[str, Any]:
    """cwl/update-job.cwl, loaded; skips (before any image is built) while it is missing."""
    return _require_tool()


def test_cwl_hint_names_the_built_image(cwl_tool: dict[str, Any], container_image: str) -> None:
    hint = harness.cwl_hint_image()
    assert hint.endswith(f":{harness.project_version()}"), f"{hint}: not this version's tag"
    assert harness.image_exists(hint)


def test_cwltool_runs_update_job_tool(
    cwl_tool: dict[str, Any], container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    document = cwl_tool
    publish = _has_network(document)
    job = _make_job(harness.CWL_TOOL, document, "cwl-tool-1", testbed, publish=publish)
    _cwltool(harness.CWL_TOOL, job, tmp_path)
    if publish:
        assert [d.message["id"] for d in testbed.standard.receive()] == ["cwl-tool-1"]


def test_cwltool_runs_example_workflow(
    cwl_tool: dict[str, Any], container_image: str, testbed: LocalTopics, tmp_path: Path
) -> None:
    workflow = _example_workflow()
    publish = _has_network(cwl_tool)
    job = _make_job(workflow, _load(workflow), "cwl-workflow-1", testbed, publish=publish)
    _cwltool(workflow, job, tmp_path)
    if publish:
        ids = {d.message["id"] for d in testbed.standard.receive()}
        assert ids == {"cwl-workflow-1"}, f"messages for {ids}"
