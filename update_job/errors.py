"""What can go wrong with an update, each with its exit code."""

from __future__ import annotations

from pathlib import Path


class UpdateJobError(Exception):
    """Base of update-job's expected errors; the message is one line for the user."""

    exit_code = 1


class InvalidUpdate(UpdateJobError):
    """The update or its destination is malformed: nothing was (or will be) published."""

    exit_code = 2


class NoStatus(InvalidUpdate):
    """Neither a status nor an exit code to take one from."""

    def __init__(self) -> None:
        super().__init__("no status")


class NoTopic(InvalidUpdate):
    """Somewhere to send to is needed, and no topic was given."""

    def __init__(self) -> None:
        super().__init__("no topic")


class InputInterrupted(UpdateJobError):
    """A terminating signal came while update-job waited for its input (stdin): nothing was
    built, so nothing is published or spooled, and the process ends with 128 + N."""

    def __init__(self, what: str, signal_name: str, signum: int) -> None:
        super().__init__(f"{signal_name} while reading {what}: nothing published")
        self.exit_code = 128 + signum


class DeliveryFailed(UpdateJobError):
    """SNS could not be reached, or refused the update; `spooled` names the file that
    keeps it in its job's outbox for `update-job replay`, if one does; `permanent` says
    that sending the same request again can never succeed (its parameters are invalid)."""

    def __init__(self, message: str, spooled: Path | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.spooled = spooled
        self.permanent = permanent

    def restated(self, message: str, spooled: Path | None = None) -> DeliveryFailed:
        """The same failure (a signal stays a signal) told as `message`."""
        return DeliveryFailed(message, spooled or self.spooled, self.permanent)


class SpoolFailed(DeliveryFailed):
    """The update could not be written to its job's outbox (a full disk, a file too large):
    nothing was sent, nothing kept."""


class DeliveryInterrupted(DeliveryFailed):
    """A terminating signal cut the delivery short: the process is to end with 128 + N,
    whatever else (best effort) would let a failure pass."""

    def __init__(self, message: str, signum: int, spooled: Path | None = None) -> None:
        super().__init__(message, spooled)
        self.signum = signum
        self.exit_code = 128 + signum

    def restated(self, message: str, spooled: Path | None = None) -> DeliveryInterrupted:
        return DeliveryInterrupted(message, self.signum, spooled or self.spooled)
