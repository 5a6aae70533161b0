"""Benchmark: `update-job replay` of a large spool, beside what botocore can do at best.

Starts moto_server on loopback, creates a FIFO topic with no subscription (moto's own
fan-out to a subscribed queue manages a few dozen messages a second, and would measure
moto, not update-job), spools BACKLOG updates of BACKLOG/3 jobs (three each) into a spool
directory, and times, as whole commands or loops on the same topic:

- `update-job replay DIR` (a process: start-up included);
- a one-client boto3 loop of Publish calls, one per update;
- boto3 PublishBatch, ten updates a call.

Run at two backlog sizes to show the cost is linear. Delivery and order are proven by the
tests (tests/test_spool.py, tests/test_ordering.py), through a subscribed queue, on a small
backlog; this only measures speed.

    .venv/bin/python bench/replay.py [--backlog 3000] [--check]

`--check` exits 1 if replay sends fewer than 1,000 updates a second. Nothing here talks to
anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localaws import LOCAL_AWS_ENV, MotoServer, client  # noqa: E402
from update_job.envelope import parse_topic_arn  # noqa: E402
from update_job.message import make_update  # noqa: E402
from update_job.outbox import Outbox, open_spool  # noqa: E402

TARGET = 1000.0  # updates a second
UPDATE_JOB = REPO / ".venv" / "bin" / "update-job"


def spool(directory: Path, topic_arn: str, endpoint: str, backlog: int) -> list[dict[str, Any]]:
    """`backlog` updates of backlog/3 jobs in their outboxes; their Publish parameters."""
    open_spool(directory)
    topic = parse_topic_arn(topic_arn)
    params = []
    for index in range(backlog):
        job = f"bench-job-{index % (backlog // 3)}"
        update = make_update(job, "running", progress=index * 100 // backlog)
        entry = Outbox(directory, job).append(update, topic, endpoint)
        assert entry is not None
        params.append(entry.params)
    return params


def time_replay(directory: Path, endpoint: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(UPDATE_JOB), "replay", str(directory), "--endpoint-url", endpoint],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"replay failed ({result.returncode}): {result.stderr[-2000:]}")
    return took


def time_boto3_loop(sns: Any, params: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for one in params:
        dedup = one["MessageDeduplicationId"][:-4] + "loop"  # not dropped as a repeat
        sns.publish(**{**one, "MessageDeduplicationId": dedup})
    return time.perf_counter() - started


def time_boto3_batch(sns: Any, topic_arn: str, params: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for start in range(0, len(params), 10):
        entries = [
            {
                "Id": str(index),
                "Message": one["Message"],
                "MessageAttributes": one["MessageAttributes"],
                "MessageGroupId": one["MessageGroupId"],
                "MessageDeduplicationId": one["MessageDeduplicationId"][:-5] + "batch",
            }
            for index, one in enumerate(params[start : start + 10])
        ]
        sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    return time.perf_counter() - started


def measure(server: MotoServer, backlog: int) -> dict[str, float]:
    sns = client("sns", server.url)
    topic_arn = sns.create_topic(
        Name=f"bench-{backlog}-{time.time_ns()}.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"},
    )["TopicArn"]
    with tempfile.TemporaryDirectory() as directory:
        params = spool(Path(directory), topic_arn, server.url, backlog)
        replay = time_replay(Path(directory), server.url)
    return {
        "update-job replay": backlog / replay,
        "boto3 Publish loop (one client)": backlog / time_boto3_loop(sns, params),
        "boto3 PublishBatch": backlog / time_boto3_batch(sns, topic_arn, params),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    os.environ.update(LOCAL_AWS_ENV)
    rows: dict[int, dict[str, float]] = {}
    with MotoServer() as server:
        for backlog in (args.backlog // 3, args.backlog):
            rows[backlog] = measure(server, backlog)
    sizes = sorted(rows)
    print(f"| updates/s | {' | '.join(f'{size:,} updates' for size in sizes)} |")
    print(f"|---|{'---|' * len(sizes)}")
    for name in rows[sizes[0]]:
        print(f"| {name} | {' | '.join(f'{rows[size][name]:,.0f}' for size in sizes)} |")
    rate = rows[sizes[-1]]["update-job replay"]
    small = rows[sizes[0]]["update-job replay"]
    print(json.dumps({"replay_per_s": round(rate), "linear_ratio": round(rate / small, 2)}))
    if args.check and rate < TARGET:
        print(f"replay: {rate:,.0f} updates/s, under the target of {TARGET:,.0f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
