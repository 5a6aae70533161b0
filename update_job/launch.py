"""The `update-job` command's entry point: signal handlers first, then everything else.

Importing click, pydantic and the model takes a good part of a second on a loaded worker; a
batch system's SIGTERM in that time must keep the update like any other (see interrupts).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, NoReturn, TextIO


def main() -> NoReturn:
    from update_job import interrupts

    interrupts.install()
    sys.stdout, sys.stderr = tolerant(sys.stdout), tolerant(sys.stderr)
    from update_job.startup import skip_plugin_discovery_if_none_installed

    # Before pydantic builds its first model (importing cli does): see startup.
    skip_plugin_discovery_if_none_installed()
    from update_job.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as end:
        status = end.code if isinstance(end.code, int) else 0 if end.code is None else 1
        if isinstance(end.code, str):
            print(end.code, file=sys.stderr)
    exit_now(status, interrupts.take())


def exit_now(status: int, signum: int | None) -> NoReturn:
    """Exit with `status`, or with 128 + N if terminating signal N came and nothing acted on
    it yet (it came while starting up, or after the update was delivered).

    Without the interpreter's shutdown: it puts back the default signal handlers, so a
    signal in its last milliseconds would kill the process instead (and it would wait for
    nothing: the only other thread is a delivery that ran out of time)."""
    from update_job.interrupts import signal_name

    if signum is not None and status <= 128:  # (over 128, the status already tells a signal)
        print(f"update-job: stopped by {signal_name(signum)}", file=sys.stderr)
        status = 128 + signum
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(status)


class TolerantStream:
    """stdout or stderr whose failures (a closed pipe, a full disk) are left unsaid: the
    exit status tells whether the update was delivered, and a step whose update went out
    must not fail for its log (a rerun would publish the update again)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerant(stream: TextIO | None) -> Any:
    # None: the descriptor was closed when the process started; click then writes nothing.
    return None if stream is None else TolerantStream(stream)
