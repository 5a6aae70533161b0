"""Every bad input: one line on stderr, exit 2, and nothing published."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localaws import Subscription
from tests.conftest import (
    UNREACHABLE_TOPIC,
    UPDATE_JOB,
    LocalTopics,
    RunCommand,
    run_update_job,
    spooled_files,
    topic_args,
)
from update_job.cli import cli
from update_job.errors import InvalidUpdate
from update_job.message import make_update

Invoke = Callable[..., Result]
RUNNING = ("--job-id", "job-1", "--status", "running")

BAD_INPUTS: list[tuple[tuple[str, ...], str]] = [
    (("--status", "running"), "Missing option '--job-id'"),
    (("--job-id", "", "--status", "running"), "invalid job id: must not be empty"),
    (("--job-id", "   ", "--status", "running"), "invalid job id: must not be empty"),
    (("--job-id", "a\nb", "--status", "running"), "invalid job id: must not contain control"),
    (("--job-id", "x" * 513, "--status", "running"), "invalid job id: must be at most 512 bytes"),
    (("--job-id", "job-1", "--status", "done"), "unknown status 'done': use one of submitted"),
    (("--job-id", "job-1"), "no status: give --status or --exit-code"),
    (("--job-id", "job-1", "--exit-code", "three"), "'three' is not a valid integer"),
    ((*RUNNING, "--inputs", '{"a":'), "--inputs: not valid JSON (Expecting value at line 1"),
    ((*RUNNING, "--inputs", "[1, 2]"), "--inputs must be a JSON object, not an array"),
    ((*RUNNING, "--outputs", '"text"'), "--outputs: a string; expected a JSON object"),
    ((*RUNNING, "--outputs", "null"), "--outputs: null; expected a JSON object"),
    ((*RUNNING, "--inputs", '{"a": NaN}'), "--inputs: NaN is not valid JSON"),
    ((*RUNNING, "--outputs", "@/no/such/file.json"), "--outputs: cannot read /no/such/file.json"),
    ((*RUNNING, "--inputs", "@/"), "--inputs: cannot read /: Is a directory"),
    (
        (*RUNNING, "--progress", "150"),
        "invalid progress: input should be less than or equal to 100",
    ),
    (
        (*RUNNING, "--progress", "-1"),
        "invalid progress: input should be greater than or equal to 0",
    ),
    ((*RUNNING, "--progress", "half"), "invalid progress:"),
    ((*RUNNING, "--progress", "nan"), "invalid progress:"),
    ((*RUNNING, "--start-time", "yesterday"), "invalid start-time: 'yesterday' is not now, or"),
    ((*RUNNING, "--label", ""), "invalid labels: string should have at least 1 character"),
    ((*RUNNING, "--user-id", "me\x07"), "invalid user-id: must not contain control characters"),
    ((*RUNNING, "--timeout", "0"), "Invalid value for '--timeout'"),
    ((*RUNNING, "--colour", "red"), "No such option '--colour'"),
]


@pytest.mark.parametrize(("args", "error"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_published(
    testbed: LocalTopics, invoke: Invoke, args: tuple[str, ...], error: str
) -> None:
    for topic in (testbed.standard, testbed.fifo):
        result = invoke(*args, *topic_args(topic))
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: ")
        assert error in line
        assert result.stdout == ""
        assert topic.receive() == []


@pytest.mark.parametrize(
    "arn",
    [
        "jobs",
        "arn:aws:sqs:us-east-1:123456789012:jobs",
        "arn:aws:sns::123456789012:jobs",
        "arn:aws:sns:us-east-1:1234:jobs",
        "arn:aws:sns:us-east-1:123456789012:",
        "arn:aws:sns:us-east-1:123456789012:bad name",
        "arn:aws:sns:us-east-1:123456789012:jobs.fifo.fifo",
    ],
)
def test_malformed_topic_arn(invoke: Invoke, arn: str) -> None:
    result = invoke(*RUNNING, "--topic-arn", arn)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: invalid topic ARN {arn!r}: expected arn:aws:sns:REGION:ACCOUNT:TOPIC"
    ]


def test_no_topic_outside_a_dry_run(invoke: Invoke) -> None:
    result = invoke(*RUNNING)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "update-job: error: no topic: give --topic-arn or set UPDATE_JOB_TOPIC_ARN"
    ]


def test_oversize_message_names_its_size_and_the_limit(
    testbed: LocalTopics, invoke: Invoke, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"blob": "' + "x" * 262_144 + '"}')
    result = invoke(
        *RUNNING, "--inputs", f"@{inputs}",
        *topic_args(testbed.fifo),
    )  # fmt: skip
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: message too large: 262,")
    assert "over the SNS limit of 262,144 bytes" in line
    assert testbed.fifo.receive() == []


def test_message_just_under_the_limit_is_delivered(testbed: LocalTopics, invoke: Invoke) -> None:
    probe = invoke(*RUNNING, "--dry-run", "--inputs", '{"blob": ""}')
    assert probe.exit_code == 0
    # The size without the blob tells how much blob fits: updated's digits never change length.
    from update_job.envelope import message_size

    base = message_size(json.loads(probe.stdout)["publish"])
    blob = "x" * (262_144 - base)
    ok = invoke(
        *RUNNING, "--inputs", f'{{"blob": "{blob}"}}',
        *topic_args(testbed.standard),
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    [delivery] = testbed.standard.receive()
    assert delivery.message["inputs"]["blob"] == blob
    over = invoke(*RUNNING, "--dry-run", "--inputs", f'{{"blob": "{blob}x"}}')
    assert over.exit_code == 2


def test_unicode_job_id_works_on_a_standard_topic_but_not_as_a_fifo_group(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    args = ("--job-id", "jöb-ünïcode", "--status", "running")
    assert invoke(*args, *topic_args(testbed.standard)).exit_code == 0
    assert [d.message["id"] for d in testbed.standard.receive()] == ["jöb-ünïcode"]
    result = invoke(*args, *topic_args(testbed.fifo))
    assert result.exit_code == 2
    assert "invalid job id for a FIFO topic" in result.stderr
    assert testbed.fifo.receive() == []


def test_no_traceback_from_the_installed_command(update_job: RunCommand) -> None:
    result = update_job("--job-id", "job-1", "--status", "nope", "--dry-run")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "update-job: error: invalid status: unknown status 'nope': use one of submitted, "
        "running, succeeded, failed (a deployment adds its own with --extra-statuses or "
        "UPDATE_JOB_EXTRA_STATUSES)"
    ]


def test_no_arguments_shows_the_help(update_job: RunCommand) -> None:
    result = update_job()
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: update-job [OPTIONS] COMMAND [ARGS]...\n")
    assert "  publish  Publish one update of a job" in result.stderr


# ----------------------------------------------------------------- hostile and absurd input

BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "1e300", "86401", "0", "-1", "ten"]


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_a_timeout_or_heartbeat_that_is_no_sane_number(
    testbed: LocalTopics, invoke: Invoke, value: str
) -> None:
    topic = topic_args(testbed.fifo)
    for args in (
        (*RUNNING, "--timeout", value, *topic),
        ("run", "--job-id", "job-1", "--heartbeat", value, *topic, "--", "true"),
        ("run", "--job-id", "job-1", "--timeout", value, *topic, "--", "true"),
        ("replay", "--timeout", value, "/nonexistent"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: Invalid value for '--")
    assert testbed.fifo.receive() == []


def test_a_timeout_from_the_environment_is_checked_too(update_job: RunCommand) -> None:
    env = {**os.environ, "UPDATE_JOB_TIMEOUT": "nan"}
    result = update_job(*RUNNING, "--dry-run", env=env)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: Invalid value for '--timeout'")


def refused_quickly(update_job: RunCommand, *args: str, stdin: str | None = None) -> str:
    """Run update-job (which must not block: the test's timeout would fail it); its one line."""
    result = update_job(*RUNNING, "--dry-run", *args, input=stdin, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("update-job: error: ")
    return line


def test_a_fifo_is_refused_without_waiting_for_a_writer(
    update_job: RunCommand, tmp_path: Path
) -> None:
    fifo = tmp_path / "inputs.fifo"
    os.mkfifo(fifo)
    line = refused_quickly(update_job, "--inputs", f"@{fifo}")
    assert line == f"update-job: error: --inputs: cannot read {fifo}: not a regular file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_without_reading_it(update_job: RunCommand, device: str) -> None:
    line = refused_quickly(update_job, "--outputs", f"@{device}")
    assert line == f"update-job: error: --outputs: cannot read {device}: not a regular file"


def test_a_huge_file_is_refused_without_reading_it(update_job: RunCommand, tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as file:
        file.truncate(64 * 1024**3)  # sparse: 64 GiB that take no room
    line = refused_quickly(update_job, "--inputs", f"@{huge}")
    assert line == (
        f"update-job: error: --inputs: {huge} is over 4 MiB (an update carries at most 256 KiB)"
    )


def test_huge_stdin_is_read_no_further_than_the_limit(update_job: RunCommand) -> None:
    line = refused_quickly(update_job, "--inputs", "@-", stdin=" " * (5 * 1024**2))
    assert (
        line
        == "update-job: error: --inputs: stdin is over 4 MiB (an update carries at most 256 KiB)"
    )


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b'{"name": "caf\xe9"}')
    cases: list[tuple[list[bytes], bytes | None, str]] = [
        ([b"--message", b"caf\xe9"], None, "Invalid value for '--message': not valid UTF-8 text"),
        ([b"--user-id", b"\xff\xfe"], None, "Invalid value for '--user-id': not valid UTF-8 text"),
        ([b"--label", b"l\x80"], None, "Invalid value for '--label': not valid UTF-8 text"),
        ([b"--inputs", b'{"a": "\xc3"}'], None, "--inputs: text that is not valid Unicode"),
        (
            [b"--inputs", b"@-"],
            b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
            "--inputs: stdin is not UTF-8 text (byte 0xed at offset 7)",
        ),
        (
            [b"--outputs", b"@" + bytes(not_utf8)],
            None,
            f"--outputs: {not_utf8} is not UTF-8 text (byte 0xe9 at offset 13)",
        ),
    ]
    for args, stdin, error in cases:
        command = [UPDATE_JOB.encode(), *(arg.encode() for arg in RUNNING), b"--dry-run", *args]
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=30, check=False)
        assert result.returncode == 2, (args, result.stderr)
        [line] = result.stderr.decode().splitlines()
        assert line.startswith(f"update-job: error: {error}"), line
        assert result.stdout == b""


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ('{"a": "\\ud800"}', "--inputs: text that is not valid Unicode"),
        ('{"\\udfff": 1}', "--inputs: text that is not valid Unicode"),
        ('{"a": 1e400}', "--inputs: number 1e400 is too large"),
        ('{"a": [-1e999]}', "--inputs: number -1e999 is too large"),
        ('{"a": ' + "9" * 5000 + "}", "--inputs: Exceeds the limit (4300 digits)"),
        ('{"a": ' + "[" * 101 + "]" * 101 + "}", "--inputs: nested deeper than 100 levels"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "--inputs: nested deeper than 100"),
    ],
    ids=["surrogate", "surrogate-key", "1e400", "-1e999", "huge-int", "deep", "deeper"],
)
def test_json_the_message_could_not_carry(invoke: Invoke, value: str, error: str) -> None:
    result = invoke(*RUNNING, "--dry-run", "--inputs", value)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"update-job: error: {error}"), line


