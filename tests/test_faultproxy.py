"""FaultProxy in front of a real moto_server: every fault mode, seen through boto3.

botocore note: in ``Config(retries=...)``, ``max_attempts`` counts *retries* (total
requests = max_attempts + 1) while ``total_max_attempts`` counts all requests; the
helper below uses ``total_max_attempts`` so the arithmetic in the asserts is direct.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.parsers import ResponseParserError

from tests.faultproxy import FaultMode, FaultProxy

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
# moto routes a request by the service in the SigV4 credential scope (it does not check the
# signature); without one, a bare POST / is taken for S3.
SNS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sns/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
NS = "{http://sns.amazonaws.com/doc/2010-03-31/}"


# --------------------------------------------------------------------- fixtures


@pytest.fixture
def moto_url(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    fp = FaultProxy(moto_url)
    with fp:
        yield fp
    assert fp.threads == []
    assert not [t for t in threading.enumerate() if t.name.startswith(f"{fp.name}-")]


@pytest.fixture
def direct_sns(moto_url: str) -> SNSClient:
    """A client that talks to moto directly (setup/verification, not counted by the proxy)."""
    return boto3.client("sns", region_name=REGION, endpoint_url=moto_url)


@pytest.fixture
def topic_arn(direct_sns: SNSClient) -> str:
    return direct_sns.create_topic(Name=f"t-{uuid.uuid4().hex[:12]}")["TopicArn"]


def sns_via(
    proxy: FaultProxy,
    *,
    attempts: int,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> SNSClient:
    """An SNS client through the proxy. The timeouts are generous by default so that a slow
    (loaded) machine does not add retries; the timeout tests pass short ones."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return boto3.client("sns", region_name=REGION, endpoint_url=proxy.url, config=config)


