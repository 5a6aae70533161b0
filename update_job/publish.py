"""Publishing an update to SNS: the envelope (topic, attributes, FIFO ids) around the message."""

from __future__ import annotations

import hashlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from update_job.aws import make_client
from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.message import JobUpdate

# SNS takes at most 256 KiB per message, its attributes included.
MAX_MESSAGE_BYTES = 262_144
DEFAULT_TIMEOUT = 30.0

TOPIC_ARN = re.compile(
    r"arn:aws[a-z-]*:sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:"
    r"(?P<name>[A-Za-z0-9_-]{1,251}\.fifo|[A-Za-z0-9_-]{1,256})"
)
# SNS's rule for a FIFO MessageGroupId: 1 to 128 printable ASCII characters.
GROUP_ID = re.compile(r"[!-~]{1,128}")


@dataclass(frozen=True)
class Topic:
    arn: str
    region: str
    name: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


def parse_topic_arn(arn: str) -> Topic:
    match = TOPIC_ARN.fullmatch(arn.strip())
    if match is None:
        raise InvalidUpdate(f"invalid topic ARN {arn!r}: expected arn:aws:sns:REGION:ACCOUNT:TOPIC")
    return Topic(arn=arn.strip(), region=match["region"], name=match["name"])


def publish_params(update: JobUpdate, topic: Topic | None) -> dict[str, Any]:
    """The SNS Publish parameters for `update`, as sent and as a dry run shows them.

    On a FIFO topic the deduplication id is the message's hash: a retry of this update
    repeats it, while two updates differ at least in their `updated` time. The real topic
    deduplicates by content, which would otherwise drop a repeated identical update."""
    body = update.to_json()
    params: dict[str, Any] = {} if topic is None else {"TopicArn": topic.arn}
    params["Message"] = body
    params["MessageAttributes"] = {
        "job_id": {"DataType": "String", "StringValue": update.id},
        "status": {"DataType": "String", "StringValue": update.status},
    }
    if topic is not None and topic.fifo:
        if not GROUP_ID.fullmatch(update.id):
            raise InvalidUpdate(
                "invalid job id for a FIFO topic: its MessageGroupId must be 1 to 128 "
                "printable ASCII characters"
            )
        params["MessageGroupId"] = update.id
        params["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
    size = message_size(params)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidUpdate(
            f"message too large: {size:,} bytes, over the SNS limit of "
            f"{MAX_MESSAGE_BYTES:,} bytes (message and attributes)"
        )
    return params


def message_size(params: dict[str, Any]) -> int:
    """Bytes SNS counts against its limit: the message and each attribute's name, type and value."""
    size = len(params["Message"].encode())
    for name, attribute in params["MessageAttributes"].items():
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(attribute["StringValue"].encode())
    return size


REJECTED_CREDENTIALS = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"}
)


class DeadlineExceeded(Exception):
    """Raised inside botocore to stop it starting another attempt after the deadline."""


def deliver(params: dict[str, Any], endpoint_url: str | None, timeout: float) -> str:
    """Publish, with botocore's retries, within `timeout` seconds; the SNS MessageId."""
    import botocore.exceptions

    topic = parse_topic_arn(params["TopicArn"])
    deadline = time.monotonic() + timeout
    client = make_client("sns", topic.region, endpoint_url, timeout)

    def stop_after_deadline(**_: Any) -> None:
        if time.monotonic() >= deadline:
            raise DeadlineExceeded

    outcome: dict[str, Any] = {}

    def note_problem(
        response: Any = None, caught_exception: Exception | None = None, **_: Any
    ) -> None:
        # Kept so that running out of time can say what went wrong on the last attempt.
        if caught_exception is not None and not isinstance(caught_exception, DeadlineExceeded):
            outcome["problem"] = str(caught_exception)
        elif response is not None and "Error" in response[1]:
            error = response[1]["Error"]
            outcome["problem"] = f"{error.get('Code')}: {error.get('Message')}"

    client.meta.events.register("before-send.sns.Publish", stop_after_deadline)
    client.meta.events.register_first("needs-retry.sns.Publish", note_problem)

    def publish() -> None:
        try:
            outcome["response"] = client.publish(**params)
        except Exception as error:
            outcome["error"] = error

    # The worker is a daemon so that a call stuck past the deadline cannot keep the
    # process (and the workflow step) alive: the deadline is a hard bound.
    worker = threading.Thread(target=publish, name="sns-publish", daemon=True)
    worker.start()
    try:
        worker.join(timeout)
    except DeliveryFailed:
        # Interrupted (see signals_interrupt_delivery): if SNS had already answered, the
        # update is delivered and there is nothing to keep.
        if "response" in outcome:
            return str(outcome["response"]["MessageId"])
        raise
    where = endpoint_url or client.meta.endpoint_url
    if worker.is_alive() or isinstance(outcome.get("error"), DeadlineExceeded):
        if "problem" in outcome:
            raise DeliveryFailed(
                f"could not publish to SNS at {where} within {timeout:g} s: {outcome['problem']}"
            )
        raise DeliveryFailed(f"no answer from SNS at {where} within {timeout:g} s")
    error = outcome.get("error")
    if error is None:
        return str(outcome["response"]["MessageId"])
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        raise DeliveryFailed(
            "no AWS credentials found: use an instance role, AWS_PROFILE or AWS_ACCESS_KEY_ID"
        )
    if isinstance(error, botocore.exceptions.ClientError):
        raise DeliveryFailed(describe_client_error(error, topic)) from None
    if isinstance(error, botocore.exceptions.BotoCoreError):
        raise DeliveryFailed(f"could not publish to SNS at {where}: {error}") from None
    raise error


def describe_client_error(error: Any, topic: Topic) -> str:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    text = error.response.get("Error", {}).get("Message", "") or str(error)
    if code == "NotFound":
        return f"topic {topic.arn} does not exist"
    if code in ("AuthorizationError", "AccessDenied", "AccessDeniedException"):
        return f"access denied to topic {topic.arn}: {text}"
    if code in REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({code}): {text}"
    return f"SNS refused the update ({code}): {text}"


TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def signals_interrupt_delivery() -> Iterator[None]:
    """SIGTERM or SIGINT while delivering raises DeliveryFailed (exit 128 + signal), so the
    update is spooled or reported lost, never dropped by a killed step without a word."""

    def interrupt(signum: int, _: FrameType | None) -> None:
        signal.signal(signum, signal.SIG_IGN)  # once is enough: let the spooling finish
        name = signal.Signals(signum).name
        raise DeliveryFailed(f"{name} before SNS acknowledged the update", exit_code=128 + signum)

    previous = {signum: signal.signal(signum, interrupt) for signum in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
