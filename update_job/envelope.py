"""The SNS Publish parameters around an update: topic, attributes, FIFO ids. Pure: no I/O
but botocore's partition data, read once."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from update_job.errors import InvalidUpdate
from update_job.message import JobUpdate

# SNS takes at most 256 KiB per message, its attributes included.
MAX_MESSAGE_BYTES = 262_144

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


@functools.cache
def parse_topic_arn(arn: str) -> Topic:
    """The topic `arn` names; InvalidUpdate if it names none. Cached: parsed once a process."""
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


def is_listed_region(region: str) -> bool:
    """Whether botocore's partition data lists `region` (an older botocore may not list the
    newest regions: a hint for an error, never a reason to refuse)."""
    return any(region in partition["regions"] for partition in aws_partitions())


def make_envelope(update: JobUpdate, topic: Topic | None) -> dict[str, Any]:
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
        raise InvalidUpdate(f"invalid update: cannot be written as JSON ({problem})") from error
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
