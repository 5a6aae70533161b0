"""`update-job run` against hostile children and endpoints: the command always runs, and
its final update always goes (delivered, or spooled)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    UNREACHABLE_TOPIC,
    UPDATE_JOB,
    LocalTopics,
    RunCommand,
    run_update_job,
    seed,
    spooled_files,
    started_update_job,
    topic_args,
    wait_until,
)
from update_job.supervise import last_json_object

PYTHON = sys.executable


class EmptyReplies(http.server.BaseHTTPRequestHandler):
    """Answers every request 200 with an empty body: a reply botocore cannot make a
    MessageId of."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def empty_replies() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EmptyReplies)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_replies_that_make_no_sense_never_stop_the_command(
    empty_replies: str, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    ran = tmp_path / "ran"
    result = update_job(
        "run", "--job-id", "job-1", *topic_args(UNREACHABLE_TOPIC, empty_replies),
        "--timeout", "2", "--spool", str(spool_dir),
        "--heartbeat", "0.3",
        "--", PYTHON, "-c", f"import time; open({str(ran)!r}, 'w').close(); time.sleep(1.5)",
    )  # fmt: skip
    assert ran.exists()
    # The command succeeded; its final update was kept, not delivered: exit 1, loudly.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "final update not delivered" in result.stderr
    statuses = [
        json.loads(json.loads(path.read_text())["params"]["Message"])["status"]
        for path in spooled_files(spool_dir)
    ]
    assert statuses[0] == "running"
    assert statuses[-1] == "succeeded"


def run_args(testbed: LocalTopics, *args: str) -> list[str]:
    return [
        "run", "--job-id", "job-2", *topic_args(testbed.standard), "--timeout", "10", *args,
    ]  # fmt: skip


def test_megabytes_of_object_like_lines_are_scanned_in_one_pass(
    testbed: LocalTopics, update_job: RunCommand
) -> None:
    # 8 MiB of lines that start like a JSON object and are not one: every one of them was
    # once decoded to the end of the output, which took many minutes.
    child = "import sys; sys.stdout.write('{\"a\": [1,\\n' * 900_000)"
    result = update_job(
        *run_args(testbed, "--outputs-from-stdout"), "--", PYTHON, "-c", child, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no JSON object on the command's stdout" in result.stderr
    _, final = (delivery.message for delivery in testbed.standard.receive())
    assert final["status"] == "succeeded"
    assert "outputs" not in final


def test_the_output_object_is_found_after_megabytes_of_other_lines() -> None:
    junk = b'{"a": [1,\n' * 500_000
    printed = junk + json.dumps({"out": {"class": "File", "location": "file:///x"}}).encode()
    assert last_json_object(printed + b"\n") == {"out": {"class": "File", "location": "file:///x"}}
    assert last_json_object(junk) is None
    assert last_json_object(b"") is None
    assert last_json_object(b'{"whole": 1}') == {"whole": 1}


@pytest.mark.parametrize("depth", [900, 200_000])
def test_deeply_nested_output_never_stops_the_final_update(
    testbed: LocalTopics, update_job: RunCommand, depth: int
) -> None:
    child = f"print('{{\"a\":' * {depth} + '1' + '}}' * {depth})"
    result = update_job(
        *run_args(testbed, "--outputs-from-stdout"), "--", PYTHON, "-c", child, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    _, final = (delivery.message for delivery in testbed.standard.receive())
    assert final["status"] == "succeeded"
    if "outputs" not in final:
        assert "update-job: warning:" in result.stderr


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # dead, waiting for its (new) parent to reap it


def test_a_command_that_ignores_sigterm_is_killed_with_its_group(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    grandchild = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    )
    child = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"p = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(300)\n"
    )
    command = [*run_args(testbed, "--kill-after", "1"), "--", PYTHON, "-c", child]
    with started_update_job(*command) as process:
        wait_until(
            lambda: pid_file.exists() and pid_file.read_text() != "",
            "the grandchild's pid",
            within=30,
            poll=0.05,
        )
        grandchild_pid = int(pid_file.read_text())
        time.sleep(0.3)  # let the grandchild ignore SIGTERM too
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "still runs 1 s after SIGTERM: killing it" in stderr
    running, failed = (delivery.message for delivery in testbed.standard.receive())
    assert running["status"] == "running"
    assert failed["status"] == "failed"
    assert failed["exit-code"] == 128 + signal.SIGTERM
    assert "killed after 1 s" in failed["message"]
    wait_until(lambda: process_gone(grandchild_pid), "the grandchild's end", within=10, poll=0.1)


def test_a_helper_that_ignores_sigterm_is_killed_after_the_command_exits(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    """The command stops at SIGTERM, but a process it started, in its group, ignores it:
    the group is killed once --kill-after has passed, and the command's own exit is what
    the final update reports."""
    pid_file = tmp_path / "helper.pid"
    helper = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    child = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {helper!r}])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(300)\n"  # SIGTERM ends it
    )
    command = [*run_args(testbed, "--kill-after", "1"), "--", PYTHON, "-c", child]
    with started_update_job(*command) as process:
        wait_until(
            lambda: pid_file.exists() and pid_file.read_text() != "",
            "the helper's pid",
            within=30,
            poll=0.05,
        )
        helper_pid = int(pid_file.read_text())
        time.sleep(0.3)  # let the helper ignore SIGTERM
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "still run 1 s after SIGTERM: killing them" in stderr
    assert "Traceback" not in stderr
    running, failed = (delivery.message for delivery in testbed.standard.receive())
    assert (running["status"], failed["status"]) == ("running", "failed")
    assert "killed by SIGTERM" in failed["message"]
    wait_until(lambda: process_gone(helper_pid), "the helper's end", within=10, poll=0.1)