def raw_request(
    proxy: FaultProxy,
    method: str = "POST",
    path: str = "/",
    body: bytes = b"Action=ListTopics&Version=2010-03-31",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        hdrs = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": SNS_AUTH,
        } | (headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_for(predicate: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


# ---------------------------------------------------------------- pass-through


def test_pass_through_create_topic_and_publish(
    proxy: FaultProxy, moto_url: str, direct_sns: SNSClient
) -> None:
    sns = sns_via(proxy, attempts=1)
    arn = sns.create_topic(Name="pass-through")["TopicArn"]
    assert arn.endswith(":pass-through")

    # Deliver to a queue read directly from moto: the body went through unchanged.
    sqs: SQSClient = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    queue_url = sqs.create_queue(QueueName="pass-through-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    direct_sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    message = '{"job_id": "j-1", "status": "succeeded", "note": "üñí & <xml>"}'
    response = sns.publish(TopicArn=arn, Message=message)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["RetryAttempts"] == 0

    received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in received] == [message]
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (2, 2, 0)


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, list[tuple[str, str]], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.command, self.path, list(self.headers.items()), body))
        out = b"echo:" + body
        self.send_response(201, "Made")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_forwards_request_and_response_unchanged() -> None:
    """Method, path+query, Host, Authorization and body reach upstream as sent."""
    _EchoHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with FaultProxy(f"http://127.0.0.1:{server.server_address[1]}") as fp:
            auth = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sns/aws4_request"
            status, headers, body = raw_request(
                fp,
                path="/some/path?x=1&y=%2F",
                body=b"\x00binary\xffbody",
                headers={"Authorization": auth, "X-Amz-Date": "20240101T000000Z"},
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
    assert (status, headers["x-upstream"], body) == (201, "yes", b"echo:\x00binary\xffbody")
    [(method, path, fwd_headers, fwd_body)] = _EchoHandler.seen
    got = {k.lower(): v for k, v in fwd_headers}
    assert (method, path, fwd_body) == ("POST", "/some/path?x=1&y=%2F", b"\x00binary\xffbody")
    assert got["host"] == f"127.0.0.1:{fp.port}"  # the Host the client signed for
    assert got["authorization"] == auth
    assert got["x-amz-date"] == "20240101T000000Z"


def test_keep_alive_connection_serves_several_requests(proxy: FaultProxy) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
    try:
        for _ in range(3):
            conn.request(
                "POST",
                "/",
                body=b"Action=ListTopics&Version=2010-03-31",
                headers={"Authorization": SNS_AUTH},
            )
            resp = conn.getresponse()
            assert resp.status == 200
            assert b"ListTopicsResponse" in resp.read()
    finally:
        conn.close()
    assert (proxy.requests_seen, proxy.forwarded) == (3, 3)


# ------------------------------------------------------------------ HTTP errors


def test_two_503_then_success(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.fail_next(2, "http_503")
    response = sns_via(proxy, attempts=3).publish(TopicArn=topic_arn, Message="m")
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (3, 1, 2)


def test_500_forever_exhausts_retries(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.set_fault(FaultMode.HTTP_500, count=None)
    with pytest.raises(ClientError) as excinfo:
        sns_via(proxy, attempts=3).publish(TopicArn=topic_arn, Message="m")
    err = excinfo.value.response
    assert err["Error"]["Code"] == "InternalFailure"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert err["ResponseMetadata"]["RetryAttempts"] == 2
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (3, 0, 3)


def test_botocore_max_attempts_counts_retries(proxy: FaultProxy, topic_arn: str) -> None:
    """Config(retries={"max_attempts": K}) makes K + 1 requests in total."""
    proxy.set_fault("http_503")
    config = Config(retries={"mode": "standard", "max_attempts": 2})
    sns = boto3.client("sns", region_name=REGION, endpoint_url=proxy.url, config=config)
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        sns.publish(TopicArn=topic_arn, Message="m")
    assert proxy.requests_seen == 3


def test_throttle_is_retried(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.fail_next(1, "throttle")
    start = time.monotonic()
    response = sns_via(proxy, attempts=2).publish(TopicArn=topic_arn, Message="m")
    assert time.monotonic() - start < 1.0 + 1.0  # throttling backoff: rand(0, 1) s
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (2, 1, 1)


@pytest.mark.parametrize(
    ("mode", "status", "error_type", "code", "message"),
    [
        ("http_500", 500, "Receiver", "InternalFailure", None),
        ("http_503", 503, "Receiver", "ServiceUnavailable", None),
        ("throttle", 400, "Sender", "Throttling", "Rate exceeded"),
    ],
)
def test_error_bodies_are_aws_xml(
    proxy: FaultProxy, mode: str, status: int, error_type: str, code: str, message: str | None
) -> None:
    proxy.fail_next(1, mode)
    got_status, headers, body = raw_request(proxy)
    assert got_status == status
    assert headers["content-type"] == "text/xml"
    assert int(headers["content-length"]) == len(body)
    root = ET.fromstring(body)  # noqa: S314 - our own XML, from loopback
    assert root.tag == f"{NS}ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Type") == error_type
    assert root.findtext(f"{NS}Error/{NS}Code") == code
    assert root.findtext(f"{NS}Error/{NS}Message")
    if message is not None:
        assert root.findtext(f"{NS}Error/{NS}Message") == message
    assert root.findtext(f"{NS}RequestId")
    assert (proxy.requests_seen, proxy.forwarded) == (1, 0)
    # The fault was for one request only: the next one passes through.
    assert raw_request(proxy)[0] == 200
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (2, 1, 1)


# ------------------------------------------------------------- connection faults


def test_refuse_gives_connection_error_after_retries(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.set_fault("refuse")
    with pytest.raises(ConnectionClosedError):
        sns_via(proxy, attempts=3).publish(TopicArn=topic_arn, Message="m")
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (3, 0, 3)


def test_refuse_once_then_success(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.fail_next(1, "refuse")
    response = sns_via(proxy, attempts=2).publish(TopicArn=topic_arn, Message="m")
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert (proxy.requests_seen, proxy.forwarded) == (2, 1)


def test_hang_is_bounded_by_read_timeout(proxy: FaultProxy, topic_arn: str) -> None:
    read_timeout, attempts = 0.4, 2
    proxy.set_fault("hang")
    start = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        sns_via(proxy, attempts=attempts, read_timeout=read_timeout).publish(
            TopicArn=topic_arn, Message="m"
        )
    elapsed = time.monotonic() - start
    assert read_timeout * attempts * 0.9 <= elapsed < read_timeout * attempts + 2
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (2, 0, 2)


def test_drop_mid_response_raw(proxy: FaultProxy) -> None:
    proxy.fail_next(1, "drop_mid_response")
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
    try:
        conn.request(
            "POST",
            "/",
            body=b"Action=ListTopics&Version=2010-03-31",
            headers={"Authorization": SNS_AUTH},
        )
        resp = conn.getresponse()
        assert resp.status == 200  # upstream's status line arrives...
        claimed = int(resp.getheader("Content-Length") or "0")
        with pytest.raises(http.client.IncompleteRead) as excinfo:
            resp.read()  # ...but the body is cut short and the connection closed
    finally:
        conn.close()
    partial = excinfo.value.partial
    assert 0 < len(partial) < claimed
    assert partial.startswith(b"<ListTopicsResponse")
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (1, 1, 1)


def test_drop_mid_response_boto3(proxy: FaultProxy, topic_arn: str) -> None:
    """botocore does not enforce Content-Length: it parses the truncated XML and fails
    (ResponseParserError, not retried), although the publish did reach SNS."""
    proxy.fail_next(1, "drop_mid_response")
    with pytest.raises(
        (ResponseParserError, ResponseStreamingError, IncompleteReadError, ConnectionClosedError)
    ):
        sns_via(proxy, attempts=3).publish(TopicArn=topic_arn, Message="m")
    assert proxy.forwarded >= 1  # the message was published upstream regardless
    assert proxy.faults_injected == 1


def test_delay_then_forward(proxy: FaultProxy, topic_arn: str) -> None:
    proxy.set_fault("delay", count=1, delay=0.3)
    start = time.monotonic()
    sns_via(proxy, attempts=1).publish(TopicArn=topic_arn, Message="m")
    assert 0.3 <= time.monotonic() - start < 0.3 + 1.5
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (1, 1, 1)


def test_delay_longer_than_read_timeout_duplicates(proxy: FaultProxy, topic_arn: str) -> None:
    """The client times out and retries; the delayed request still reaches upstream."""
    proxy.fail_next(1, "delay", delay=0.6)
    response = sns_via(proxy, attempts=2, read_timeout=0.3).publish(TopicArn=topic_arn, Message="m")
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.requests_seen == 2
    assert wait_for(lambda: proxy.forwarded == 2)


def test_pause_and_resume_listening(proxy: FaultProxy, topic_arn: str) -> None:
    sns = sns_via(proxy, attempts=2)
    sns.publish(TopicArn=topic_arn, Message="warm the connection pool")
    port = proxy.port

    proxy.pause_listening()
    assert not proxy.listening
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    start = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        sns.publish(TopicArn=topic_arn, Message="m")
    assert time.monotonic() - start < 2.0
    assert proxy.requests_seen == 1  # the refused attempts never became requests

    proxy.resume_listening()
    assert proxy.listening
    assert proxy.port == port
    sns.publish(TopicArn=topic_arn, Message="m")
    assert (proxy.requests_seen, proxy.forwarded) == (2, 2)


# ---------------------------------------------------------- control & lifecycle


def test_fault_queue_and_counts(proxy: FaultProxy) -> None:
    proxy.fail_next(1, "http_503")
    proxy.fail_next(2, "throttle")
    assert proxy.pending_faults == 3
    assert [raw_request(proxy)[0] for _ in range(4)] == [503, 400, 400, 200]
    assert proxy.pending_faults == 0

    proxy.set_fault("http_500", count=None)
    assert proxy.pending_faults is None
    assert [raw_request(proxy)[0] for _ in range(3)] == [500, 500, 500]
    proxy.set_fault("http_503", count=1)  # replaces the unbounded fault
    assert [raw_request(proxy)[0] for _ in range(2)] == [503, 200]
    proxy.set_fault("http_500")
    proxy.clear_faults()
    assert raw_request(proxy)[0] == 200
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (10, 3, 7)

    proxy.reset_counters()
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (0, 0, 0)


def test_counters_are_thread_safe(proxy: FaultProxy) -> None:
    proxy.fail_next(5, "http_503")
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            status = raw_request(proxy)[0]
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(statuses) == [200] * 15 + [503] * 5
    assert (proxy.requests_seen, proxy.forwarded, proxy.faults_injected) == (20, 15, 5)


def test_stop_releases_hung_connection_promptly(moto_url: str) -> None:
    fp = FaultProxy(moto_url).start()
    fp.set_fault("hang")
    client = socket.create_connection(("127.0.0.1", fp.port), timeout=2)
    try:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert wait_for(lambda: fp.requests_seen == 1)
        assert len(fp.threads) == 2  # accept thread + the held connection
        start = time.monotonic()
        fp.stop()
        assert time.monotonic() - start < 1.0
        try:
            data = client.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b""  # closed by the proxy without a response
    finally:
        client.close()
    assert fp.threads == []
    assert not [t for t in threading.enumerate() if t.name.startswith(f"{fp.name}-")]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", fp.port), 1):
        pass


def test_stop_during_delay_is_prompt(moto_url: str) -> None:
    with FaultProxy(moto_url) as fp:
        fp.set_fault("delay", delay=30)
        client = socket.create_connection(("127.0.0.1", fp.port), timeout=2)
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert wait_for(lambda: fp.requests_seen == 1)
        start = time.monotonic()
    assert time.monotonic() - start < 1.0
    assert fp.forwarded == 0
    assert fp.threads == []
    client.close()


def test_rejects_bad_arguments(moto_url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://192.0.2.1:5000")
    with pytest.raises(ValueError, match="http://"):
        FaultProxy("https://127.0.0.1:5000")
    fp = FaultProxy(moto_url)
    with pytest.raises(RuntimeError):
        _ = fp.url  # not started
    with pytest.raises(ValueError):
        fp.set_fault("explode")
    with pytest.raises(ValueError):
        fp.fail_next(-1, "refuse")
