"""The `update-job` command's entry point: signal handlers first, then everything else.

Importing click, pydantic and the model takes a good part of a second on a loaded worker; a
batch system's SIGTERM in that time must keep the update like any other (see interrupts).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def main() -> NoReturn:
    from update_job import interrupts

    interrupts.install()
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
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)
