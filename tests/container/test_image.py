"""The update-job image: built from the Dockerfile, run with podman as cwltool would."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import pytest

from tests.conftest import LocalTopics
from tests.container import harness
from tests.container.conftest import RunImage

pytestmark = pytest.mark.container

ANY_USER = "12345:12345"
# Test credentials for moto only; never real ones.
TEST_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _ok(result: Any) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def _inspect(image: str) -> dict[str, Any]:
    data = json.loads(harness.podman("image", "inspect", image).stdout)
    assert isinstance(data, list)
    return dict(data[0])


def test_versions_agree() -> None:
    assert version("update-job") == harness.project_version()


def test_help(run_image: RunImage) -> None:
    out = _ok(run_image("update-job", "--help"))
    assert "Usage: update-job" in out
    assert "publish" in out


def test_publish_help(run_image: RunImage) -> None:
    out = _ok(run_image("update-job", "publish", "--help"))
    for option in ("--job-id", "--status", "--topic-arn", "--dry-run"):
        assert option in out


def test_version(run_image: RunImage) -> None:
    out = _ok(run_image("update-job", "--version"))
    assert out.strip() == f"update-job, version {version('update-job')}"


def test_image_metadata(container_image: str) -> None:
    config = _inspect(container_image)
    labels = config["Config"].get("Labels") or {}
    assert labels["org.opencontainers.image.title"] == "update-job"
    assert labels["org.opencontainers.image.version"] == version("update-job")
    # no URL of a repository or registry: the image is what the project's build produces
    assert not [value for value in labels.values() if "://" in value], labels
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert not config["Config"].get("Entrypoint")
    assert config["Config"].get("User") not in (None, "", "0", "root", "0:0")
    assert not [e for e in config["Config"].get("Env", []) if e.startswith("AWS_")]


def test_test_image_does_not_take_the_production_name(container_image: str) -> None:
    """Built on a stand-in base that carries this machine's CA: never to be taken for the
    image users build."""
    assert container_image == f"localhost/update-job-test:{harness.project_version()}"
    tags = _inspect(container_image).get("RepoTags") or []
    assert tags and not [tag for tag in tags if tag.startswith(f"{harness.IMAGE_REPOSITORY}:")]


def test_dry_run_as_any_user(run_image: RunImage) -> None:
    """As cwltool runs it: another uid, read-only root, no network, no credentials."""
    result = run_image(
        "update-job",
        "--job-id",
        "job-42",
        "--status",
        "running",
        "--label",
        "container",
        "--progress",
        "10",
        "--dry-run",
        user=ANY_USER,
        options=("--read-only",),
    )
    receipt = json.loads(_ok(result))
    assert receipt["dry_run"] is True
    assert receipt["message_id"] is None
    assert receipt["message"]["id"] == "job-42"
    assert receipt["message"]["status"] == "running"


def test_nothing_only_root_can_read_and_no_build_tools(run_image: RunImage) -> None:
    script = (
        "set -e\n"
        # every file of the venv readable, every directory searchable, by this uid
        "find /opt/venv ! -readable -print -o -type d ! -executable -print | head -5\n"
        "for tool in gcc cc make pip pip3; do command -v $tool || true; done\n"
        "ls /opt/venv/lib/python*/site-packages | grep -i -E '^(pip|setuptools|wheel)' || true\n"
        "ls -d /root/.cache /root/.aws /src /tmp/dist 2>/dev/null || true\n"
    )
    out = _ok(run_image("sh", "-c", script, user=ANY_USER))
    assert out.strip() == "", f"found in the image:\n{out}"


@pytest.mark.parametrize("kind", ["standard", "fifo"])
def test_publish_reaches_queue(run_image: RunImage, testbed: LocalTopics, kind: str) -> None:
    """A real publish from inside the container to moto on the host's loopback."""
    subscription = getattr(testbed, kind)
    result = run_image(
        "update-job",
        "--job-id",
        f"container-{kind}",
        "--status",
        "succeeded",
        "--exit-code",
        "0",
        "--label",
        "container",
        "--topic-arn",
        subscription.topic_arn,
        "--endpoint-url",
        testbed.endpoint_url,
        "--json",
        user=ANY_USER,
        env=TEST_AWS_ENV,
        network="host",
        options=("--read-only",),
    )
    receipt = json.loads(_ok(result))
    assert receipt["message_id"]
    deliveries = subscription.receive()
    assert [d.message["id"] for d in deliveries] == [f"container-{kind}"]
    assert deliveries[0].message["status"] == "succeeded"
    assert deliveries[0].envelope["TopicArn"] == subscription.topic_arn
