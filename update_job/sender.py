"""Sending one update: to SNS, to the spool when SNS cannot take it, or nowhere (dry run)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from update_job import interrupts
from update_job.errors import DeliveryFailed, InvalidUpdate
from update_job.message import JobUpdate
from update_job.publish import (
    DEFAULT_TIMEOUT,
    check_endpoint_host,
    parse_topic_arn,
    publish_params,
)
from update_job.spool import check_writable, deliver_or_spool

SUPERSEDED = "newer updates of the job sent through the spool already set all it sets"


@dataclass(frozen=True)
class Destination:
    topic_arn: str | None
    endpoint_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    spool_dir: Path | None = None
    best_effort: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Receipt:
    update: JobUpdate
    params: dict[str, Any]
    dry_run: bool = False
    message_id: str | None = None
    # Set when best effort let an undelivered update pass: why, and where it was spooled.
    problem: str | None = None
    spooled: Path | None = None

    def as_json(self) -> dict[str, Any]:
        receipt = {
            "message_id": self.message_id,
            "dry_run": self.dry_run,
            "message": json.loads(self.params["Message"]),
            "publish": self.params,
        }
        if self.spooled is not None:
            receipt["spooled"] = str(self.spooled)
        return receipt


def check_destination(update: JobUpdate, destination: Destination) -> dict[str, Any]:
    """The Publish parameters of `update`, once sure it can be sent (or spooled) there:
    InvalidUpdate otherwise, before anything is published."""
    if destination.topic_arn is None and not destination.dry_run:
        raise InvalidUpdate("no topic: give --topic-arn or set UPDATE_JOB_TOPIC_ARN")
    topic = None if destination.topic_arn is None else parse_topic_arn(destination.topic_arn)
    params = publish_params(update, topic)
    if destination.spool_dir is not None and not destination.dry_run:
        check_writable(destination.spool_dir)
    return params


def send_update(update: JobUpdate, destination: Destination) -> Receipt:
    """Publish `update`; InvalidUpdate before anything is sent, DeliveryFailed when it is not
    delivered (unless best effort, a signal aside, lets it pass: see Receipt.problem)."""
    params = check_destination(update, destination)
    if destination.dry_run:
        return Receipt(update, params, dry_run=True)
    if destination.endpoint_url:
        check_endpoint_host(destination.endpoint_url)
    try:
        # A signal cuts short the wait for SNS, never the spooling (see interrupts).
        with interrupts.recorded():
            message_id = deliver_or_spool(
                params, destination.endpoint_url, destination.timeout, destination.spool_dir
            )
    except DeliveryFailed as error:
        # A signal still ends the step: only a delivery problem is forgiven.
        if not destination.best_effort or error.exit_code > 128:
            raise
        lost = "" if error.spooled else "; no --spool: this update is lost"
        return Receipt(update, params, problem=f"{error}{lost}", spooled=error.spooled)
    if message_id is None:
        return Receipt(update, params, problem=SUPERSEDED)
    return Receipt(update, params, message_id=message_id)
