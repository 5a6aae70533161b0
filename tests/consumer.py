"""The jobs database's consumer, as the tests need it: how a job's document comes out of the
messages it receives, in the order it receives them.

Unity's ingest Lambda indexes a `submitted` message (the document is replaced by it) and
updates the document with any other (an Elasticsearch partial update: objects merge field
by field, anything else is replaced), failing when the document does not exist. As
docs/consumer.md asks of it, it compares no clocks: it drops a message whose `sequence` is
lower than the document's (both carrying one), and a non-final status for a finished job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class MissingDocument(LookupError):
    """An update for a job the index does not hold: the consumer's update fails."""


def merged(stored: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """Elasticsearch's merge of a partial document into a stored one."""
    result = dict(stored)
    for key, value in partial.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


FINAL = frozenset({"succeeded", "failed"})


def stale(message: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether `message` is not to be applied to the stored `document`: an earlier update of
    the job's outbox than the one the document has, or a non-final status for a finished
    job (`submitted` aside: the processing server submitting the job again)."""
    new, stored = message.get("sequence"), document.get("sequence")
    if new is not None and stored is not None and new < stored:
        return True
    reopens = message["status"] not in FINAL and message["status"] != "submitted"
    return reopens and document.get("status") in FINAL


def apply(document: dict[str, Any] | None, message: dict[str, Any]) -> dict[str, Any]:
    if document is not None and stale(message, document):
        return document
    if message["status"] == "submitted":
        return dict(message)
    if document is None:
        raise MissingDocument(f"no document for job {message['id']}: the update fails")
    return merged(document, message)


def document_after(
    messages: Iterable[dict[str, Any]], document: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The job's document once the consumer has applied `messages` in order to `document`."""
    for message in messages:
        document = apply(document, message)
    return document