def test_json_nested_to_the_limit_is_published_whole(invoke: Invoke) -> None:
    deep = '{"a": ' + "[" * 99 + "]" * 99 + "}"
    result = invoke(*RUNNING, "--dry-run", "--inputs", deep)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["message"]["inputs"] == json.loads(deep)


def run_cli(*args: str) -> Result:
    """update-job in this process (the `invoke` fixture, for hypothesis's many examples)."""
    return CliRunner().invoke(cli, list(args), prog_name="update-job")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None, exclude_categories=())),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)


def carries(value: object) -> bool:
    """Whether the message can carry `value` as it is."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, list):
        return all(carries(item) for item in value)
    if isinstance(value, dict):
        return all(carries(key) and carries(item) for key, item in value.items())
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON_VALUES)
def test_any_json_inputs_round_trip_or_are_refused_in_one_line(value: object) -> None:
    # NaN and infinities are written as the JSON extensions Python knows (NaN, Infinity),
    # and text as escapes, lone surrogates included: what a hostile file may hold.
    text = json.dumps({"value": value})
    result = run_cli(*RUNNING, "--dry-run", "--inputs", text)
    if carries(value):
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["message"]["inputs"] == json.loads(text)
    else:
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: --inputs: ")


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=12))
def test_any_bytes_as_a_message_are_sent_as_utf8_or_refused(data: bytes) -> None:
    message = os.fsdecode(data)  # as Python hands the command line to update-job
    result = run_cli(*RUNNING, "--dry-run", "--message", message)
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines() == [
            "update-job: error: Invalid value for '--message': not valid UTF-8 text "
            "(see 'update-job publish --help')"
        ]
    else:
        if "\x00" in expected:  # a command line cannot hold NUL, click's runner can
            return
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["message"]["message"] == expected


# ------------------------------------------------------------------------------ timestamps

ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00", "9999-12-31T23:59:59-01:00"]
)
def test_a_timestamp_that_falls_outside_years_1_to_9999_in_utc(invoke: Invoke, value: str) -> None:
    result = invoke(*RUNNING, "--dry-run", "--start-time", value)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "update-job: error: invalid start-time: out of range: in UTC it falls before year 1 "
        "or after 9999"
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00.000Z"),
        ("0999-12-31T23:59:59.9999+00:00", "0999-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ],
)
def test_years_before_1000_are_written_with_four_digits(
    invoke: Invoke, value: str, written: str
) -> None:
    result = invoke(*RUNNING, "--dry-run", "--start-time", value)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["message"]["start-time"] == written


@pytest.mark.parametrize(
    "value", ["0", "12", "-1", "3.5", "99999999999", "1700000000", "yesterday"]
)
def test_a_start_time_is_now_or_iso_8601_never_a_number(invoke: Invoke, value: str) -> None:
    # A number would otherwise be read as a Unix time (1970), or past some size as
    # milliseconds: never what a step means.
    result = invoke(*RUNNING, "--dry-run", "--start-time", value)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: invalid start-time: {value!r} is not now, or an ISO 8601 time "
        "such as 2026-11-28T10:15:00Z (without a zone: UTC)"
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("2026-11-28", "2026-11-28T00:00:00.000Z"),
        ("2026-11-28T10:15:00Z", "2026-11-28T10:15:00.000Z"),
        ("2026-11-28 10:15", "2026-11-28T10:15:00.000Z"),
        ("20261128T101500+0100", "2026-11-28T09:15:00.000Z"),
        (" 2026-11-28T10:15:00.5-02:00 ", "2026-11-28T12:15:00.500Z"),
    ],
)
def test_a_start_time_in_iso_8601(invoke: Invoke, value: str, written: str) -> None:
    result = invoke(*RUNNING, "--dry-run", "--start-time", value)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["message"]["start-time"] == written


# Zones of whole minutes, up to a day either way: what ISO 8601 offsets can say.
ZONES = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(timezones=ZONES))
def test_any_timestamp_is_written_as_iso_8601_utc_or_refused(moment: datetime) -> None:
    result = run_cli(*RUNNING, "--dry-run", "--start-time", moment.isoformat())
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith("update-job: error: invalid start-time: out of range")
        return
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["message"]["start-time"]
    assert ISO_UTC_MS.fullmatch(written), written
    back = datetime.fromisoformat(written)
    assert back == utc.replace(microsecond=utc.microsecond // 1000 * 1000)


# --------------------------------------------------------------------- endpoints and topics

BAD_ENDPOINTS = [
    ("127.0.0.1:4566", "expected http://HOST[:PORT] or https://HOST[:PORT]"),
    ("localhost:4566", "expected http://HOST[:PORT] or https://HOST[:PORT]"),
    ("ftp://127.0.0.1", "expected http://HOST[:PORT] or https://HOST[:PORT]"),
    ("http://", "not a valid host name or address"),
    ("http://127.0.0.1:99999", "its port is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "its port is not a number from 1 to 65535"),
    ("http://127.0.0.1:-1", "its port is not a number from 1 to 65535"),
    ("http://127.0.0.1:port", "its port is not a number from 1 to 65535"),
    ("http://[::1", "not a URL (an IPv6 address goes in brackets)"),
    ("http://::1]:80", "not a URL (an IPv6 address goes in brackets)"),
]


@pytest.mark.parametrize(("url", "problem"), BAD_ENDPOINTS)
def test_a_malformed_endpoint_url(
    testbed: LocalTopics, invoke: Invoke, url: str, problem: str
) -> None:
    for args in (
        (*RUNNING, *topic_args(testbed.standard, url)),
        ("replay", "--endpoint-url", url, "/nonexistent"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        [line] = result.stderr.splitlines()
        assert line.startswith(
            f"update-job: error: Invalid value for '--endpoint-url': invalid endpoint URL {url!r}: "
            f"{problem}"
        ), line
    assert testbed.standard.receive() == []


# What botocore would take SNS's endpoint from, malformed: refused like --endpoint-url.
BAD_ENDPOINT_VARIABLES = [
    ("not-a-url", "expected http://HOST[:PORT] or https://HOST[:PORT]"),
    ("htp://127.0.0.1:9", "expected http://HOST[:PORT] or https://HOST[:PORT]"),
    ("http://127.0.0.1:99999", "its port is not a number from 1 to 65535"),
    ("http://bad_host:80", "not a valid host name or address"),
    ("http://[::1", "not a URL (an IPv6 address goes in brackets)"),
]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL"])
@pytest.mark.parametrize(("url", "problem"), BAD_ENDPOINT_VARIABLES)
def test_a_malformed_endpoint_variable_is_bad_input_before_anything_is_spooled(
    update_job: RunCommand, tmp_path: Path, variable: str, url: str, problem: str
) -> None:
    env = {**os.environ, variable: url}
    spool = tmp_path / "spool"
    marker = tmp_path / "ran"
    for command in (
        (*RUNNING, "--topic-arn", UNREACHABLE_TOPIC, "--spool", str(spool)),
        ("run", "--job-id", "job-1", "--topic-arn", UNREACHABLE_TOPIC, "--spool", str(spool),
         "--", "touch", str(marker)),
    ):  # fmt: skip
        result = run_update_job(*command, env=env, timeout=30)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"update-job: error: {variable}: invalid endpoint URL {url!r}: {problem}"
        ]
    assert not marker.exists()  # `run` did not run the command
    assert not spool.exists() or list(spool.rglob("*.json")) == []


def test_replay_refuses_a_malformed_endpoint_variable_and_keeps_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    kept = run_update_job(
        *RUNNING, "--topic-arn", UNREACHABLE_TOPIC, "--spool", str(spool), "--timeout", "2"
    )
    assert kept.returncode == 1, kept.stderr
    files = spooled_files(spool)
    assert len(files) == 1
    kept_bytes = files[0].read_bytes()
    env = {**os.environ, "AWS_ENDPOINT_URL_SNS": "htp://127.0.0.1:9"}
    result = run_update_job("replay", str(spool), env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "update-job: error: AWS_ENDPOINT_URL_SNS: invalid endpoint URL 'htp://127.0.0.1:9': "
        "expected http://HOST[:PORT] or https://HOST[:PORT]"
    ]
    assert spooled_files(spool) == files
    assert files[0].read_bytes() == kept_bytes


def test_the_sns_endpoint_variable_comes_before_the_general_one(
    update_job: RunCommand, strict_fifo: Subscription
) -> None:
    """botocore's order: AWS_ENDPOINT_URL_SNS wins, so a malformed AWS_ENDPOINT_URL does not
    matter then; an empty variable is skipped."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_SNS": strict_fifo.endpoint_url,
        "AWS_ENDPOINT_URL": "not-a-url",
    }
    args = (*RUNNING, "--topic-arn", strict_fifo.topic_arn)
    assert run_update_job(*args, env=env).returncode == 0
    env = {**env, "AWS_ENDPOINT_URL_SNS": ""}
    result = run_update_job(*args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("update-job: error: AWS_ENDPOINT_URL: invalid endpoint URL")
    assert [d.message["status"] for d in strict_fifo.receive()] == ["running"]


def test_an_endpoint_host_botocore_refuses_is_bad_input(
    testbed: LocalTopics, invoke: Invoke
) -> None:
    # Checked with botocore's rule, so only when sending: a dry run does not import botocore.
    url = "http://bad_host:80"
    result = invoke(*RUNNING, *topic_args(testbed.standard, url))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"update-job: error: invalid endpoint URL {url!r}: not a valid host name or address"
    ]
    assert testbed.standard.receive() == []


