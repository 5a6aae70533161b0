"""The update message: the wire contract between update-job and the jobs-database consumer.

The consumer merges each message into the job's document, so a message carries only the
fields its update sets. Field names are the jobs-database document's (`user-id`, ...).
"""

from __future__ import annotations

import enum
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from update_job.errors import InvalidUpdate, NoStatus


class Status(enum.StrEnum):
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# OGC API - Processes names for the same states, as the processing server reports them.
STATUS_ALIASES = {"accepted": Status.SUBMITTED, "successful": Status.SUCCEEDED}
FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED})
STATUS_VALUES = frozenset(status.value for status in Status)
STATUS_WORDS = ", ".join(status.value for status in Status)
# A status the consumer stores as it is: lowercase words, as the four are (`dismissed`,
# `paused`, `stage-in`, ...), short enough to read at a glance.
STATUS_WORD = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# The name of the pydantic validation context entry that holds a deployment's own statuses.
EXTRA_STATUSES = "extra_statuses"


# The consumer uses the job id as the Elasticsearch document id, which is capped at 512 bytes.
MAX_JOB_ID_BYTES = 512
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class UnknownStatus(InvalidUpdate):
    """A status word outside the vocabulary: a typo, or a word the deployment did not add."""


def parse_extra_statuses(text: str | None) -> frozenset[str]:
    """A deployment's own status words, comma-separated in any case, as lowercase words.
    The four and OGC's aliases already have their meaning: naming them again is an error
    for the aliases (they publish as the status they stand for), and no-op for the four."""
    words = frozenset(word.strip().lower() for word in (text or "").split(",") if word.strip())
    for word in sorted(words):
        if word in STATUS_ALIASES:
            raise ValueError(
                f"{word!r} is OGC's name for {STATUS_ALIASES[word].value}, and published as that"
            )
        if not STATUS_WORD.fullmatch(word):
            raise ValueError(
                f"{word!r} is not a status word: a lowercase letter, then up to 63 letters, "
                "digits, - or _"
            )
    return words - STATUS_VALUES


def parse_status(value: object, extra: frozenset[str] = frozenset()) -> str:
    """A status word in any case, or an OGC alias, as the lowercase status consumers expect:
    one of the four, or one of the deployment's `extra` words."""
    word = str(value).strip().lower()
    if word in STATUS_ALIASES:
        return STATUS_ALIASES[word].value
    if word in STATUS_VALUES or word in extra:
        return word
    known = ", ".join([STATUS_WORDS, *sorted(extra)])
    raise ValueError(f"unknown status {value!r}: use one of {known}")