def test_replay_goes_on_past_a_reply_that_makes_no_sense(
    empty_replies: str, testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    for job, endpoint in (("job-a", empty_replies), ("job-b", testbed.endpoint_url)):
        seed(tmp_path, testbed.standard.topic_arn, endpoint, job, "running")
    result = update_job("replay", str(tmp_path), "--timeout", "2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [left] = [line for line in result.stdout.splitlines() if line.startswith("left")]
    assert any(words in left for words in ("could not publish", "unreadable reply", "unexpected"))
    assert [d.message["id"] for d in testbed.standard.receive()] == ["job-b"]
    assert len(spooled_files(tmp_path)) == 1


def test_a_spool_lost_while_the_command_runs_does_not_cost_the_final_update(
    testbed: LocalTopics, update_job: RunCommand, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    # The command itself puts a file where the spool directory was.
    child = (
        f"import shutil; shutil.rmtree({str(spool_dir)!r}); open({str(spool_dir)!r}, 'w').close()"
    )
    result = update_job(
        *run_args(testbed, "--spool", str(spool_dir)), "--", PYTHON, "-c", child
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        f"final update sent without the spool: spool directory {spool_dir} refused: not a directory"
    ) in result.stderr
    statuses = [delivery.message["status"] for delivery in testbed.standard.receive()]
    assert statuses == ["running", "succeeded"]


def test_a_command_whose_path_is_not_utf8_still_runs_and_is_reported(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    command = os.fsencode(tmp_path) + b"/c\xffd"
    Path(os.fsdecode(command)).write_text("#!/bin/sh\necho ran\n")
    os.chmod(command, 0o700)
    result = run_update_job(
        "run", "--job-id", "bytes-1", *topic_args(testbed.fifo), "--", os.fsdecode(command)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ran\n"
    assert testbed.fifo.statuses() == ["running", "succeeded"]


def test_a_spool_that_cannot_take_an_update_says_spooling_failed_and_why(
    testbed: LocalTopics, tmp_path: Path
) -> None:
    # Files of at most 512 bytes (ulimit -f 1): the spool's marker fits, an update does not.
    spool_dir = tmp_path / "spool"
    args = [*run_args(testbed, "--spool", str(spool_dir)), "--", PYTHON, "-c", "pass"]
    result = subprocess.run(
        ["sh", "-c", 'ulimit -f 1 && exec "$@"', "sh", UPDATE_JOB, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "no --spool" not in result.stderr
    start, final = [line for line in result.stderr.splitlines() if "spooling failed" in line]
    assert start.startswith("update-job: warning: not delivered: spooling failed: could not ")
    assert "(File too large)" in start
    assert final.startswith("update-job: warning: final update sent without the spool: ")
    # The final update still went, without the spool.
    assert [d.message["status"] for d in testbed.standard.receive()] == ["succeeded"]
