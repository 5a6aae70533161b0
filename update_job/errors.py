"""The two ways an update can go wrong, each with its exit code."""


class UpdateJobError(Exception):
    """Base of update-job's expected errors; the message is one line for the user."""

    exit_code = 1


class InvalidUpdate(UpdateJobError):
    """The update or its destination is malformed: nothing was (or will be) published."""

    exit_code = 2


class DeliveryFailed(UpdateJobError):
    """SNS could not be reached, or refused the update."""

    exit_code = 1
