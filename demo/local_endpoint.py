"""A local SNS -> SQS endpoint to try update-job by hand: runs until Ctrl-C.

Starts moto_server on 127.0.0.1 with a FIFO topic, `jobs.fifo` (content-based
deduplication, like production's), and a queue of the same name subscribed to it. Prints,
on stdout, the two `export` lines that point update-job at it: paste them into another
shell, then publish with `update-job` and read what arrived with `demo/received.py`.

The credentials it exports are moto's fake ones: use them in a shell kept for trying, not
in one holding real AWS credentials you still need. Nothing leaves this machine.

    .venv/bin/python demo/local_endpoint.py [--port N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localaws import LOCAL_AWS_ENV, UNSAFE_AWS_ENV, MotoServer, subscribe_queue  # noqa: E402

TOPIC_NAME = "jobs"
# What a shell needs to publish to the local topic: the topic, the endpoint, and fake
# credentials (botocore signs every request, and moto takes any key).
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
    "AWS_SECRET_ACCESS_KEY": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
}


def export_lines(topic_arn: str, endpoint_url: str) -> list[str]:
    def export(values: dict[str, str]) -> str:
        return "export " + " ".join(f"{name}={shlex.quote(v)}" for name, v in values.items())

    return [
        export({"UPDATE_JOB_TOPIC_ARN": topic_arn, "AWS_ENDPOINT_URL_SNS": endpoint_url}),
        # A real session token left in the shell would go with the fake key: unset it.
        export(FAKE_CREDENTIALS) + " && unset AWS_SESSION_TOKEN",
    ]


def stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    # This process and moto talk to each other only: fake credentials, no AWS files.
    for name in [name for name in os.environ if name.startswith("AWS_")] + list(UNSAFE_AWS_ENV):
        os.environ.pop(name, None)
    os.environ.update(LOCAL_AWS_ENV)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Ctrl-C stops it even when started by a shell that ignores SIGINT for its background
    # jobs (an ignored signal stays ignored across exec, and Python then keeps it so).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    print("local_endpoint: starting moto_server on 127.0.0.1 ...", file=sys.stderr, flush=True)
    try:
        with MotoServer(port=args.port) as server:
            topic = subscribe_queue(server.url, fifo=True, name=TOPIC_NAME)
            print(
                f"local_endpoint: topic {topic.topic_arn} with queue {topic.queue_url} "
                f"subscribed, at {server.url}\n"
                "local_endpoint: paste these two lines into another shell, then publish with "
                "update-job and read the queue with `python demo/received.py`:",
                file=sys.stderr,
            )
            for line in export_lines(topic.topic_arn, server.url):
                print(line)
            sys.stdout.flush()
            print("local_endpoint: running; Ctrl-C stops it.", file=sys.stderr, flush=True)
            signal.pause()  # until Ctrl-C (SIGINT) or SIGTERM
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:  # moto_server did not start
        print(f"local_endpoint: error: {error}", file=sys.stderr)
        return 1
    print("local_endpoint: stopped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
