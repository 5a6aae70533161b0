"""Terminating signals (TERM, INT, HUP), from the first moment of the process to its last.

A batch system or Kubernetes may signal a step at any moment: while Python imports, while
the update is built, sent or spooled, or after it was delivered. A signal is never lost and
never a traceback: the handler only records it, and every wait (for SNS's answer, for a
job's outbox lock) looks for it between short sleeps and ends (see `check`); anywhere else
the update is finished (built, queued) and the process then exits 128 + the signal's number.

Imported before anything else (see `update_job.launch`), so it imports only the standard
library.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interrupted(BaseException):
    """Raised by a wait (never by the handler) when a terminating signal cuts it short."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


_pending: int | None = None  # the first signal received and not yet acted on


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def record(signum: int, _: FrameType | None = None) -> None:
    """The handler: note the first signal, and nothing else. It raises nothing: an exception
    raised from a handler can land inside a `threading` wait of the main thread and leave
    its lock broken. Every wait looks at `pending()` instead (see `check`)."""
    global _pending  # noqa: PLW0603 - signal handlers have nothing else
    if _pending is None:
        _pending = signum


def install() -> None:
    """Record terminating signals from now on, for the whole process."""
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, record)


def pending() -> int | None:
    """The signal received and not acted on yet, if any."""
    return _pending


def check() -> None:
    """Interrupted if a signal is pending: called by every wait, between short sleeps. The
    caller takes the pending signal when it acts on it."""
    if _pending is not None:
        raise Interrupted(_pending)


def take() -> int | None:
    """The pending signal, which the caller now acts on."""
    global _pending
    signum, _pending = _pending, None
    return signum


@contextmanager
def recorded() -> Iterator[None]:
    """Signals are recorded for the duration, whatever handled them before (a process that
    did not start through `update_job.launch`, or `run`'s forwarding to its command). On
    leaving, a signal recorded here and not acted on goes to the handler from before."""
    previous: dict[int, Any] = {
        signum: signal.signal(signum, record) for signum in TERMINATING_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if _pending is not None and previous.get(_pending) is not record:
            left = take()
            if left is not None:
                signal.raise_signal(left)
