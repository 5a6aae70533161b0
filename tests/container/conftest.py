"""Fixtures for the container tests: the image, built once per session with podman.

The tests marked ``container`` need root (rootful podman); they are skipped with the reason
when this machine cannot run them, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import announce_to_terminal, unavailable
from tests.container import harness

RunImage = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def container_image(request: pytest.FixtureRequest) -> str:
    """The update-job test image (``localhost/update-job-test:<version>``), built on the
    local stand-in base. Slow only the first time, and then it says so first."""
    if not harness.is_root():
        unavailable("container tests need root (rootful podman); run them as root")
    harness.announce = announce_to_terminal(request, "container tests")
    try:
        harness.ensure_podman()
        return harness.build_image()
    except harness.HarnessUnavailableError as error:
        unavailable(str(error))


@pytest.fixture
def run_image(container_image: str) -> RunImage:
    """``podman run --rm [OPTIONS] IMAGE ARGS...``; options before ``--``-less args:

    run_image("update-job", "--help", user="12345:12345", env={...}, network="host")
    """

    def run(
        *args: str,
        user: str | None = None,
        env: dict[str, str] | None = None,
        network: str = "none",
        options: tuple[str, ...] = (),
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["run", "--rm", f"--network={network}", *options]
        if user is not None:
            argv.append(f"--user={user}")
        for key, value in (env or {}).items():
            argv.append(f"--env={key}={value}")
        return harness.podman(*argv, container_image, *args, check=False, timeout=timeout)

    return run