@pytest.mark.parametrize(
    ("partition", "region", "problem"),
    [
        ("aws", "cn-north-1", "region cn-north-1 is in partition aws-cn, not aws"),
        ("aws-cn", "us-east-1", "region us-east-1 is in partition aws, not aws-cn"),
        ("aws", "us-gov-west-1", "region us-gov-west-1 is in partition aws-us-gov, not aws"),
        ("aws-us-gov", "eu-west-1", "region eu-west-1 is in partition aws, not aws-us-gov"),
        ("aws-iso", "us-isob-east-1", "region us-isob-east-1 is in partition aws-iso-b, not aws-iso"),  # noqa: E501
        ("aws-foo", "us-east-1", "region us-east-1 is in partition aws, not aws-foo"),
        ("awsx", "us-east-1", "region us-east-1 is in partition aws, not awsx"),
        ("aws", "xx-east-1", "xx-east-1 is in no AWS partition"),
        ("aws", "us-east-x-1", "us-east-x-1 is in no AWS partition"),
    ],
)  # fmt: skip
def test_a_topic_arn_whose_partition_does_not_fit_its_region(
    invoke: Invoke, partition: str, region: str, problem: str
) -> None:
    arn = f"arn:{partition}:sns:{region}:123456789012:jobs"
    result = invoke(*RUNNING, "--dry-run", "--topic-arn", arn)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"update-job: error: invalid topic ARN {arn!r}: {problem}"
    ]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sns:us-east-1:123456789012:jobs.fifo",
        "arn:aws:sns:eu-west-3:123456789012:jobs",
        "arn:aws:sns:ap-southeast-7:123456789012:jobs",  # a region botocore's pattern covers
        "arn:aws-cn:sns:cn-northwest-1:123456789012:jobs",
        "arn:aws-us-gov:sns:us-gov-east-1:123456789012:jobs",
        "arn:aws-iso:sns:us-iso-east-1:123456789012:jobs",
        "arn:aws-iso-b:sns:us-isob-east-1:123456789012:jobs",
        "arn:aws-iso-e:sns:eu-isoe-west-1:123456789012:jobs",
        "arn:aws-iso-f:sns:us-isof-south-1:123456789012:jobs",
        "arn:aws-eusc:sns:eusc-de-east-1:123456789012:jobs",
    ],
)
def test_topic_arns_of_every_partition(invoke: Invoke, arn: str) -> None:
    result = invoke(*RUNNING, "--dry-run", "--topic-arn", arn)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["publish"]["TopicArn"] == arn


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_from_anywhere_is_refused_not_sent_as_null(number: float) -> None:
    # Values that do not come through an option's JSON parser (a run's stdout, say) meet
    # the same rule in the message itself.
    with pytest.raises(InvalidUpdate, match=r"invalid outputs: the number .* is not finite"):
        make_update("job-1", "succeeded", outputs={"granules": [{"size": number}]})


