"""The demo: the example workflow against a local SNS -> SQS endpoint, and its updates.

Starts moto_server on 127.0.0.1 with a FIFO topic (content-based deduplication, like
production) and a queue subscribed to it, runs cwl/examples/granule-summary.cwl with
cwltool (no containers) against it, and prints the job's updates as the queue received
them. `--failure` also runs the job whose stage 1 fails. Nothing leaves this machine: the
credentials are moto's test ones, and the AWS settings of the caller are not used.

Run it with `bash demo/run.sh` (which sets up .venv first), or `.venv/bin/python demo/demo.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localaws import (  # noqa: E402
    LOCAL_AWS_ENV,
    UNSAFE_AWS_ENV,
    Delivery,
    MotoServer,
    Subscription,
    subscribe_queue,
)

EXAMPLES = ROOT / "cwl" / "examples"
WORKFLOW = EXAMPLES / "granule-summary.cwl"
BIN = Path(sys.executable).parent
# Lines of the steps' own logs worth showing (cwltool's are left out unless a run goes wrong).
STEP_LOG_PREFIXES = ("update-job:", "make-granules:", "summarise:")


def local_environment() -> dict[str, str]:
    """This process's environment with every AWS setting replaced by local test ones."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in UNSAFE_AWS_ENV
    }
    env.update(LOCAL_AWS_ENV)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_workflow(
    job_file: str, topic: Subscription, workdir: Path
) -> subprocess.CompletedProcess[str]:
    job: dict[str, Any] = YAML(typ="safe").load((EXAMPLES / job_file).read_text())
    job.update(jobs_data_sns_topic_arn=topic.topic_arn, endpoint_url=topic.endpoint_url)
    workdir.mkdir(parents=True, exist_ok=True)
    job_path = workdir / job_file.replace(".yml", ".json")
    job_path.write_text(json.dumps(job, indent=2))
    preserve = [arg for name in LOCAL_AWS_ENV for arg in ("--preserve-environment", name)]
    command = [
        str(BIN / "cwltool"),
        "--no-container",
        # The CWL files' schema.org metadata needs no checking here, nor a fetch from the web.
        "--skip-schemas",
        *preserve,
        "--outdir", str(workdir / "out"),
        "--tmpdir-prefix", str(workdir / "tmp-"),
        "--tmp-outdir-prefix", str(workdir / "tmp-out-"),
        str(WORKFLOW),
        str(job_path),
    ]  # fmt: skip
    print(f"\n$ cwltool --no-container {WORKFLOW.relative_to(ROOT)} {job_file} (+ local topic)")
    return subprocess.run(
        command, capture_output=True, text=True, env=local_environment(), check=False
    )


def clock(timestamp: str | None) -> str:
    """12:34:56.789 of an update's ISO 8601 UTC time; '-' when the update has none."""
    return timestamp[11:23] if timestamp else "-"


def print_updates(deliveries: list[Delivery]) -> None:
    columns = ("#", "status", "progress", "message", "start-time", "stop-time", "updated")
    rows = [(*columns, "exit", "dedup id")]
    for number, delivery in enumerate(deliveries, 1):
        message = delivery.message
        rows.append(
            (
                str(number),
                message["status"],
                str(message.get("progress", "-")),
                message.get("message", "-"),
                clock(message.get("start-time")),
                clock(message.get("stop-time")),
                clock(message.get("updated")),
                str(message.get("exit-code", "-")),
                delivery.attributes.get("MessageDeduplicationId", "-")[:12],
            )
        )
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns) + 2)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(("  " + "  ".join(cells)).rstrip())
    for delivery in deliveries:
        for field in ("inputs", "labels", "outputs"):
            if field in delivery.message:
                status = delivery.message["status"]
                print(f"  {status:<9} {field}: {json.dumps(delivery.message[field])}")


def demo_run(job_file: str, topic: Subscription, workdir: Path, expect: list[str]) -> bool:
    result = run_workflow(job_file, topic, workdir)
    for line in result.stderr.splitlines():
        if line.startswith(STEP_LOG_PREFIXES):
            print(f"  {line}")
    succeeded = expect[-1] == "succeeded"
    if succeeded:
        print(f"  cwltool exit status: {result.returncode}")
    else:
        print(
            f"  cwltool exit status: {result.returncode} (expected: a failed stage ends the run"
            " with exit status 1, after the `failed` update is published)"
        )
    deliveries = topic.receive()
    print(f"\nUpdates of the job, as the jobs database's queue received them ({topic.topic_arn}):")
    print_updates(deliveries)
    statuses = [delivery.message["status"] for delivery in deliveries]
    ok = statuses == expect and (result.returncode == 0) == succeeded
    if not ok:
        print(f"\ndemo: expected updates {expect}, got {statuses}; cwltool said:")
        print(result.stderr[-4000:])
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--failure", action="store_true", help="also run the job whose stage 1 fails"
    )
    args = parser.parse_args()
    # This process talks to moto only: test credentials, no instance metadata, no AWS files.
    for name in [name for name in os.environ if name.startswith("AWS_")] + list(UNSAFE_AWS_ENV):
        os.environ.pop(name, None)
    os.environ.update(LOCAL_AWS_ENV)

    print("Starting a local SNS -> SQS endpoint (moto_server on 127.0.0.1) ...")
    with MotoServer() as server, tempfile.TemporaryDirectory(prefix="update-job-demo-") as tmp:
        topic = subscribe_queue(server.url, fifo=True, name="jobs")
        print(f"  endpoint {server.url}, topic {topic.topic_arn}, queue subscribed")
        workdir = Path(tmp)
        ok = demo_run(
            "granule-summary.job.yml",
            topic,
            workdir / "success",
            ["running", "running", "succeeded"],
        )
        if args.failure:
            ok = (
                demo_run(
                    "granule-summary-fails.job.yml",
                    topic,
                    workdir / "failure",
                    ["running", "running", "failed"],
                )
                and ok
            )
        print("\nStopping the local endpoint.")
    if not ok:
        print("demo: FAILED")
    elif args.failure:
        print("demo: done; both runs ended as expected (the failure run with exit status 1)")
    else:
        print("demo: done")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
