"""The policy for sending an update: a dry run sends nothing; without a spool the update is
delivered directly; with one it goes through its job's outbox (see outbox), oldest first;
when it is not delivered, best effort lets the step go on.

Below this module: envelope (the Publish parameters), sns (the transport), outbox (files).
Above it: cli, supervise and replay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from update_job import interrupts
from update_job.endpoint import check_endpoint_host
from update_job.envelope import Topic, make_envelope, parse_topic_arn
from update_job.errors import DeliveryFailed, DeliveryInterrupted, NoTopic, SpoolFailed
from update_job.message import JobUpdate
from update_job.sns import DEFAULT_TIMEOUT, Channel, Clients

if TYPE_CHECKING:
    from update_job.outbox import Drained, Entry, Outbox

# The outbox module (and tempfile, hashlib, fcntl with it) is imported where a spool is
# used: a dry run, or a send without --spool, does without it.


@dataclass(frozen=True)
class Receipt:
    update: JobUpdate
    envelope: dict[str, Any]  # the Publish parameters (as queued, with --spool)
    dry_run: bool = False
    message_id: str | None = None
    # Set when best effort let an undelivered update pass: why, and where it waits.
    problem: str | None = None
    spooled: Path | None = None
    spool_dir: Path | None = None
    # Why the update was not published, and rightly so (a finished job, a heartbeat).
    skipped: str | None = None
    # Said on stderr, whatever became of the update.
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        receipt = {
            "message_id": self.message_id,
            "dry_run": self.dry_run,
            "message": self.update.model_dump(mode="json", exclude_none=True),
            "publish": self.envelope,
        }
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
    # One botocore client per region and endpoint for all of this sender's deliveries: a
    # `run`'s start, heartbeats and final update, an outbox sent through, a replay. Making
    # one costs far more than a Publish, and a job's --timeout is for delivering.
    clients: Clients = field(default_factory=Clients, compare=False)

    def topic(self) -> Topic | None:
        """The topic (parsed once a process: see parse_topic_arn); NoTopic if there is none
        and one is needed."""
        if self.topic_arn is None:
            if self.dry_run:
                return None
            raise NoTopic
        return parse_topic_arn(self.topic_arn)

    def check(self, update: JobUpdate) -> dict[str, Any]:
        """The Publish parameters of `update`, once sure it can be sent (or queued):
        InvalidUpdate otherwise, before anything is published."""
        envelope = make_envelope(update, self.topic())
        self.check_spool()
        return envelope

    def check_spool(self) -> None:
        """InvalidUpdate (SpoolRefused) unless the spool, if any, is private and writable."""
        if self.spool_dir is not None and not self.dry_run:
            from update_job.outbox import open_spool

            open_spool(self.spool_dir)

    def send(self, update: JobUpdate, heartbeat: bool = False) -> Receipt:
        """Publish `update` (a `heartbeat` is not queued behind earlier updates of its
        job); InvalidUpdate before anything is sent, DeliveryFailed when it is not
        delivered (unless best effort lets it pass, a signal aside)."""
        envelope = self.check(update)
        topic = self.topic()
        if self.dry_run or topic is None:
            return Receipt(update, envelope, dry_run=True)
        if self.endpoint_url:
            check_endpoint_host(self.endpoint_url)
        try:
            # The handler only records a signal; the waits end on it (see interrupts).
            with interrupts.recorded():
                if self.spool_dir is None:
                    channel = Channel(topic, self.endpoint_url, self.timeout, self.clients)
                    return Receipt(update, envelope, message_id=channel.deliver(envelope))
                return self.send_through_outbox(update, envelope, topic, heartbeat, self.spool_dir)
        except DeliveryInterrupted:
            raise  # a signal still ends the step: only a delivery problem is forgiven
        except DeliveryFailed as error:
            if not self.best_effort:
                raise
            if error.spooled is not None:
                envelope = queued_params(error.spooled, envelope)
            return Receipt(
                update,
                envelope,
                problem=str(error),
                spooled=error.spooled,
                spool_dir=self.spool_dir,
            )

    def send_through_outbox(
        self,
        update: JobUpdate,
        envelope: dict[str, Any],
        topic: Topic,
        heartbeat: bool,
        spool_dir: Path,
    ) -> Receipt:
        """Append `update` to its job's outbox and send the outbox through it, oldest
        first, within the timeout."""
        from update_job.outbox import NotAnEntry, Outbox

        outbox = Outbox(spool_dir, update.id)
        try:
            waiting = len(outbox.pending())
            if heartbeat and waiting:
                skipped = (
                    f"heartbeat not queued: {waiting} earlier update(s) of job {update.id} wait"
                )
                return Receipt(update, envelope, skipped=skipped, spool_dir=spool_dir)
            entry = outbox.append(update, topic, self.endpoint_url)
        except (OSError, NotAnEntry) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise SpoolFailed(
                f"spooling failed: could not queue the update in {spool_dir} ({reason}); not sent"
            ) from error
        if entry is None:
            skipped = (
                f"job {update.id} already finished: this {update.status} update is not published"
            )
            return Receipt(update, envelope, skipped=skipped, spool_dir=spool_dir)
        return self.drain(outbox, update, entry)

    def drain(self, outbox: Outbox, update: JobUpdate, entry: Entry) -> Receipt:
        from update_job.outbox import LockBusy, NotAnEntry

        where = entry.path
        try:
            deadline = time.monotonic() + self.timeout
            drained = outbox.send(self.publish, deadline, self.timeout, entry.sequence)
        except LockBusy as busy:
            raise DeliveryFailed(
                f"another process still sends job {update.id}'s updates after {self.timeout:g} s:"
                f" this one waits behind them, spooled to {where}",
                where,
            ) from busy
        except interrupts.Interrupted as interrupted:
            interrupts.take()
            raise DeliveryInterrupted(
                f"{interrupted} before the update was sent; spooled to {where}",
                interrupted.signum,
                where,
            ) from interrupted
        except (OSError, NotAnEntry) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise DeliveryFailed(
                f"could not send job {update.id}'s outbox: {reason}; spooled to {where}", where
            ) from error
        return self.receipt(update, entry, drained)

    def receipt(self, update: JobUpdate, entry: Entry, drained: Drained) -> Receipt:
        """The receipt of `entry`, once its outbox was sent through it (or not)."""
        warnings = [
            f"job {update.id}: set aside {path}: {why}" for _, path, why in drained.rejected
        ]
        earlier = [sent for sent, _ in drained.sent if sent.sequence < entry.sequence]
        if earlier:
            warnings.append(f"job {update.id}: {len(earlier)} earlier update(s) sent first")
        for sent, message_id in drained.sent:
            if sent.sequence == entry.sequence:
                return Receipt(update, entry.params, message_id=message_id, warnings=(*warnings,))
        if drained.failure is None and not drained.out_of_time:
            if any(sequence == entry.sequence for sequence, _, _ in drained.rejected):
                raise DeliveryFailed("; ".join(warnings), permanent=True)
            # Sent by another process, which held the lock when this one looked.
            warnings.append(f"job {update.id}: this update was sent by another process")
            return Receipt(update, entry.params, warnings=(*warnings,))
        raise self.not_sent(update, entry, drained)

    def not_sent(self, update: JobUpdate, entry: Entry, drained: Drained) -> DeliveryFailed:
        """Why `entry` is still in its outbox, and where."""
        failure = drained.failure or DeliveryFailed(
            f"--timeout {self.timeout:g} s ran out before it was sent"
        )
        if drained.failed is not None and drained.failed.sequence != entry.sequence:
            told = (
                f"an earlier update of job {update.id} is not delivered ({failure}): "
                f"this one waits behind it, spooled to {entry.path}"
            )
        else:
            told = f"{failure}; spooled to {entry.path}"
        return failure.restated(told, entry.path)

    def publish(self, entry: Entry, deadline: float) -> str:
        """Deliver an outbox entry (see endpoint_for) within `deadline`."""
        topic = parse_topic_arn(entry.params["TopicArn"])
        channel = Channel(topic, self.endpoint_for(entry), self.time_left(deadline), self.clients)
        return channel.deliver(entry.params)

    def publish_batch(self, entries: list[Entry], deadline: float) -> dict[str, Any]:
        """Deliver up to 10 outbox entries of one topic and endpoint in one PublishBatch
        call, entry i as Id "i"; SNS's answer (which succeeded, which failed)."""
        topic = parse_topic_arn(entries[0].params["TopicArn"])
        batch = [
            {"Id": str(index), **{k: v for k, v in entry.params.items() if k != "TopicArn"}}
            for index, entry in enumerate(entries)
        ]
        channel = Channel(
            topic, self.endpoint_for(entries[0]), self.time_left(deadline), self.clients
        )
        return channel.deliver_batch({"TopicArn": topic.arn, "PublishBatchRequestEntries": batch})

    def time_left(self, deadline: float) -> float:
        # Tenths of a second: the time left is told in error messages.
        return min(self.timeout, max(0.1, round(deadline - time.monotonic(), 1)))

    def endpoint_for(self, entry: Entry) -> str | None:
        """Where an outbox entry goes: to --endpoint-url if given, else to the endpoint it
        was meant for (botocore's default when that is this process's own environment's);
        DeliveryFailed if that held a password, which is never stored."""
        from update_job.outbox import intended_endpoint

        endpoint = self.endpoint_url or entry.endpoint_url
        if not self.endpoint_url and entry.endpoint_url == intended_endpoint(None):
            return None  # where this process's own environment sends it: botocore's pick
        if endpoint is not None and "***@" in endpoint:
            raise DeliveryFailed(
                f"it was meant for {endpoint}, whose password is never stored: "
                "give --endpoint-url again"
            )
        return endpoint


def queued_params(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """The Publish parameters queued in outbox entry `path` (numbered, maybe restamped)."""
    from update_job.outbox import NotAnEntry, parse_entry, read_file

    try:
        return parse_entry(path, read_file(path)).params
    except (OSError, NotAnEntry):
        return default