@pytest.mark.parametrize("code", ["2147483648", "-2147483649", "99999999999999999999999"])
def test_an_exit_code_the_index_cannot_store_is_refused(
    update_job: RunCommand, testbed: LocalTopics, code: str
) -> None:
    result = update_job("--job-id", "x", "--exit-code", code, *topic_args(testbed.standard))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--exit-code" in line and code in line
    assert testbed.standard.receive() == []


# ------------------------------------------------------------------------------------ help


def test_help_is_a_command_not_a_job() -> None:
    """`update-job help` is the help (not `publish` missing its --job-id), and `update-job
    help COMMAND` is COMMAND's --help."""
    group = run_update_job("help")
    assert group.returncode == 0, group.stderr
    assert group.stdout == run_update_job("--help").stdout
    assert "Commands:" in group.stdout and "publish" in group.stdout
    for command in ("publish", "run", "replay", "help"):
        result = run_update_job("help", command)
        assert result.returncode == 0, result.stderr
        assert result.stdout == run_update_job(command, "--help").stdout
        assert result.stdout.startswith(f"Usage: update-job {command} ")


def test_help_for_a_command_that_does_not_exist_names_those_that_do() -> None:
    result = run_update_job("help", "pubish")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "update-job: error: no command 'pubish': the commands are help, publish, replay, run, "
        "schema, wrap (see 'update-job help --help')"
    ]
