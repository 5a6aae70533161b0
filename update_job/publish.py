"""Publishing an update to SNS: the envelope (topic, attributes, FIFO ids) around the message."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from update_job import interrupts
from update_job.aws import make_client
from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.message import JobUpdate

# The signals that stop a step (`run` passes them on to its command).
TERMINATING_SIGNALS = interrupts.TERMINATING_SIGNALS
# The former name of interrupts.recorded, which a delivery runs within.
signals_interrupt_delivery = interrupts.recorded
# SNS takes at most 256 KiB per message, its attributes included.
MAX_MESSAGE_BYTES = 262_144
DEFAULT_TIMEOUT = 30.0

TOPIC_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z]+(?:-[a-z]+)+-\d+):\d{12}:"
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
    region, partition = match["region"], match["partition"]
    expected = partition_of(region)
    if expected is None and aws_partitions():
        raise InvalidUpdate(f"invalid topic ARN {arn!r}: {region} is in no AWS partition")
    if expected is not None and partition != expected:
        raise InvalidUpdate(
            f"invalid topic ARN {arn!r}: region {region} is in partition {expected}, "
            f"not {partition}"
        )
    return Topic(arn=arn.strip(), region=region, name=match["name"])


@functools.cache
def aws_partitions() -> tuple[dict[str, Any], ...]:
    """botocore's own partition data (ids, region names and patterns), read from its data
    file without importing botocore, which a dry run does not need."""
    spec = importlib.util.find_spec("botocore")
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("botocore")
        data = Path(spec.submodule_search_locations[0], "data", "partitions.json").read_text()
        partitions = json.loads(data)["partitions"]
    except (OSError, ValueError, KeyError):
        import botocore.loaders

        try:
            partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
        except Exception:  # a botocore without that data: no check, rather than no publish
            return ()
    return tuple(partitions)


def partition_of(region: str) -> str | None:
    """The AWS partition (aws, aws-cn, aws-us-gov, ...) a region belongs to, as botocore
    knows them: by its list of regions, else by the partition's region pattern."""
    partitions = aws_partitions()
    for partition in partitions:
        if region in partition["regions"] and not region.endswith("-global"):
            return str(partition["id"])
    for partition in partitions:
        if re.fullmatch(partition["regionRegex"], region):
            return str(partition["id"])
    return None


# A URL's user information (`http://user:password@host`): never shown, never stored.
URL_USERINFO = re.compile(r"(?<=://)[^/?#\s]*@")


def redact_url(url: str) -> str:
    """`url` with any user name and password in it replaced by ***."""
    return URL_USERINFO.sub("***@", url)


def redact(text: str, endpoint_url: str | None) -> str:
    """`text` with every URL's user information masked, and the endpoint's password too
    wherever else it appears (an error may quote it on its own)."""
    text = URL_USERINFO.sub("***@", text)
    if endpoint_url:
        try:
            secrets = [urlsplit(endpoint_url).password, urlsplit(endpoint_url).username]
        except ValueError:
            secrets = []
        for secret in secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
    return text


def check_endpoint_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and a port in range; InvalidUpdate otherwise
    (the URL shown without its credentials). See also check_endpoint_host."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # raises ValueError for a port out of range
            raise ValueError("port 0")
    except ValueError as error:
        raise InvalidUpdate(f"invalid endpoint URL {shown!r}: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidUpdate(
            f"invalid endpoint URL {shown!r}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )
    if not parts.hostname:
        raise InvalidUpdate(f"invalid endpoint URL {shown!r}: not a valid host name or address")
    return url


def check_endpoint_host(url: str) -> None:
    """InvalidUpdate unless botocore takes `url`'s host (it refuses any other when sending).
    Checked just before sending: it imports botocore, which a dry run does not need."""
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        raise InvalidUpdate(
            f"invalid endpoint URL {redact_url(url)!r}: not a valid host name or address"
        )


def publish_params(update: JobUpdate, topic: Topic | None) -> dict[str, Any]:
    """The SNS Publish parameters for `update`, as sent and as a dry run shows them.

    On a FIFO topic the deduplication id is the message's hash: a retry of this update
    repeats it, while two updates differ at least in their `updated` time. The real topic
    deduplicates by content, which would otherwise drop a repeated identical update."""
    try:
        body = update.to_json()
        body.encode()
    except (ValueError, UnicodeError) as error:
        # pydantic's serializer refuses text that is not Unicode (lone surrogates, as bytes
        # that are not UTF-8 arrive from the command line) and values nested too deep.
        problem = str(error).rsplit(": ", 1)[-1] if ": " in str(error) else str(error)
        raise InvalidUpdate(f"invalid update: cannot be written as JSON ({problem})") from None
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
# botocore's errors about finding credentials and reading the AWS configuration.
CREDENTIAL_ERRORS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "ProfileNotFound",
        "ConfigParseError",
        "ConfigNotFound",
        "InvalidConfigError",
        "RefreshWithMFAUnsupportedError",
        "MetadataRetrievalError",
        "UnknownCredentialError",
        "InfiniteLoopConfigError",
        "SSOTokenLoadError",
        "TokenRetrievalError",
    }
)
# How often the waiting main thread looks up: a signal that the kernel handed to the worker
# thread is only run, by the main thread, once that thread runs Python again.
SIGNAL_POLL = 0.1


