"""Trying update-job by hand, as a newcomer does: demo/local_endpoint.py started, its export
lines evaluated in a shell that has no AWS settings of its own, update-job publishing, and
demo/received.py reading the updates back; and the demo with its failure run."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cwlrun import warnings_but_schema_org

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = str(Path(sys.executable).parent)


def newcomer_env() -> dict[str, str]:
    """A shell with no AWS settings that would let update-job work without the exports;
    still nothing that could reach AWS (no config files, no instance metadata, and the
    general endpoint a closed loopback port)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "UPDATE_JOB_"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_SESSION_TOKEN="a-stale-token-the-exports-unset",
    )
    return env


def read_lines(process: subprocess.Popen[str], count: int, timeout: float) -> list[str]:
    """The first `count` lines of the process's stdout (read by a thread: a buffered
    readline cannot be bounded in time)."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        try:
            got.append(lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip("\n"))
        except queue.Empty:
            pytest.fail(f"local_endpoint.py printed {got} in {timeout} s", pytrace=False)
    return got


def port_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def local_endpoint() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "demo" / "local_endpoint.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=newcomer_env(),
    )
    try:
        yield process, read_lines(process, 2, timeout=90)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_publish_to_the_local_endpoint_and_read_it_back(
    local_endpoint: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, exports = local_endpoint
    assert all(line.startswith("export ") for line in exports), exports
    script = "\n".join(
        [
            *exports,
            "set -e",
            'test -z "${AWS_SESSION_TOKEN:-}"',
            "update-job --job-id try-1 --status running --start-time now --label by-hand",
            "update-job --job-id try-1 --status running --progress 50",
            "update-job --job-id try-1 --exit-code 0",
            f"{PYTHON} demo/received.py --wait 10",
            'echo "topic=$UPDATE_JOB_TOPIC_ARN endpoint=$AWS_ENDPOINT_URL_SNS"',
        ]
    )
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    *message_ids, first, middle, last, where = result.stdout.splitlines()
    assert len(message_ids) == 3
    messages = [json.loads(line) for line in (first, middle, last)]
    assert [(m["id"], m["status"]) for m in messages] == [
        ("try-1", "running"),
        ("try-1", "running"),
        ("try-1", "succeeded"),
    ]
    assert messages[0]["labels"] == ["by-hand"]
    assert messages[1]["progress"] == 50
    assert messages[2]["exit-code"] == 0
    topic, endpoint = (part.split("=", 1)[1] for part in where.split())
    assert topic.endswith(".fifo")
    assert urlsplit(endpoint).hostname == "127.0.0.1"

    # Ctrl-C stops the endpoint: the script exits 0 and moto_server is gone.
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not port_answers(endpoint)


def run_received(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(ROOT / "demo" / "received.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_received_says_what_to_set_first() -> None:
    result = run_received(newcomer_env())
    assert result.returncode == 2
    assert "UPDATE_JOB_TOPIC_ARN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_received_reads_only_a_local_endpoint() -> None:
    env = {
        **newcomer_env(),
        "UPDATE_JOB_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:jobs.fifo",
        "AWS_ENDPOINT_URL_SNS": "https://sns.us-east-1.amazonaws.com",
    }
    result = run_received(env)
    assert result.returncode == 2
    assert "not a local endpoint" in result.stderr


def test_received_says_plainly_when_nothing_arrived_and_why_it_may_be(
    local_endpoint: tuple[subprocess.Popen[str], list[str]],
) -> None:
    """Nothing published (as when a container could not reach the host's loopback): the
    line says so, and how a container reaches the endpoint."""
    _, exports = local_endpoint
    result = subprocess.run(
        ["bash", "-c", "\n".join([*exports, f"{PYTHON} demo/received.py"])],
        cwd=ROOT,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("received: no update arrived from arn:aws:sns:")
    assert "--network host" in line and "--custom-net=host" in line


def test_demo_failure_run_says_exit_status_1_is_expected() -> None:
    result = subprocess.run(
        [PYTHON, str(ROOT / "demo" / "demo.py"), "--failure"],
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "cwltool exit status: 0" in out
    assert "cwltool exit status: 1 (expected:" in out
    assert out.rstrip().endswith("(the failure run with exit status 1)")


def test_the_cwltool_recipe_in_the_docs_publishes_to_the_local_endpoint(
    local_endpoint: tuple[subprocess.Popen[str], list[str]],
) -> None:
    """docs/cwl.md's cwltool block, pasted after the export lines, as it is written."""
    doc = (ROOT / "docs" / "cwl.md").read_text()
    [block] = [
        block.split("```", 1)[0]
        for block in doc.split("```bash\n")[1:]
        if "demo/local_endpoint.py" in block.split("```", 1)[0]
    ]
    assert "--outdir" in block and "AWS_SESSION_TOKEN \\" not in block
    _, exports = local_endpoint
    result = subprocess.run(
        ["bash", "-e", "-c", "\n".join([*exports, block])],
        cwd=ROOT,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # No warning (e.g. cwltool on a preserved variable that is unset) but that schema.org's
    # vocabulary, which the files' metadata names, is not fetched to check it, and the end
    # update's, which the doc announces: the stages' outputs it publishes are in cwltool's
    # temporary directories.
    warnings = warnings_but_schema_org(result.stderr)
    temporary = [w for w in warnings if "is in a temporary directory of this machine" in w]
    assert temporary, result.stderr[-4000:]
    assert [w for w in warnings if w not in temporary] == []
    assert "end update warns that" in doc
    # received.py's lines (cwltool's output object before them ends without a newline)
    received = [
        json.loads(line[line.index('{"id"') :])
        for line in result.stdout.splitlines()
        if '{"id"' in line
    ]
    assert [message["status"] for message in received] == ["running", "running", "succeeded"]
    assert {message["id"] for message in received} == {"example-success-1"}
