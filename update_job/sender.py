"""The policy for sending an update: deliver it to SNS; when that fails, keep it in the spool
(if there is one); when that fails too, let the step go on if best effort was asked. A dry
run sends nothing. Every update sent with a spool goes through its job's record there (see
jobstate), so that none sets its job back.

Below this module: envelope (the Publish parameters), sns (the transport), spool and
jobstate (files). Above it: cli, supervise and replay.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from update_job import interrupts
from update_job.endpoint import check_endpoint_host
from update_job.envelope import Topic, make_envelope, parse_topic_arn
from update_job.errors import DeliveryFailed, DeliveryInterrupted, InvalidUpdate, NoTopic
from update_job.message import JobUpdate
from update_job.sns import DEFAULT_TIMEOUT, Channel

if TYPE_CHECKING:
    from update_job.jobstate import JobState, Outgoing

# The spool's modules (and tempfile, hashlib, fcntl with them) are imported where a spool
# is used: a dry run, or a send without --spool, does without them.

SUPERSEDED = "newer updates of the job sent through the spool already set all it sets"
# A correction can itself be overtaken by a still newer update: correct again, this often.
MAX_CORRECTIONS = 5


@dataclass(frozen=True)
class Receipt:
    update: JobUpdate
    envelope: dict[str, Any]
    dry_run: bool = False
    message_id: str | None = None
    # Set when best effort let an undelivered update pass: why, and where it was spooled.
    problem: str | None = None
    spooled: Path | None = None
    superseded: bool = False  # not sent: newer updates through the spool set all it sets
    # The Publish parameters actually sent, when the job's record changed the update.
    sent: dict[str, Any] | None = None
    # Said on stderr, whatever became of the update (a damaged job's record).
    warnings: tuple[str, ...] = ()

    def status_sent(self) -> str:
        """The status the published message carries (the job's record may have changed it)."""
        if self.sent is not None:
            return str(json.loads(self.sent["Message"])["status"])
        return str(self.update.status)

    def as_json(self) -> dict[str, Any]:
        receipt = {
            "message_id": self.message_id,
            "dry_run": self.dry_run,
            "message": self.update.model_dump(mode="json", exclude_none=True),
            "publish": self.envelope,
        }
        if self.sent is not None:
            # What went out, where the job's record changed it: the message as published.
            receipt["sent"] = {"message": json.loads(self.sent["Message"]), "publish": self.sent}
        if self.spooled is not None:
            receipt["spooled"] = str(self.spooled)
        return receipt


@dataclass(frozen=True)
class Sender:
    """Where updates go (the topic, the endpoint) and what is done when they cannot."""

    topic_arn: str | None
    endpoint_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    spool_dir: Path | None = None
    best_effort: bool = False
    dry_run: bool = False

    def topic(self) -> Topic | None:
        """The topic (parsed once a process: see parse_topic_arn); NoTopic if there is none
        and one is needed."""
        if self.topic_arn is None:
            if self.dry_run:
                return None
            raise NoTopic
        return parse_topic_arn(self.topic_arn)

    def check(self, update: JobUpdate) -> dict[str, Any]:
        """The Publish parameters of `update`, once sure it can be sent (or spooled):
        InvalidUpdate otherwise, before anything is published."""
        envelope = make_envelope(update, self.topic())
        if self.spool_dir is not None and not self.dry_run:
            from update_job.spool import check_writable

            check_writable(self.spool_dir)
        return envelope

    def send(self, update: JobUpdate) -> Receipt:
        """Publish `update`; InvalidUpdate before anything is sent, DeliveryFailed when it
        is not delivered (unless best effort lets it pass, a signal aside: see
        Receipt.problem)."""
        envelope = self.check(update)
        topic = self.topic()
        if self.dry_run or topic is None:
            return Receipt(update, envelope, dry_run=True)
        if self.endpoint_url:
            check_endpoint_host(self.endpoint_url)
        channel = Channel(topic, self.endpoint_url, self.timeout)
        try:
            # A signal cuts short the wait for SNS, never the spooling (see interrupts).
            with interrupts.recorded():
                sent = deliver_or_spool(envelope, channel, self.spool_dir)
        except DeliveryInterrupted:
            raise  # a signal still ends the step: only a delivery problem is forgiven
        except DeliveryFailed as error:
            if not self.best_effort:
                raise
            return Receipt(update, envelope, problem=str(error), spooled=error.spooled)
        warnings = () if sent.damaged is None else (f"job {update.id}: {sent.damaged}, ignored",)
        if sent.message_id is None:
            return Receipt(update, envelope, superseded=True, warnings=warnings)
        return Receipt(
            update, envelope, message_id=sent.message_id, sent=sent.params, warnings=warnings
        )


def deliver_or_spool(envelope: dict[str, Any], channel: Channel, spool_dir: Path | None) -> Sent:
    """Deliver; when that fails and there is a spool, keep the update there and say where.
    Sent.message_id is None when newer updates sent through the spool already set all it
    sets."""
    if spool_dir is not None:
        from update_job.spool import check_writable, store
    try:
        if spool_dir is None:
            return Sent(channel.deliver(envelope))
        check_writable(spool_dir)
        return send_in_order(envelope, channel, spool_dir)
    except InvalidUpdate:
        raise
    except DeliveryFailed as error:
        if spool_dir is None or error.spooled is not None:
            raise  # nowhere to keep it; or delivered, and only its correction spooled
        failure = error
    except Exception as error:
        # Whatever went wrong while delivering is a delivery failure: the update is kept.
        failure = DeliveryFailed(
            f"could not publish to SNS: unexpected {type(error).__name__}: {error}"
        )
        if spool_dir is None:
            raise failure from None
    try:
        path = store(envelope, spool_dir, str(failure), channel.endpoint_url)
    except OSError as spool_error:
        raise failure.restated(
            f"{failure}; and could not spool it to {spool_dir}: {spool_error}"
        ) from None
    raise failure.restated(f"{failure}; spooled to {path}", path) from None


@dataclass(frozen=True)
class Sent:
    """How an update went out through its job's record."""

    message_id: str | None  # None: superseded by newer updates, nothing sent
    rewritten: bool = False  # sent without the fields newer updates had set
    corrections: int = 0  # fields sent again because a newer update overtook this one
    correction_spooled: Path | None = None
    unordered: bool = False  # the job's record could not be read or written
    # The Publish parameters sent, when the record changed them (rewritten).
    params: dict[str, Any] | None = None
    damaged: str | None = None  # why the job's record was found damaged and ignored


def send_in_order(envelope: dict[str, Any], channel: Channel, spool_dir: Path) -> Sent:
    """Deliver `envelope` as its job's record allows (see jobstate); DeliveryFailed if the
    update itself is not delivered."""
    from update_job.jobstate import JobState, republished
    from update_job.spool import message_of

    message = message_of(envelope)
    try:
        state = JobState(spool_dir, message["id"])
        outgoing = state.prepare(message)
    except OSError:
        # The record cannot be kept (a full disk): the update still goes, unordered,
        # rather than not at all.
        return Sent(channel.deliver(envelope), unordered=True)
    if outgoing is None:
        return Sent(None, damaged=state.damaged)
    first = republished(envelope, outgoing.message) if outgoing.rewritten else envelope
    changed = first if outgoing.rewritten else None
    try:
        message_id = channel.deliver(first)
    except BaseException:
        with suppress(OSError):
            state.withdraw(outgoing)
        raise
    try:
        fix = state.delivered(outgoing)
    except OSError:
        # Delivered all the same: never spool it again for want of a record.
        return Sent(
            message_id, outgoing.rewritten, unordered=True, params=changed, damaged=state.damaged
        )
    count, spooled = Corrections(state, channel, spool_dir).send(fix, first)
    return Sent(
        message_id, outgoing.rewritten, count, spooled, params=changed, damaged=state.damaged
    )


@dataclass(frozen=True)
class Corrections:
    """The corrections of one delivered update of a job (see jobstate)."""

    state: JobState
    channel: Channel
    spool_dir: Path

    def send(self, fix: Outgoing | None, sent: dict[str, Any]) -> tuple[int, Path | None]:
        """Send `fix`, the fields a newer update claimed while the update in `sent` was on
        its way, with their newer values; and again if a still newer one overtook that. A
        correction that cannot be delivered is spooled like any update."""
        from update_job.jobstate import republished
        from update_job.spool import store

        count = 0
        while fix is not None and count < MAX_CORRECTIONS:
            # Derived from what it corrects: the same correction gets the same id on a
            # retry, and two corrections with the same fields do not drop each other.
            salt = str(sent.get("MessageDeduplicationId", sent["Message"]))
            correction = republished(sent, fix.message, salt)
            try:
                self.channel.deliver(correction)
            except DeliveryFailed as error:
                reason = f"correction: {error}"
                path = store(correction, self.spool_dir, reason, self.channel.endpoint_url)
                if isinstance(error, DeliveryInterrupted):
                    # The update itself was delivered; only its correction waits in the spool.
                    raise error.restated(
                        f"{error}; its correction is spooled to {path}", path
                    ) from None
                return count, path
            count += 1
            sent = correction
            try:
                fix = self.state.correction(fix)
            except OSError:
                break
        return count, None
