"""The two ways an update can go wrong, each with its exit code."""

from __future__ import annotations

from pathlib import Path


class UpdateJobError(Exception):
    """Base of update-job's expected errors; the message is one line for the user."""

    exit_code = 1


class InvalidUpdate(UpdateJobError):
    """The update or its destination is malformed: nothing was (or will be) published."""

    exit_code = 2


class DeliveryFailed(UpdateJobError):
    """SNS could not be reached, or refused the update; `spooled` names the file that
    keeps it for `update-job replay`, if one does."""

    def __init__(self, message: str, exit_code: int = 1, spooled: Path | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.spooled = spooled
