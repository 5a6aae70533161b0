"""Print the updates that the local endpoint's queue received, one JSON message a line.

Reads the topic and endpoint that `demo/local_endpoint.py` exported (UPDATE_JOB_TOPIC_ARN,
AWS_ENDPOINT_URL_SNS), finds the queue subscribed to the topic, and takes every message it
holds, oldest first, as the jobs database's consumer would: each line is the update as
update-job published it (`json.loads(envelope["Message"])`). Taken messages are deleted, so
a second run prints only what arrived since. Reads a loopback endpoint only.

    .venv/bin/python demo/received.py [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from localaws import Delivery, Subscription, client  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# What an empty queue most likely means, said once nothing arrived.
NOTHING_ARRIVED = (
    "received: no update arrived from {topic_arn} since the last read (each read takes what "
    "it prints). Was update-job run with these exports, and did it print a message id? In a "
    "container (the image run by hand, or cwltool --podman/--docker) 127.0.0.1 is the "
    "container itself, not this machine: run it with --network host (cwltool: "
    "--custom-net=host) so that it reaches {endpoint_url}."
)


def subscribed_queue(topic_arn: str, endpoint_url: str) -> Subscription:
    """The topic's SQS subscription, as a localaws Subscription (moto serves SQS too)."""
    region = topic_arn.split(":")[3]
    sns = client("sns", endpoint_url, region)
    queue_arns = [
        subscription["Endpoint"]
        for subscription in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        if subscription["Protocol"] == "sqs"
    ]
    if not queue_arns:
        raise SystemExit(f"received: no queue is subscribed to {topic_arn}")
    queue_name = queue_arns[0].rsplit(":", 1)[1]
    queue_url = client("sqs", endpoint_url, region).get_queue_url(QueueName=queue_name)
    return Subscription(
        topic_arn, queue_url["QueueUrl"], endpoint_url, region, topic_arn.endswith(".fifo")
    )


def receive(subscription: Subscription, wait: float) -> list[Delivery]:
    """Everything the queue holds; if it is empty, poll for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        deliveries = subscription.receive()
        if deliveries or time.monotonic() >= deadline:
            return deliveries
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a first update (default 0)"
    )
    args = parser.parse_args()
    topic_arn = os.environ.get("UPDATE_JOB_TOPIC_ARN", "")
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL_SNS", "")
    if not topic_arn or not endpoint_url:
        print(
            "received: set UPDATE_JOB_TOPIC_ARN and AWS_ENDPOINT_URL_SNS first: paste the "
            "export lines that `python demo/local_endpoint.py` printed",
            file=sys.stderr,
        )
        return 2
    if urlsplit(endpoint_url).hostname not in LOOPBACK:
        print(f"received: {endpoint_url} is not a local endpoint (127.0.0.1)", file=sys.stderr)
        return 2
    try:
        deliveries = receive(subscribed_queue(topic_arn, endpoint_url), args.wait)
    except (BotoCoreError, ClientError) as error:
        print(f"received: error: {error} (is demo/local_endpoint.py running?)", file=sys.stderr)
        return 1
    for delivery in deliveries:
        print(json.dumps(delivery.message, ensure_ascii=False))
    if not deliveries:
        print(
            NOTHING_ARRIVED.format(topic_arn=topic_arn, endpoint_url=endpoint_url), file=sys.stderr
        )
    else:
        print(f"received: {len(deliveries)} update(s) from {topic_arn}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