class DeadlineExceeded(Exception):
    """Raised inside botocore to stop it starting another attempt after the deadline."""


def deliver(params: dict[str, Any], endpoint_url: str | None, timeout: float) -> str:
    """Publish, with botocore's retries, within `timeout` seconds (making the client and
    resolving credentials included); the SNS MessageId.

    The one place where anything that goes wrong while delivering becomes DeliveryFailed,
    with one line that names no secret: botocore's errors, replies it cannot parse, a reply
    without a message id, a deadline passed, a terminating signal (exit 128 + N), and any
    exception nobody foresaw."""
    topic = parse_topic_arn(params["TopicArn"])
    attempt = Attempt(params, topic, endpoint_url, timeout)
    try:
        try:
            return attempt.message_id()
        except interrupts.Interrupted as interrupted:
            if attempt.delivered():
                # SNS answered before the signal was handled: delivered. The signal stays
                # pending, for the exit status.
                return attempt.message_id()
            interrupts.take()
            raise DeliveryFailed(
                f"{interrupted} before SNS acknowledged the update", 128 + interrupted.signum
            ) from None
    except DeliveryFailed as failure:
        raise DeliveryFailed(
            redact(str(failure), endpoint_url), failure.exit_code, failure.spooled
        ) from None
    except Exception as error:
        raise DeliveryFailed(redact(attempt.describe(error), endpoint_url)) from None