def validate_status(value: object, info: ValidationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    return parse_status(value, frozenset(context.get(EXTRA_STATUSES, ())))


def status_for_exit_code(exit_code: int) -> Status:
    return Status.SUCCEEDED if exit_code == 0 else Status.FAILED


def final_message(status: str, exit_code: int | None) -> str:
    """The note a final update leaves when none is given: it replaces the last one, which
    the consumer would otherwise keep ("stage 1 of 2 done") on a finished job."""
    if status == Status.FAILED and exit_code:
        return f"failed with exit code {exit_code}"
    return str(status)


def is_now(value: object) -> bool:
    """Whether a time given on the command line is `now`: make_update's word, not the
    wire's (the model takes only times)."""
    return isinstance(value, str) and value.strip().lower() == "now"


# What a time option takes, as its error says.
TIME_FORMS = "now, or an ISO 8601 time such as 2026-11-28T10:15:00Z (without a zone: UTC)"


def command_line_time(name: str, value: str) -> datetime:
    """A time given on the command line other than `now`: ISO 8601 only. The model would
    also take a number for a Unix time (or, past some size, milliseconds), which nobody
    means by `--start-time 12`."""
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidUpdate(f"invalid {name}: {value[:80]!r} is not {TIME_FORMS}") from None


def as_utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC: that is what `date -u` and the
    # processing server write.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Its zone's offset takes it before year 1 or after 9999.
        raise ValueError("out of range: in UTC it falls before year 1 or after 9999") from None


def format_timestamp(value: datetime) -> str:
    # isoformat, not strftime: %Y does not pad a year before 1000 to four digits.
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


Timestamp = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def finite_numbers(value: dict[str, Any]) -> dict[str, Any]:
    """No infinity or NaN anywhere in a JSON object: pydantic would write them as null, and
    the update would silently say something else than it was given."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"the number {item} is not finite (too large for JSON?)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(finite_numbers)]


def no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


Text = Annotated[str, AfterValidator(no_control_characters)]
Label = Annotated[str, Field(min_length=1), AfterValidator(no_control_characters)]
Progress = (
    Annotated[int, Field(ge=0, le=100)] | Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
)


class JobUpdate(BaseModel):
    """One update of a job's document in the jobs database."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
        title="JobUpdate",
    )

    id: str = Field(description="The job's id, as the processing server returned it.")
    status: Annotated[str, BeforeValidator(validate_status), WithJsonSchema({"type": "string"})] = (
        Field(
            description="The job's status: submitted, running, succeeded or failed, or a word "
            "the deployment added."
        )
    )
    inputs: JsonObject | None = Field(None, description="The job's inputs.")
    outputs: JsonObject | None = Field(
        None, description="The job's outputs: names to values, files and directories as URLs."
    )
    labels: list[Label] | None = Field(None, description="Labels to find the job by.")
    user_id: Text | None = Field(None, alias="user-id", description="Who runs the job.")
    start_time: Timestamp | None = Field(
        None, alias="start-time", description="When the job started running (UTC)."
    )
    stop_time: Timestamp | None = Field(
        None, alias="stop-time", description="When the job finished (UTC)."
    )
    updated: Timestamp = Field(description="When this update was made (UTC).")
    message: str | None = Field(None, description="A human-readable note on the job's state.")
    progress: Progress | None = Field(None, description="Percent done, 0 to 100.")
    exit_code: int | None = Field(
        None, alias="exit-code", description="The workflow's exit code, on a final update."
    )
    sequence: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="This update's place among the job's updates sent through one spool "
        "directory's outbox: 1, 2, 3... in the order they were made. A consumer orders a "
        "job's updates by it, never by clocks.",
    )

    @field_validator("id")
    @classmethod
    def check_job_id(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        no_control_characters(value)
        if len(value.encode()) > MAX_JOB_ID_BYTES:
            raise ValueError(f"must be at most {MAX_JOB_ID_BYTES} bytes")
        return value

    @field_validator("labels")
    @classmethod
    def no_labels_is_none(cls, value: list[str] | None) -> list[str] | None:
        # The jobs database treats an empty list of labels as no labels at all.
        return value or None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


FIELD_NAMES = {"id": "job id"}


def describe(error: ValidationError) -> str:
    """The first problem pydantic found, as one line naming the field."""
    first = error.errors(include_url=False)[0]
    field = str(first["loc"][0]) if first["loc"] else "update"
    info = JobUpdate.model_fields.get(field)
    field = info.alias if info is not None and info.alias else field
    if first["type"] == "value_error":
        problem = str(first["ctx"]["error"])
    else:
        problem = first["msg"][0].lower() + first["msg"][1:]
    return f"invalid {FIELD_NAMES.get(field, field)}: {problem}".replace("\n", " ")


def make_update(
    job_id: str,
    status: str | None = None,
    exit_code: int | None = None,
    extra_statuses: frozenset[str] = frozenset(),
    **fields: Any,
) -> JobUpdate:
    """A new update, stamped now. The status comes from `exit_code` when not given (one of
    `extra_statuses`, the deployment's own words, as well as the four). A final status
    stamps `stop-time` and, unless given, a final `message` and, on success, `progress`
    100: the consumer merges updates, so the finished document would otherwise keep the
    last ones. A `start_time` of `now` is this update's time. Other fields use the wire
    names' snake case."""
    if status is None and exit_code is None:
        raise NoStatus
    updated = next_stamp()
    document: dict[str, Any] = {name: value for name, value in fields.items() if value is not None}
    start_time = document.get("start_time")
    if is_now(start_time):
        document["start_time"] = updated  # `now` is the moment of this update, to the ms
    elif isinstance(start_time, str):
        document["start_time"] = command_line_time("start-time", start_time)
    document.update(id=job_id, updated=updated, exit_code=exit_code)
    document["status"] = status if status is not None else status_for_exit_code(exit_code or 0)
    try:
        # The model parses the status (its validator): once.
        update = JobUpdate.model_validate(document, context={EXTRA_STATUSES: extra_statuses})
    except ValidationError as error:
        raise invalid_update(error) from error
    if update.status not in FINAL_STATUSES:
        return update
    return finished(update, exit_code)


def finished(update: JobUpdate, exit_code: int | None) -> JobUpdate:
    """A final update with what a finished job's document must show (see make_update)."""
    changes: dict[str, Any] = {}
    if update.stop_time is None:
        changes["stop_time"] = update.updated
    if update.message is None:
        changes["message"] = final_message(update.status, exit_code)
    if update.status == Status.SUCCEEDED and update.progress is None:
        changes["progress"] = 100
    return update.model_copy(update=changes)


# The last `updated` this process stamped: see next_stamp.
_last_stamp: list[datetime] = []


def next_stamp() -> datetime:
    """Now, to the millisecond, or 1 ms after the last stamp this process made if the clock
    did not move on or stepped back (an NTP step, a VM resumed): within one process (one
    `run`), `updated` only grows."""
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if _last_stamp and now <= _last_stamp[0]:
        now = _last_stamp[0] + timedelta(milliseconds=1)
    _last_stamp[:] = [now]
    return now


def invalid_update(error: ValidationError) -> InvalidUpdate:
    """The error for a document the model refused: a status outside the vocabulary first
    (UnknownStatus), else the first problem pydantic found."""
    for problem in error.errors(include_url=False):
        if problem["loc"][:1] == ("status",):
            reason = problem.get("ctx", {}).get("error", problem["msg"])
            return UnknownStatus(f"invalid status: {reason}")
    return InvalidUpdate(describe(error))


def json_schema(extra_statuses: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The message's JSON Schema; its statuses are the four and the deployment's own."""
    schema = JobUpdate.model_json_schema(mode="serialization")
    status = schema["properties"]["status"]
    schema["properties"]["status"] = {
        "$ref": "#/$defs/Status",
        "description": status["description"],
    }
    schema.setdefault("$defs", {})["Status"] = {
        "title": "Status",
        "type": "string",
        "enum": [*(status.value for status in Status), *sorted(extra_statuses)],
    }
    return schema
