"""A local SNS -> SQS endpoint shaped like production: moto_server on loopback, topics with
SQS queues subscribed (raw delivery off, so each queue message is an SNS envelope).

A development helper, not part of the package: the tests' fixtures, the demo, the "try it by
hand" scripts in demo/ and the benchmark import it (from the repository's root). It needs the
test extra (moto[server], boto3). Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

REGION = "us-east-1"
# Credentials and settings that keep every AWS client in a test on this machine: moto takes
# any key, the instance-metadata lookup (an address off this machine) is switched off, and
# the user's own AWS files and profiles are not read.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
UNSAFE_AWS_ENV = ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """moto_server on a free loopback port, for as long as the context lasts."""

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.env = env
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=None if self.env is None else {**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout} s")
        # moto loads a service on its first request, slowly enough under load to trip a
        # test's short client timeout: load SNS and SQS now.
        client("sns", self.url).list_topics()
        client("sqs", self.url).list_queues()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Delivery:
    """One message as the jobs-database consumer gets it from its queue."""

    message: dict[str, Any]  # json.loads(envelope["Message"]): what update-job published
    envelope: dict[str, Any]  # the SNS notification: Type, TopicArn, MessageAttributes, ...
    attributes: dict[str, str]  # SQS system attributes: MessageGroupId, MessageDeduplicationId


@dataclass
class Subscription:
    """An SNS topic with an SQS queue subscribed to it."""

    topic_arn: str
    queue_url: str
    endpoint_url: str
    region: str
    fifo: bool
    received: list[Delivery] = field(default_factory=list)

    def receive(self) -> list[Delivery]:
        """Everything the queue holds now, in the order it arrived (moto delivers at publish)."""
        sqs = client("sqs", self.endpoint_url, self.region)
        deliveries: list[Delivery] = []
        while True:
            reply = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = reply.get("Messages", [])
            if not messages:
                return deliveries
            for raw in messages:
                envelope = json.loads(raw["Body"])
                deliveries.append(
                    Delivery(json.loads(envelope["Message"]), envelope, raw.get("Attributes", {}))
                )
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])

    def statuses(self) -> list[str]:
        return [delivery.message["status"] for delivery in self.receive()]


def subscribe_queue(
    endpoint_url: str,
    *,
    fifo: bool,
    content_based_deduplication: bool = True,
    region: str = REGION,
    name: str | None = None,
) -> Subscription:
    """A new topic (FIFO ones with content-based deduplication, like production's unless
    told otherwise) and a queue subscribed to it."""
    base = name or f"jobs-{uuid.uuid4().hex[:12]}"
    suffix = ".fifo" if fifo else ""
    sns, sqs = client("sns", endpoint_url, region), client("sqs", endpoint_url, region)
    topic_attributes: dict[str, str] = {}
    queue_attributes: dict[str, str] = {}
    if fifo:
        topic_attributes = {
            "FifoTopic": "true",
            "ContentBasedDeduplication": str(content_based_deduplication).lower(),
        }
        queue_attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    topic_arn = sns.create_topic(Name=base + suffix, Attributes=topic_attributes)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=base + suffix, Attributes=queue_attributes)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
    )
    return Subscription(topic_arn, queue_url, endpoint_url, region, fifo)
