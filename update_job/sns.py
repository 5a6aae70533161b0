"""The transport: one Publish call to SNS through botocore, within a deadline, a signal cutting
the wait short, and every way it can go wrong told as one line (DeliveryFailed)."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from update_job import interrupts
from update_job.aws import make_client
from update_job.endpoint import redact
from update_job.envelope import Topic, is_listed_region
from update_job.errors import DeliveryFailed, DeliveryInterrupted

DEFAULT_TIMEOUT = 30.0
Result = TypeVar("Result")

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
# How much of a reply is kept to describe it: enough for an error page's title and heading.
REPLY_KEPT = 2048
# An HTML page's title, else its first heading.
HTML_TITLE = re.compile(rb"<(title|h1)[^>]*>(.*?)</\1", re.IGNORECASE | re.DOTALL)
HTML_TAG = re.compile(rb"<[^>]*>")
# How often the waiting main thread looks for a signal the handler recorded.
SIGNAL_POLL = 0.1


# SNS error codes no retry can change: the request itself is invalid. (NotFound is not one:
# a mistyped endpoint or region says it of every topic, and must cost no update.)
PERMANENT_CODES = frozenset({"InvalidParameter", "InvalidParameterValue", "MissingParameter"})


def is_permanent(error: BaseException) -> bool:
    """Whether sending `error`'s request again can never succeed: botocore refused its
    parameters before sending, or SNS called them invalid."""
    kinds = {cls.__name__ for cls in type(error).__mro__}
    if "ParamValidationError" in kinds:
        return True
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in PERMANENT_CODES


class Clients:
    """One botocore client per region and endpoint, for many deliveries (a `run`, an
    outbox sent through, a replay)."""

    def __init__(self) -> None:
        self.made: dict[tuple[str, str | None], Any] = {}
        # Bumped by forget: a client whose making began before is not kept (see get).
        self.generation = 0
        self.lock = threading.Lock()

    def get(self, region: str, endpoint_url: str | None, timeout: float) -> Any:
        key = (region, endpoint_url)
        with self.lock:
            client, generation = self.made.get(key), self.generation
        if client is None:
            # Made outside the lock: making a client resolves credentials, which may hang
            # past the deadline, and `forget` must never wait for that. A client made by
            # a delivery given up meanwhile stays that delivery's alone.
            client = make_client("sns", region, endpoint_url, timeout)
            with self.lock:
                if generation == self.generation:
                    client = self.made.setdefault(key, client)
        return client

    def forget(self, region: str, endpoint_url: str | None) -> None:
        """A delivery still runs on it past its deadline: the next one gets a new client."""
        with self.lock:
            self.made.pop((region, endpoint_url), None)
            self.generation += 1


class DeadlineExceeded(Exception):
    """Raised inside botocore to stop it starting another attempt after the deadline."""


@dataclass(frozen=True)
class Channel:
    """Where and how long to try: the topic, the endpoint (None: botocore's default) and
    the seconds a delivery may take, retries included."""

    topic: Topic
    endpoint_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    clients: Clients | None = None  # shared by many deliveries (replay); else one each

    def deliver(self, envelope: dict[str, Any]) -> str:
        """Publish `envelope`, with botocore's retries, within the timeout (making the
        client and resolving credentials included); the SNS MessageId.

        The one place where anything that goes wrong while delivering becomes
        DeliveryFailed, with one line that names no secret: botocore's errors, replies it
        cannot parse, a reply without a message id, a deadline passed, a terminating signal
        (DeliveryInterrupted), and any exception nobody foresaw."""
        attempt = Attempt(envelope, self.topic, self.endpoint_url, self.timeout, self.clients)
        return self.attempt(attempt, attempt.message_id)

    def deliver_batch(self, params: dict[str, Any]) -> dict[str, Any]:
        """One PublishBatch call (`params`: TopicArn and up to 10 entries), as `deliver`
        makes a Publish call; SNS's answer: the entries that succeeded and those that
        failed."""
        attempt = Attempt(
            params, self.topic, self.endpoint_url, self.timeout, self.clients, "PublishBatch"
        )
        return self.attempt(attempt, attempt.batch_response)

    def attempt(self, attempt: Attempt, result: Callable[[], Result]) -> Result:
        try:
            return self.outcome(attempt, result)
        finally:
            if self.clients is not None and not attempt.finished.is_set():
                # A call still runs on that client past its deadline: the next gets another.
                self.clients.forget(self.topic.region, self.endpoint_url)

    def outcome(self, attempt: Attempt, result: Callable[[], Result]) -> Result:
        try:
            try:
                return result()
            except interrupts.Interrupted as interrupted:
                if attempt.delivered():
                    # SNS answered before the signal was handled: delivered. The signal
                    # stays pending, for the exit status.
                    return result()
                interrupts.take()
                raise DeliveryInterrupted(
                    f"{interrupted} before SNS acknowledged the update", interrupted.signum
                ) from interrupted
        except DeliveryFailed as failure:
            raise failure.restated(redact(str(failure), self.endpoint_url)) from failure
        except Exception as error:
            raise DeliveryFailed(
                redact(attempt.describe(error), self.endpoint_url), permanent=is_permanent(error)
            ) from error


@dataclass
class Attempt:
    """One delivery: a worker thread makes the client and publishes, while the main thread
    waits for it, for the deadline or for a signal, whichever comes first."""

    envelope: dict[str, Any]
    topic: Topic
    endpoint_url: str | None
    timeout: float
    clients: Clients | None = None
    operation: str = "Publish"  # or PublishBatch
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

    def batch_response(self) -> dict[str, Any]:
        response = self.response if self.finished.is_set() else self.wait()
        answered = response or {}
        if not isinstance(answered.get("Successful", []), list) or not isinstance(
            answered.get("Failed", []), list
        ):
            raise DeliveryFailed(
                f"SNS {self.where} answered a batch without its results "
                f"({self.reply_summary()}): the updates may not be published"
            )
        return answered

    def delivered(self) -> bool:
        return self.finished.is_set() and self.error is None and self.response is not None

    @property
    def where(self) -> str:
        """Where SNS is: `at URL` (once known), else `in REGION`."""
        url = self.endpoint_url or self.endpoint
        return f"at {url}" if url else f"in {self.topic.region}"

    def wait(self) -> dict[str, Any]:
        self.deadline = deadline = time.monotonic() + self.timeout
        interrupts.check()  # before starting: a pending signal sends nothing
        worker = threading.Thread(target=self.call_sns, name="sns-publish", daemon=True)
        # A daemon: a call stuck past the deadline (a hanging credential_process, an
        # endpoint that never answers) cannot keep the process, and the step, alive.
        worker.start()
        while not self.finished.is_set() and (left := deadline - time.monotonic()) > 0:
            self.finished.wait(min(left, SIGNAL_POLL))
            if not self.finished.is_set():
                interrupts.check()  # the handler only records a signal: acted on here
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
            return (
                f"could not publish to SNS {self.where} {within}: {self.problem}"
                f"{region_hint(self.topic)}"
            )
        return f"no answer from SNS {self.where} {within}"

    def call_sns(self) -> None:
        """The worker: everything that may block, credentials included, runs here."""
        try:
            self.stage = "resolving AWS credentials"
            if self.clients is None:
                client = make_client("sns", self.topic.region, self.endpoint_url, self.timeout)
            else:
                client = self.clients.get(self.topic.region, self.endpoint_url, self.timeout)
            self.endpoint = client.meta.endpoint_url
            events = client.meta.events
            hooks = [
                (f"before-send.sns.{self.operation}", self.stop_after_deadline),
                (f"before-parse.sns.{self.operation}", self.note_reply),
                (f"needs-retry.sns.{self.operation}", self.note_problem),
            ]
            for event, hook in hooks:
                events.register_first(event, hook, unique_id=f"update-job-{event}")
            self.stage = "sending"
            try:
                call = client.publish if self.operation == "Publish" else client.publish_batch
                self.response = call(**self.envelope)
            finally:
                for event, _ in hooks:
                    events.unregister(event, unique_id=f"update-job-{event}")
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
            "body": bytes(body[:REPLY_KEPT]) if isinstance(body, bytes | bytearray) else b"",
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
        body = self.reply["body"]
        if "html" in self.reply["type"].lower() and (said := html_text(body)):
            # A web server's error page (a proxy's, or a local endpoint's own error): what
            # it says, rather than the start of its markup.
            return f"HTTP {self.reply['status']}{kind}: the page says {said!r}"
        return f"HTTP {self.reply['status']}{kind}: {body[:80]!r}"

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
                return describe_client_error(error, self.topic, self.where)
        elif "ResponseParserError" not in kinds:
            botocores = isinstance(error, Exception) and type(error).__module__.startswith(
                "botocore"
            )
            problem = text if botocores else f"{type(error).__name__}: {text}"
            return f"could not publish to SNS {self.where}: {problem}"
        return (
            f"unreadable reply from SNS {self.where} ({self.reply_summary()})"
            f"{region_hint(self.topic)}"
        )


def one_line(text: str) -> str:
    return " ".join(text.split())


def html_text(body: bytes) -> str:
    """What an HTML error page says: its title (else first heading, else its text), one
    line, at most 200 characters."""
    found = HTML_TITLE.search(body)
    text = HTML_TAG.sub(b" ", found[2] if found else body).decode("utf-8", "replace")
    return one_line(html.unescape(text))[:200]


def region_hint(topic: Topic) -> str:
    """A hint when the topic's region is one botocore does not list (a typo in the ARN?):
    an endpoint that serves no such region answers with an error of its own."""
    if is_listed_region(topic.region):
        return ""
    return f"; region {topic.region}, from the topic ARN, is not one botocore knows: a typo?"


def describe_client_error(error: Any, topic: Topic, where: str) -> str:
    """One line for an error SNS answered; `where` is the endpoint (`at URL`)."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    text = one_line(error.response.get("Error", {}).get("Message", "") or str(error))
    if code == "NotFound":
        # Looked for in the wrong place, or misspelt: say where it was looked for.
        return (
            f"topic {topic.arn} does not exist in region {topic.region} (SNS {where})"
            f"{region_hint(topic)}"
        )
    if code in ("AuthorizationError", "AccessDenied", "AccessDeniedException"):
        return f"access denied to topic {topic.arn}: {text}"
    if code in REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({code}): {text}"
    return f"SNS refused the update ({code}): {text}"