@dataclass
class Attempt:
    """One delivery: a worker thread makes the client and publishes, while the main thread
    waits for it, for the deadline or for a signal, whichever comes first."""

    params: dict[str, Any]
    topic: Topic
    endpoint_url: str | None
    timeout: float
    stage: str = "starting"
    endpoint: str | None = None  # the URL the client sends to, once it is made
    response: dict[str, Any] | None = None
    error: BaseException | None = None
    problem: str | None = None  # what went wrong on the last attempt that was retried
    reply: dict[str, Any] = field(default_factory=dict)  # the last HTTP reply's status...
    finished: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0

    def message_id(self) -> str:
        response = self.response if self.finished.is_set() else self.wait()
        message_id = (response or {}).get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            raise DeliveryFailed(
                f"SNS {self.where} answered without a message id "
                f"({self.reply_summary()}): the update may not be published"
            )
        return message_id

    def delivered(self) -> bool:
        return self.finished.is_set() and self.error is None and self.response is not None

    @property
    def where(self) -> str:
        """Where SNS is: `at URL` (once known), else `in REGION`."""
        url = self.endpoint_url or self.endpoint
        return f"at {url}" if url else f"in {self.topic.region}"

    def wait(self) -> dict[str, Any]:
        self.deadline = deadline = time.monotonic() + self.timeout
        with interrupts.interruptible():  # before starting: a pending signal sends nothing
            worker = threading.Thread(target=self.publish, name="sns-publish", daemon=True)
            # A daemon: a call stuck past the deadline (a hanging credential_process, an
            # endpoint that never answers) cannot keep the process, and the step, alive.
            worker.start()
            while not self.finished.is_set() and (left := deadline - time.monotonic()) > 0:
                self.finished.wait(min(left, SIGNAL_POLL))
        if not self.finished.is_set() or isinstance(self.error, DeadlineExceeded):
            raise DeliveryFailed(self.timed_out())
        if isinstance(self.error, Exception):
            raise self.error
        if self.error is not None:  # SystemExit and the like, from code we do not control
            raise RuntimeError(repr(self.error))
        return self.response or {}

    def timed_out(self) -> str:
        within = f"within {self.timeout:g} s"
        if self.stage != "sending":
            return (
                f"could not publish to SNS {within}: still {self.stage} (a credential_process "
                "or credentials endpoint that does not answer?)"
            )
        if self.problem is not None:
            return f"could not publish to SNS {self.where} {within}: {self.problem}"
        return f"no answer from SNS {self.where} {within}"

    def publish(self) -> None:
        """The worker: everything that may block, credentials included, runs here."""
        try:
            self.stage = "resolving AWS credentials"
            client = make_client("sns", self.topic.region, self.endpoint_url, self.timeout)
            self.endpoint = client.meta.endpoint_url
            events = client.meta.events
            events.register("before-send.sns.Publish", self.stop_after_deadline)
            events.register("before-parse.sns.Publish", self.note_reply)
            events.register_first("needs-retry.sns.Publish", self.note_problem)
            self.stage = "sending"
            self.response = client.publish(**self.params)
        except BaseException as error:  # everything, to be described by the main thread
            self.error = error
        finally:
            self.finished.set()

    def stop_after_deadline(self, **_: Any) -> None:
        if time.monotonic() >= self.deadline:
            raise DeadlineExceeded

    def note_reply(self, response_dict: dict[str, Any], **_: Any) -> None:
        """Keep what the server answered, and let botocore retry a server error whose body
        is not XML: botocore reads an empty or HTML body of a 5xx as a generic error of that
        status (and retries it), but fails on any other body without a retry."""
        status = response_dict.get("status_code", 0)
        body = response_dict.get("body") or b""
        headers = response_dict.get("headers") or {}
        self.reply = {
            "status": status,
            "type": headers.get("content-type", ""),
            "body": bytes(body[:80]) if isinstance(body, bytes | bytearray) else b"",
        }
        if status >= 500 and isinstance(body, bytes) and not body.lstrip().startswith(b"<"):
            response_dict["body"] = b""

    def note_problem(
        self, response: Any = None, caught_exception: Exception | None = None, **_: Any
    ) -> None:
        # Kept so that running out of time can say what went wrong on the last attempt.
        if caught_exception is not None and not isinstance(caught_exception, DeadlineExceeded):
            self.problem = one_line(str(caught_exception))
        elif response is not None and "Error" in response[1]:
            error = response[1]["Error"]
            self.problem = f"{error.get('Code')}: {error.get('Message')}"

    def reply_summary(self) -> str:
        if not self.reply:
            return "no reply"
        kind = f", {self.reply['type']}" if self.reply["type"] else ""
        return f"HTTP {self.reply['status']}{kind}: {self.reply['body']!r}"

    def describe(self, error: BaseException) -> str:
        """One line for whatever the delivery raised."""
        kinds = {cls.__name__ for cls in type(error).__mro__}  # botocore's, not imported here
        text = one_line(str(error))
        if kinds & CREDENTIAL_ERRORS:
            if "NoCredentialsError" in kinds:
                return (
                    "no AWS credentials found: use an instance role, AWS_PROFILE or "
                    "AWS_ACCESS_KEY_ID"
                )
            return f"could not get AWS credentials: {text}"
        if "ClientError" in kinds:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            # botocore's generic error (no code, or the status) for a body that is not AWS's
            if not (self.reply and code in (None, "Unknown", str(self.reply["status"]))):
                return describe_client_error(error, self.topic)
        elif "ResponseParserError" not in kinds:
            botocores = isinstance(error, Exception) and type(error).__module__.startswith(
                "botocore"
            )
            problem = text if botocores else f"{type(error).__name__}: {text}"
            return f"could not publish to SNS {self.where}: {problem}"
        return f"unreadable reply from SNS {self.where} ({self.reply_summary()})"


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe_client_error(error: Any, topic: Topic) -> str:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    text = one_line(error.response.get("Error", {}).get("Message", "") or str(error))
    if code == "NotFound":
        return f"topic {topic.arn} does not exist"
    if code in ("AuthorizationError", "AccessDenied", "AccessDeniedException"):
        return f"access denied to topic {topic.arn}: {text}"
    if code in REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({code}): {text}"
    return f"SNS refused the update ({code}): {text}"
