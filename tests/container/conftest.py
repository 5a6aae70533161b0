"""Fixtures for the container tests: the image, built once per session with podman.

The tests marked ``container`` need root (rootful podman); they are skipped with the reason
when this machine cannot run them, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.container import harness

RunImage = Callable[..., subprocess.CompletedProcess[str]]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"container tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def container_image(request: pytest.FixtureRequest) -> str:
    """The update-job test image (``localhost/update-job-test:<version>``), built on the
    local stand-in base. Slow only the first time, and then it says so first."""
    if not harness.is_root():
        _unavailable("container tests need root (rootful podman); run them as root")
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def announce(message: str) -> None:
        # Past pytest's output capture: the line is for whoever is waiting at the terminal.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\n[update-job container tests] {message}", file=sys.stderr, flush=True)

    harness.announce = announce
    try:
        harness.ensure_podman()
        return harness.build_image()
    except harness.HarnessUnavailableError as error:
        _unavailable(str(error))
        raise  # unreachable: _unavailable skips or fails


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
