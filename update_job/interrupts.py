"""Terminating signals (TERM, INT, HUP), from the first moment of the process to its last.

A batch system or Kubernetes may signal a step at any moment: while Python imports, while
the update is built, sent or spooled, or after it was delivered. A signal is never lost and
never a traceback: it is recorded, and acted on where that is safe. Only the wait for SNS's
answer is cut short by it (see `interruptible`); anywhere else the update is finished (built,
spooled) and the process then exits 128 + the signal's number.

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
    """Raised in the main thread when a terminating signal cuts a wait short."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


_pending: int | None = None  # the first signal received and not yet acted on
_interruptible = False


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def record(signum: int, _: FrameType | None = None) -> None:
    """The handler: note the first signal; raise it only inside `interruptible`, where the
    main thread is only waiting."""
    global _pending, _interruptible  # noqa: PLW0603 - signal handlers have nothing else
    if _pending is None:
        _pending = signum
    if _interruptible:
        _interruptible = False  # once: whatever follows (spooling) must run to its end
        raise Interrupted(signum)


def install() -> None:
    """Record terminating signals from now on, for the whole process."""
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, record)


def pending() -> int | None:
    """The signal received and not acted on yet, if any."""
    return _pending


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


@contextmanager
def interruptible() -> Iterator[None]:
    """While the main thread only waits: a signal (or one already pending) raises
    Interrupted here. The caller takes the pending signal when it acts on it."""
    global _interruptible  # noqa: PLW0603
    _interruptible = True
    try:
        if _pending is not None:
            _interruptible = False
            raise Interrupted(_pending)
        yield
    finally:
        _interruptible = False
